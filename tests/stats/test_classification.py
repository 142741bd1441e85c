"""classifier_agreement against scikit-learn's figures on the same labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score, precision_score, recall_score

from safetylens.errors import DataError
from safetylens.stats.classification import classifier_agreement

LABELS = ("a", "b", "c")


def _data(seed: int, n: int = 300) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    human = rng.choice(LABELS, size=n, p=[0.6, 0.3, 0.1])
    noisy = rng.random(n) < 0.25
    pred = np.where(noisy, rng.choice(LABELS, size=n), human)
    return human.tolist(), pred.tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_point_figures_equal_sklearn(seed: int) -> None:
    human, pred = _data(seed)
    a = classifier_agreement(human, pred, LABELS, n_resamples=200)
    assert a.n == 300
    assert a.accuracy.value == pytest.approx(accuracy_score(human, pred), abs=1e-12)
    assert a.cohen_kappa.value == pytest.approx(cohen_kappa_score(human, pred), abs=1e-12)
    f1 = f1_score(human, pred, labels=list(LABELS), average=None)
    prec = precision_score(human, pred, labels=list(LABELS), average=None, zero_division=0)
    rec = recall_score(human, pred, labels=list(LABELS), average=None, zero_division=0)
    for k, c in enumerate(a.per_class):
        assert c.f1.value == pytest.approx(f1[k], abs=1e-12)
        assert c.precision.value == pytest.approx(prec[k], abs=1e-12)
        assert c.recall.value == pytest.approx(rec[k], abs=1e-12)
        assert c.f1.ci_low <= c.f1.value <= c.f1.ci_high
    assert a.macro_f1.value == pytest.approx(f1_score(human, pred, average="macro"), abs=1e-12)
    assert sum(map(sum, a.confusion)) == 300
    assert a.accuracy.ci_low < a.accuracy.value < a.accuracy.ci_high


def test_gwet_ac1_of_two_raters_matches_the_textbook_formula() -> None:
    human, pred = _data(5)
    a = classifier_agreement(human, pred, LABELS, n_resamples=100)
    n, q = len(human), len(LABELS)
    pa = sum(h == p for h, p in zip(human, pred, strict=True)) / n
    pi = [(human.count(k) + pred.count(k)) / (2 * n) for k in LABELS]
    pe = sum(x * (1 - x) for x in pi) / (q - 1)
    assert a.gwet_ac1.value == pytest.approx((pa - pe) / (1 - pe), abs=1e-12)
    assert a.gwet_ac1.ci_low < a.gwet_ac1.value < a.gwet_ac1.ci_high


def test_bad_input() -> None:
    with pytest.raises(DataError, match="2 human labels but 1 predictions"):
        classifier_agreement(["a", "b"], ["a"], LABELS)
    with pytest.raises(DataError, match="no items"):
        classifier_agreement([], [], LABELS)
    with pytest.raises(DataError, match="outside the classes"):
        classifier_agreement(["a", "z"], ["a", "a"], LABELS)
