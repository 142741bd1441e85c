"""Property tests: invariances of the agreement coefficients, and agreement with the krippendorff package."""

from __future__ import annotations

import math

import krippendorff
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from safetylens.stats.irr import (
    AgreementResult,
    all_coefficients,
    gwet_ac,
    krippendorff_alpha,
    krippendorff_alpha_level,
)
from safetylens.stats.irr_data import Ratings

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def rating_tables(draw: st.DrawFn, *, perfect: bool = False) -> tuple[list[list[float]], int]:
    """Subjects x raters tables on the scale 1..q with missing ratings (NaN)."""
    q = draw(st.integers(2, 5))
    n = draw(st.integers(2, 14))
    r = draw(st.integers(2, 5))
    rows: list[list[float]] = []
    for _ in range(n):
        if perfect:
            value = float(draw(st.integers(1, q)))
            row = [value if draw(st.booleans()) or j < 2 else math.nan for j in range(r)]
            draw(st.randoms()).shuffle(row)
        else:
            row = [
                draw(st.one_of(st.integers(1, q).map(float), st.just(math.nan)))
                if draw(st.integers(0, 4))
                else math.nan
                for _ in range(r)
            ]
        rows.append(row)
    arr = np.array(rows)
    counts = (~np.isnan(arr)).sum(axis=1)
    assume((counts >= 2).any())
    assume(((~np.isnan(arr)).any(axis=0)).sum() >= 2)
    paired_values = set(arr[counts >= 2][~np.isnan(arr[counts >= 2])].tolist())
    assume(len(paired_values) >= 2)  # otherwise chance agreement can be 1 and kappa undefined
    return rows, q


def _same(a: list[AgreementResult], b: list[AgreementResult]) -> None:
    assert [x.method for x in a] == [y.method for y in b]
    for x, y in zip(a, b, strict=True):
        for field in ("coefficient", "pa", "pe", "se", "ci_low", "ci_high", "p_value"):
            u, v = getattr(x, field), getattr(y, field)
            assert (math.isnan(u) and math.isnan(v)) or u == pytest.approx(v, abs=1e-9), (x.method, field)


@SETTINGS
@given(rating_tables(), st.integers(0, 2**32 - 1))
def test_permuting_raters_and_subjects_changes_nothing(table: tuple[list[list[float]], int], seed: int) -> None:
    rows, q = table
    scale = list(range(1, q + 1))
    arr = np.array(rows)
    rng = np.random.default_rng(seed)
    base = all_coefficients(Ratings.from_raw(arr, scale), "quadratic")
    shuffled = arr[rng.permutation(arr.shape[0])][:, rng.permutation(arr.shape[1])]
    _same(base, all_coefficients(Ratings.from_raw(shuffled, scale), "quadratic"))
    _same(all_coefficients(arr, categories=scale), all_coefficients(shuffled, categories=scale))


@SETTINGS
@given(rating_tables(perfect=True), st.sampled_from(["identity", "quadratic", "ordinal", "circular"]))
def test_perfect_agreement_gives_one(table: tuple[list[list[float]], int], weights: str) -> None:
    rows, q = table
    for res in all_coefficients(rows, weights, categories=list(range(1, q + 1))):
        assert res.coefficient == pytest.approx(1.0, abs=1e-12), res.method
        assert res.pa == pytest.approx(1.0, abs=1e-12)


@SETTINGS
@given(rating_tables(), st.permutations(["lo", "mid", "hi", "top", "max"]))
def test_relabelling_categories_with_identity_weights_changes_nothing(
    table: tuple[list[list[float]], int], names: list[str]
) -> None:
    rows, q = table
    labels = names[:q]
    relabelled = [[None if math.isnan(v) else labels[int(v) - 1] for v in row] for row in rows]
    # A different declared order of the labels must not matter either with identity weights.
    order = sorted(labels)
    a = all_coefficients(rows, categories=list(range(1, q + 1)), krippendorff_level="nominal")
    b = all_coefficients(relabelled, categories=order, krippendorff_level="nominal")
    _same(a, b)


@SETTINGS
@given(rating_tables(), st.sampled_from(["nominal", "ordinal", "interval", "ratio"]))
def test_matches_krippendorff_package(table: tuple[list[list[float]], int], level: str) -> None:
    rows, q = table
    arr = np.array(rows)
    theirs = krippendorff.alpha(reliability_data=arr.T, level_of_measurement=level, value_domain=list(range(1, q + 1)))
    ours = krippendorff_alpha_level(arr, level, categories=list(range(1, q + 1)))  # type: ignore[arg-type]
    assert ours.coefficient == pytest.approx(theirs, abs=1e-10)


@SETTINGS
@given(rating_tables())
def test_gwet_formulation_equals_coincidence_formulation(table: tuple[list[list[float]], int]) -> None:
    rows, q = table
    scale = list(range(1, q + 1))
    for level, weights in (("nominal", "identity"), ("interval", "quadratic"), ("ratio", "ratio")):
        own = krippendorff_alpha_level(rows, level, categories=scale)  # type: ignore[arg-type]
        gwet_form = krippendorff_alpha(rows, weights, categories=scale)
        assert own.coefficient == pytest.approx(gwet_form.coefficient, abs=1e-10)


def test_unused_category_counts_in_q() -> None:
    rows = [[1, 1, 2], [2, 2, 2], [3, 3, 1], [1, 2, 1]]
    declared = gwet_ac(rows, categories=[1, 2, 3, 4, 5])
    observed = gwet_ac(rows)
    assert declared.categories == (1, 2, 3, 4, 5)
    assert observed.categories == (1, 2, 3)
    # AC1's chance agreement has 1/(q-1): q = 5 vs q = 3 changes it.
    assert declared.pe == pytest.approx(observed.pe * 2 / 4)
    assert declared.pa == observed.pa
