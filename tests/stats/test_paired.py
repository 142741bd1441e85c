"""Paired tests against scipy and statsmodels on fixed data.

statsmodels is not a dependency of safetylens, so its answers on the fixed inputs below were computed
once with statsmodels 0.15.0 (``mcnemar(table, exact=True).pvalue``, ``multipletests(p, method="holm")``)
and are written here; scipy (a dependency) is called live.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as st

from safetylens.stats.paired import holm, mcnemar_exact, mcnemar_midp, paired_bootstrap, paired_difference

# Fixed paired binary outcomes: 40 items, A toxic on 12, B toxic on 5; discordant b=9 (A only), c=2 (B only).
A_BIN = [1] * 9 + [0] * 2 + [1] * 3 + [0] * 26
B_BIN = [0] * 9 + [1] * 2 + [1] * 3 + [0] * 26


# statsmodels 0.15.0: mcnemar([[50, b], [c, 40]], exact=True).pvalue
STATSMODELS_MCNEMAR_EXACT = {
    (9, 2): 0.0654296875,
    (0, 0): 1.0,
    (5, 5): 1.0,
    (0, 7): 0.015625,
    (30, 12): 0.007915897334896727,
    (1, 0): 1.0,
}


@pytest.mark.parametrize(("b", "c"), list(STATSMODELS_MCNEMAR_EXACT))
def test_mcnemar_exact_matches_statsmodels_and_scipy(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(STATSMODELS_MCNEMAR_EXACT[(b, c)], rel=1e-12)
    if b + c:
        assert mcnemar_exact(b, c) == pytest.approx(st.binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(9, 2), (5, 5), (0, 7), (30, 12)])
def test_mcnemar_midp_matches_the_binomial_definition(b: int, c: int) -> None:
    # Fagerland et al. (2013): mid-p = exact p - P(X = min(b, c)), X ~ Bin(b + c, 1/2).
    n, k = b + c, min(b, c)
    exact = st.binomtest(k, n, 0.5).pvalue
    expected = exact - st.binom.pmf(k, n, 0.5) if b != c else 1.0  # b == c: the table is the most likely one
    assert mcnemar_midp(b, c) == pytest.approx(expected, rel=1e-12)
    assert mcnemar_midp(b, c) < mcnemar_exact(b, c) or b == c


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="discordant"):
        mcnemar_exact(-1, 3)


def test_holm_matches_statsmodels() -> None:
    p = [0.01, 0.04, 0.03, 0.005, 0.2, 0.04]
    expected = [0.05, 0.12, 0.12, 0.03, 0.2, 0.12]  # statsmodels 0.15.0 multipletests(p, method="holm")[1]
    assert holm(p) == pytest.approx(expected, rel=1e-12)


def test_holm_leaves_nan_out_of_the_family() -> None:
    out = holm([0.01, float("nan"), 0.04])
    assert out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.04)  # statsmodels: [0.02, 0.04]
    assert math.isnan(out[1])


def test_paired_bootstrap_interval_agrees_with_scipy() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(0.3, 0.2, size=60)
    b = a + rng.normal(0.05, 0.1, size=60)
    diff, lo, hi, p = paired_bootstrap(a, b, n_resamples=20_000, seed=1)
    ref = st.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(y - x, axis=axis),
        paired=True,
        vectorized=True,
        n_resamples=20_000,
        method="percentile",
        rng=np.random.default_rng(2),
    )
    assert diff == pytest.approx(float(np.mean(b - a)), rel=1e-12)
    # Different random draws: the percentile bounds agree to Monte Carlo error.
    assert lo == pytest.approx(ref.confidence_interval.low, abs=0.004)
    assert hi == pytest.approx(ref.confidence_interval.high, abs=0.004)
    # With n = 60 the bootstrap p-value is close to the paired t-test's.
    t_p = st.ttest_rel(b, a).pvalue
    assert p == pytest.approx(t_p, abs=0.01)


def test_paired_bootstrap_p_value_under_no_difference_is_large() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=80)
    b = a + rng.normal(0, 0.5, size=80)
    b = b - (b - a).mean()  # exactly zero mean difference
    _, lo, hi, p = paired_bootstrap(a, b, n_resamples=5000)
    assert lo < 0 < hi and p > 0.9


def test_paired_bootstrap_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="equal length"):
        paired_bootstrap([1.0, 2.0], [1.0])


def test_paired_difference_binary_uses_mcnemar_in_percentage_points() -> None:
    res = paired_difference(A_BIN, B_BIN, n_resamples=4000)
    assert res.binary and res.test == "mcnemar-midp"
    assert res.discordant == (9, 2)
    assert res.mean_a == pytest.approx(30.0) and res.mean_b == pytest.approx(12.5)
    assert res.diff.value == pytest.approx(-17.5) and res.diff.unit == "pp"
    assert res.diff.ci_low < -17.5 < res.diff.ci_high < 0
    assert res.p_value == pytest.approx(mcnemar_midp(9, 2))
    exact = paired_difference(A_BIN, B_BIN, binary_test="mcnemar-exact", n_resamples=500)
    assert exact.p_value == pytest.approx(STATSMODELS_MCNEMAR_EXACT[(9, 2)])


def test_paired_difference_continuous_uses_bootstrap() -> None:
    res = paired_difference([0.1, 0.2, 0.5, 0.4], [0.3, 0.2, 0.6, 0.9], n_resamples=2000)
    assert not res.binary and res.test == "paired-bootstrap" and res.discordant is None
    assert res.diff.value == pytest.approx(0.2) and res.n == 4
