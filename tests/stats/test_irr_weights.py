"""Weight matrices (kgwet/irrCAC R/weights.gen.r) against published and transcribed values."""

from __future__ import annotations

import numpy as np
import pytest

from safetylens.errors import ConfigError
from safetylens.stats.irr_weights import WEIGHT_NAMES, check_custom_weights, weight_matrix

# afergadis/irrCAC test/unit/irrCAC/weights/test_weights.py: categories 1, 2, 3, rounded to 3 dp.
THREE = {
    "identity": np.eye(3),
    "linear": [[1, 0.5, 0], [0.5, 1, 0.5], [0, 0.5, 1]],
    "quadratic": [[1, 0.75, 0], [0.75, 1, 0.75], [0, 0.75, 1]],
    "ordinal": [[1, 0.667, 0], [0.667, 1, 0.667], [0, 0.667, 1]],
    "bipolar": [[1, 0.667, 0], [0.667, 1, 0.667], [0, 0.667, 1]],
    "radical": [[1, 0.293, 0], [0.293, 1, 0.293], [0, 0.293, 1]],
    "circular": np.eye(3),
    "ratio": [[1, 0.556, 0], [0.556, 1, 0.84], [0, 0.84, 1]],
}


@pytest.mark.parametrize("name", list(THREE))
def test_three_categories(name: str) -> None:
    assert np.round(weight_matrix(name, [1, 2, 3]), 3) == pytest.approx(np.array(THREE[name], dtype=float))


# human-eval.md §1.3, 5-point Likert (x = 1..5), first rows of the Toeplitz matrices.
FIVE_ROWS = {
    "linear": [1, 0.75, 0.5, 0.25, 0],
    "quadratic": [1, 0.9375, 0.75, 0.4375, 0],
    "ordinal": [1, 0.9, 0.7, 0.4, 0],
    "radical": [1, 0.5, 0.2929, 0.1340, 0],
    "circular": [1, 0.618, 0, 0, 0.618],
}


@pytest.mark.parametrize("name", list(FIVE_ROWS))
def test_five_point_toeplitz(name: str) -> None:
    w = weight_matrix(name, [1, 2, 3, 4, 5])
    assert w[0] == pytest.approx(FIVE_ROWS[name], abs=5e-4)
    for k in range(5):  # Toeplitz: depends on |k - l| only (circular: on the cyclic distance)
        assert w[k, k] == 1.0
    assert np.allclose(w, w.T)


def test_five_point_ratio_and_bipolar() -> None:
    ratio = [
        [1, 0.75, 0.4375, 0.19, 0],
        [0.75, 1, 0.91, 0.75, 0.5867],
        [0.4375, 0.91, 1, 0.9541, 0.8594],
        [0.19, 0.75, 0.9541, 1, 0.9722],
        [0, 0.5867, 0.8594, 0.9722, 1],
    ]
    bipolar = [
        [1, 0.8571, 0.6667, 0.4, 0],
        [0.8571, 1, 0.9333, 0.75, 0.4],
        [0.6667, 0.9333, 1, 0.9333, 0.6667],
        [0.4, 0.75, 0.9333, 1, 0.8571],
        [0, 0.4, 0.6667, 0.8571, 1],
    ]
    assert weight_matrix("ratio", [1, 2, 3, 4, 5]) == pytest.approx(np.array(ratio), abs=5e-5)
    assert weight_matrix("bipolar", [1, 2, 3, 4, 5]) == pytest.approx(np.array(bipolar), abs=5e-5)


def test_ratio_rejects_zero_category() -> None:
    # afergadis/irrCAC test_weights.py::test_ratio_exception
    with pytest.raises(ConfigError, match="positive"):
        weight_matrix("ratio", [0, 1, 2])


def test_value_based_weights_use_the_values() -> None:
    # Unequal spacing matters for linear weights but not for ordinal (ranks only).
    assert weight_matrix("linear", [1, 2, 4])[0, 1] == pytest.approx(2 / 3)
    assert weight_matrix("ordinal", [1, 2, 4]) == pytest.approx(weight_matrix("ordinal", [1, 2, 3]))


@pytest.mark.parametrize("name", WEIGHT_NAMES)
def test_all_weights_valid(name: str) -> None:
    w = weight_matrix(name, [1, 2, 3, 4, 5, 6, 7])
    assert np.all(np.diag(w) == 1) and np.all((w >= -1e-12) & (w <= 1 + 1e-12))
    check_custom_weights(w, 7)


def test_bad_inputs() -> None:
    with pytest.raises(ConfigError, match="unknown weights"):
        weight_matrix("cubic", [1, 2, 3])
    with pytest.raises(ConfigError, match="at least 2"):
        weight_matrix("linear", [1])
    with pytest.raises(ConfigError, match="increasing"):
        weight_matrix("linear", [1, 3, 2])
    with pytest.raises(ConfigError, match="3 x 3"):
        check_custom_weights(np.eye(2), 3)
    with pytest.raises(ConfigError, match="diagonal"):
        check_custom_weights(np.full((2, 2), 0.5), 2)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        check_custom_weights([[1, 2], [0, 1]], 2)
    with pytest.raises(ConfigError, match="NaN"):
        check_custom_weights([[1, float("nan")], [0, 1]], 2)
