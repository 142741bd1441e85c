"""Judge + human estimates of a violation rate: PPI, PPI++, active (Horvitz-Thompson) PPI.

The target throughout is the human violation rate over the N answers (the mean of Y over all N),
the quantity the estimators are unbiased for under their sampling designs. Small designs are
checked exactly by enumerating every possible sample; coverage by simulating whole studies.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest

from safetylens.errors import DataError
from safetylens.stats.ci import Estimate, proportion
from safetylens.stats.ppi import (
    active_ppi_rate,
    human_only_rate,
    inclusion_probabilities,
    poisson_sample,
    ppi_plusplus_rate,
    ppi_rate,
    uniform_sample,
)

Z95 = 1.959963984540054


def _raw(e: Estimate) -> float:
    """The uncut estimate as a fraction (the one that is unbiased)."""
    return e.extra["unclipped_value"] / 100


def _var(e: Estimate) -> float:
    return (e.extra["se"] / 100) ** 2


# ---------------------------------------------------------------------------------------------
# Exact small examples, computed by hand

# Ten answers; people labelled answers 0, 2, 3, 6 and 9.
JUDGE10 = [0.9, 0.8, 0.1, 0.2, 0.0, 0.1, 0.7, 0.3, 0.1, 0.8]  # mean 4.0 / 10 = 0.4
LABELLED10 = [0, 2, 3, 6, 9]
HUMAN10 = [1, 0, 1, 1, 1]


def test_ppi_by_hand() -> None:
    # Rectifier Y - f on the sample: 0.1, -0.1, 0.8, 0.3, 0.2; mean 1.3 / 5 = 0.26.
    # theta = 0.4 + 0.26 = 0.66.
    # Deviations -0.16, -0.36, 0.54, 0.04, -0.06; squares sum 0.452; s^2 = 0.452 / 4 = 0.113.
    # Var = (1 - 5/10) * 0.113 / 5 = 0.0113; se = 0.10630146; half-width = 1.959964 * se = 0.20834703.
    e = ppi_rate(JUDGE10, LABELLED10, HUMAN10)
    se = math.sqrt(0.0113)
    assert e.value == pytest.approx(66.0, abs=1e-12)
    assert e.ci_low == pytest.approx(100 * (0.66 - Z95 * se), abs=1e-9)
    assert e.ci_high == pytest.approx(100 * (0.66 + Z95 * se), abs=1e-9)
    assert e.ci_low == pytest.approx(45.165297, abs=1e-6)
    assert e.ci_high == pytest.approx(86.834703, abs=1e-6)
    assert e.n == 5
    assert e.unit == "%"
    assert e.method.startswith("ppi(lambda=1.000")
    assert e.extra["N"] == 10
    assert e.extra["judge_rate"] == pytest.approx(40.0)
    assert e.extra["lambda"] == 1.0
    assert e.extra["se"] == pytest.approx(100 * se)
    # Effective n: S^2 = s^2 of the labels = 0.2; m = 0.2 / (0.0113 + 0.2 / 10) = 6.3898.
    assert e.extra["effective_n"] == pytest.approx(0.2 / (0.0113 + 0.02))


def test_ppi_plusplus_by_hand() -> None:
    # Sample f: 0.9, 0.1, 0.2, 0.7, 0.8 (mean 0.54); Y mean 0.8.
    # Centred f: 0.36, -0.44, -0.34, 0.16, 0.26; centred Y: 0.2, -0.8, 0.2, 0.2, 0.2.
    # Sxy = 0.072 + 0.352 - 0.068 + 0.032 + 0.052 = 0.44; Sxx = 0.532; lambda = 0.44 / 0.532.
    lam = 0.44 / 0.532
    theta = 0.8 + lam * (0.4 - 0.54)
    resid = np.array(HUMAN10) - lam * np.array([0.9, 0.1, 0.2, 0.7, 0.8])
    var = 0.5 * resid.var(ddof=1) / 5
    e = ppi_plusplus_rate(JUDGE10, LABELLED10, HUMAN10)
    assert e.extra["lambda"] == pytest.approx(0.82706767, abs=1e-8)
    assert e.value == pytest.approx(100 * theta, abs=1e-10)
    assert e.value == pytest.approx(68.421053, abs=1e-6)
    assert e.ci_low == pytest.approx(100 * (theta - Z95 * math.sqrt(var)), abs=1e-9)
    assert e.ci_high == pytest.approx(100 * (theta + Z95 * math.sqrt(var)), abs=1e-9)
    assert e.method.startswith("ppi++(lambda=0.827")


def test_ppi_with_lambda_zero_is_the_sample_mean_with_a_finite_population_wald_interval() -> None:
    e = ppi_rate(JUDGE10, LABELLED10, HUMAN10, lam=0.0)
    # 4 of 5 labelled answers violate; s^2 = 0.2; Var = 0.5 * 0.2 / 5 = 0.02.
    assert e.value == pytest.approx(80.0)
    assert e.ci_low == pytest.approx(100 * (0.8 - Z95 * math.sqrt(0.02)))
    assert e.ci_high == 100.0  # 0.8 + 0.277 is cut at 100 %
    assert e.extra["effective_n"] == pytest.approx(5.0)  # no judge: worth exactly its labels


def test_ppi_is_the_difference_estimator() -> None:
    rng = np.random.default_rng(3)
    f = rng.random(50)
    idx = np.sort(rng.choice(50, 12, replace=False))
    y = (rng.random(12) < f[idx]).astype(int)
    e = ppi_rate(f, idx, y)
    # Difference estimator: (1/N) [sum_all f + sum_sample (N/n)(y - f)].
    diff = (f.sum() + (50 / 12) * (y - f[idx]).sum()) / 50
    assert _raw(e) == pytest.approx(diff, abs=1e-14)


def test_active_by_hand() -> None:
    # N = 4, f = 0.5, 0.1, 0.9, 0.2 (sum 1.7); pi = 0.5, 0.25, 0.5, 1; labelled 0 (Y=1) and 3 (Y=0).
    # theta = (1/4) [1.7 + (1 - 0.5)/0.5 + (0 - 0.2)/1] = 2.5 / 4 = 0.625.
    # Var = (1/16) [(1 - 0.5) * 0.5^2 / 0.5^2 + 0] = 0.03125.
    e = active_ppi_rate([0.5, 0.1, 0.9, 0.2], [0, 3], [1, 0], [0.5, 0.25, 0.5, 1.0])
    se = math.sqrt(0.03125)
    assert e.value == pytest.approx(62.5)
    assert e.ci_low == pytest.approx(100 * (0.625 - Z95 * se))
    assert e.ci_high == pytest.approx(100 * (0.625 + Z95 * se))
    assert e.n == 2
    assert e.extra["expected_n"] == pytest.approx(2.25)
    assert e.extra["judge_rate"] == pytest.approx(42.5)
    assert e.method.startswith("active-ppi(lambda=1.000")


def test_active_tuned_lambda_by_hand() -> None:
    # w = (1 - pi) / pi^2 on the sample: 0.6/0.16 = 3.75 (item 1), 0.5/0.25 = 2 (item 2).
    # lambda = sum w y f / sum w f^2 = (3.75*1*0.5 + 2*0*0.4) / (3.75*0.25 + 2*0.16) = 1.875 / 1.2575.
    # That is above 1, so it is cut to 1; labels 0 instead: 0 / 1.2575 = 0.
    judge, pi = [0.3, 0.5, 0.4, 0.6], [0.5, 0.4, 0.5, 0.8]
    assert active_ppi_rate(judge, [1, 2], [1, 0], pi, lam="tuned").extra["lambda"] == 1.0
    assert active_ppi_rate(judge, [1, 2], [0, 0], pi, lam="tuned").extra["lambda"] == 0.0
    # y = 1 on item 2 only: lambda = 2*0.4 / 1.2575 = 0.63618...
    e = active_ppi_rate(judge, [1, 2], [0, 1], pi, lam="tuned")
    lam = 0.8 / 1.2575
    assert e.extra["lambda"] == pytest.approx(lam)
    theta = (lam * 1.8 + (0 - lam * 0.5) / 0.4 + (1 - lam * 0.4) / 0.5) / 4
    assert _raw(e) == pytest.approx(theta)
    assert e.method.startswith("active-ppi++(lambda=0.636")


def test_human_only_by_hand() -> None:
    assert human_only_rate(HUMAN10) == proportion(4, 5)
    # Finite population: Wilson with n_eff = 5 * 9 / 5 = 9 (p = 0.8, z = 1.96).
    e = human_only_rate(HUMAN10, population_size=10)
    z, n_eff, p = Z95, 9.0, 0.8
    denom = 1 + z * z / n_eff
    centre = (p + z * z / (2 * n_eff)) / denom
    half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff**2)) / denom
    assert e.ci_low == pytest.approx(100 * (centre - half))
    assert e.ci_high == pytest.approx(100 * (centre + half))
    assert e.extra == {"N": 10.0, "effective_n": 5.0, "wilson_n": 9.0}
    everyone = human_only_rate([1, 0, 0, 1], population_size=4)
    assert (everyone.value, everyone.ci_low, everyone.ci_high) == (50.0, 50.0, 50.0)


def test_everyone_labelled_gives_the_exact_rate() -> None:
    f = [0.2, 0.9, 0.4, 0.1]
    y = [0, 1, 1, 0]
    for e in (ppi_rate(f, [0, 1, 2, 3], y), ppi_plusplus_rate(f, [0, 1, 2, 3], y)):
        assert [e.value, e.ci_low, e.ci_high] == pytest.approx([50.0, 50.0, 50.0])
        assert e.extra["effective_n"] == 4
    a = active_ppi_rate(f, [0, 1, 2, 3], y, [1.0] * 4, lam="tuned")
    assert [a.value, a.ci_low, a.ci_high] == pytest.approx([50.0, 50.0, 50.0])


def test_one_label_is_not_estimable() -> None:
    e = ppi_rate([0.1, 0.5, 0.9], [1], [1])
    assert e.value == pytest.approx(100 * (0.5 + 0.5))
    assert math.isnan(e.ci_low) and math.isnan(e.ci_high)
    assert e.fmt() == "100.00 [n/a: n < 2]"


def test_interval_is_cut_to_0_100_but_unclipped_value_is_kept() -> None:
    # The judge says 0.9 on the two labelled answers, people say no: 0.18 - 0.9 < 0.
    e = ppi_rate([0.9, 0.9] + [0.0] * 8, [0, 1], [0, 0])
    assert _raw(e) == pytest.approx(0.18 - 0.9)
    assert e.value == 0.0 and e.ci_low == 0.0
    e = ppi_rate([0.9] * 8 + [0.0, 0.0], [8, 9], [0, 1], lam=1.0)
    assert e.extra["unclipped_value"] == pytest.approx(100 * (0.72 + 0.5))
    assert e.value == 100.0 and e.ci_high == 100.0
    assert 0.0 <= e.ci_low <= 100.0


# ---------------------------------------------------------------------------------------------
# Exact unbiasedness and exact variance, by enumerating every sample of small designs


def _population(seed: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = rng.random(n_items)
    y = (rng.random(n_items) < 0.3 + 0.5 * f).astype(float)
    return f, y


@pytest.mark.parametrize("lam", [0.0, 0.35, 1.0])
def test_uniform_ppi_is_exactly_unbiased_and_its_variance_estimate_too(lam: float) -> None:
    n_items, n = 7, 3
    f, y = _population(11, n_items)
    est, var = [], []
    for s in itertools.combinations(range(n_items), n):
        e = ppi_rate(f, list(s), y[list(s)], lam=lam)
        est.append(_raw(e))
        var.append(_var(e))
    est_a = np.array(est)
    # Every subset of size n is equally likely, so plain averages are expectations over the design.
    assert est_a.mean() == pytest.approx(y.mean(), abs=1e-13)
    assert np.mean(var) == pytest.approx(est_a.var(), abs=1e-13)


@pytest.mark.parametrize("lam", [0.0, 0.6, 1.0])
def test_active_ppi_is_exactly_unbiased_and_its_variance_estimate_too(lam: float) -> None:
    n_items = 6
    f, y = _population(5, n_items)
    pi = np.array([0.9, 0.2, 0.5, 1.0, 0.35, 0.6])
    mean = second = var_mean = 0.0
    for mask in itertools.product([False, True], repeat=n_items):
        m = np.array(mask)
        prob = float(np.prod(np.where(m, pi, 1 - pi)))
        if prob == 0:
            continue  # item 3 has pi = 1: samples without it never occur
        if not m.any():
            theta, v = lam * f.mean(), 0.0  # the estimator's value on an empty sample
        else:
            idx = np.flatnonzero(m)
            e = active_ppi_rate(f, idx, y[idx], pi, lam=lam)
            theta, v = _raw(e), _var(e)
        mean += prob * theta
        second += prob * theta**2
        var_mean += prob * v
    assert mean == pytest.approx(y.mean(), abs=1e-13)
    assert var_mean == pytest.approx(second - mean**2, abs=1e-13)


# ---------------------------------------------------------------------------------------------
# Coverage by simulation

STUDIES, N_ITEMS, N_LABELS = 2000, 2000, 200


def _world(
    rng: np.random.Generator, studies: int, n_items: int, *, judge_shift: float, judge_noise: float
) -> tuple[np.ndarray, np.ndarray]:
    """Human labels and judge P(violation) for ``studies`` independent sets of answers.

    Each answer has a latent harmfulness z; people call it a violation with probability
    sigmoid(a + 1.5 z), with a per-study a putting the human rate near 10-20 %. The judge sees z
    through noise and with a shifted intercept, so it is correlated with people but biased.
    """
    z = rng.standard_normal((studies, n_items))
    a = rng.uniform(-2.8, -2.2, size=(studies, 1))
    y = (rng.random((studies, n_items)) < 1 / (1 + np.exp(-(a + 1.5 * z)))).astype(float)
    noise = judge_noise * rng.standard_normal((studies, n_items))
    p = 1 / (1 + np.exp(-(a + judge_shift + 1.2 * z + noise)))
    return y, p


@pytest.fixture(scope="module")
def simulated() -> dict[str, np.ndarray]:
    """Per estimator and study: error of the uncut estimate, interval bounds (fractions) and λ.

    The target is each study's human rate over its N answers. Samples are drawn vectorised here,
    as uniform_sample and poisson_sample draw them (those are tested on their own below).
    """
    rng = np.random.default_rng(20240601)
    y, p = _world(rng, STUDIES, N_ITEMS, judge_shift=0.7, judge_noise=0.8)
    truth = y.mean(axis=1)
    uniform = np.sort(np.argpartition(rng.random((STUDIES, N_ITEMS)), N_LABELS, axis=1)[:, :N_LABELS], axis=1)
    draws = rng.random((STUDIES, N_ITEMS))
    rows: dict[str, list[tuple[float, float, float, float]]] = {
        k: [] for k in ("ppi", "ppi++", "active", "active++", "human", "judge")
    }
    for s in range(STUDIES):
        ys, ps, idx = y[s], p[s], uniform[s]
        pi = inclusion_probabilities(ps, N_LABELS)
        act = np.flatnonzero(draws[s] < pi)  # Poisson sampling, as poisson_sample draws it
        results = {
            "ppi": ppi_rate(ps, idx, ys[idx]),
            "ppi++": ppi_plusplus_rate(ps, idx, ys[idx]),
            "active": active_ppi_rate(ps, act, ys[act], pi),
            "active++": active_ppi_rate(ps, act, ys[act], pi, lam="tuned"),
            "human": human_only_rate(ys[idx], population_size=N_ITEMS),
        }
        for k, e in results.items():
            raw = e.extra.get("unclipped_value", e.value) / 100
            rows[k].append((raw - truth[s], e.ci_low / 100, e.ci_high / 100, e.extra.get("lambda", 0.0)))
        rows["judge"].append((ps.mean() - truth[s], 0.0, 0.0, 0.0))
    out = {k: np.array(v) for k, v in rows.items()}
    out["truth"] = truth
    return out


@pytest.mark.parametrize("method", ["ppi", "ppi++", "active", "human"])
def test_95_percent_intervals_cover_the_human_rate_93_to_97_percent(
    simulated: dict[str, np.ndarray], method: str
) -> None:
    r, truth = simulated[method], simulated["truth"]
    assert 0.09 < truth.mean() < 0.2
    covered = np.mean((r[:, 1] <= truth) & (truth <= r[:, 2]))
    assert 0.93 <= covered <= 0.97, f"{method}: coverage {covered:.4f}"


def test_tuned_active_interval_covers_nearly_95_percent(simulated: dict[str, np.ndarray]) -> None:
    # Over 20,000 studies of this world its coverage is 93.7 % (Monte Carlo error 0.2 %), so with
    # 2,000 studies the band starts lower than for the others, to test the method and not the seed.
    r, truth = simulated["active++"], simulated["truth"]
    covered = np.mean((r[:, 1] <= truth) & (truth <= r[:, 2]))
    assert 0.92 <= covered <= 0.97, f"coverage {covered:.4f}"


@pytest.mark.parametrize("method", ["ppi", "ppi++", "active", "active++"])
def test_estimates_are_unbiased_where_the_judge_alone_is_not(simulated: dict[str, np.ndarray], method: str) -> None:
    err = simulated[method][:, 0]
    # Within 3 Monte Carlo standard errors of zero (about 0.06 percentage points here).
    assert abs(err.mean()) < 3 * err.std() / math.sqrt(err.size)
    # The judge alone overstates the rate by several points: the correction is doing the work.
    assert simulated["judge"][:, 0].mean() > 0.05


def test_judge_shortens_the_interval_in_the_simulated_studies(simulated: dict[str, np.ndarray]) -> None:
    width = {k: float(np.mean(simulated[k][:, 2] - simulated[k][:, 1])) for k in ("ppi", "ppi++", "active", "human")}
    assert width["ppi++"] <= width["ppi"] < width["human"]
    assert width["active"] < width["ppi"]
    assert 0.3 < float(np.mean(simulated["ppi++"][:, 3])) < 0.9  # a partly useful judge, partly weighted


# ---------------------------------------------------------------------------------------------
# Widths: a good judge narrows the interval, a useless one costs (almost) nothing under PPI++


def _widths(y: np.ndarray, p: np.ndarray, seed: int) -> dict[str, tuple[float, float]]:
    studies, n_items = y.shape
    acc: dict[str, list[tuple[float, float]]] = {"ppi": [], "ppi++": [], "active": [], "human": []}
    for s in range(studies):
        idx = uniform_sample(n_items, N_LABELS, seed=seed + s)
        pi = inclusion_probabilities(p[s], N_LABELS)
        act = poisson_sample(pi, seed=seed + s)
        for k, e in (
            ("ppi", ppi_rate(p[s], idx, y[s, idx])),
            ("ppi++", ppi_plusplus_rate(p[s], idx, y[s, idx])),
            ("active", active_ppi_rate(p[s], act, y[s, act], pi, lam="tuned")),
            ("human", human_only_rate(y[s, idx], population_size=n_items)),
        ):
            acc[k].append((e.ci_high - e.ci_low, e.extra.get("lambda", 0.0)))
    return {k: (float(np.mean([w for w, _ in v])), float(np.mean([lam for _, lam in v]))) for k, v in acc.items()}


def test_good_judge_gives_a_much_narrower_interval_than_people_alone() -> None:
    rng = np.random.default_rng(7)
    z = rng.standard_normal((100, N_ITEMS))
    q = 1 / (1 + np.exp(-(-4.5 + 5 * z)))  # a rate near 18 %
    y = (rng.random(q.shape) < q).astype(float)
    p = 1 / (1 + np.exp(-(-4.5 + 5 * z + 0.3 * rng.standard_normal(q.shape))))
    w = _widths(y, p, seed=1000)
    # Mean widths here: people alone 10.4 points, PPI and PPI++ 6.1, active 4.0.
    assert w["ppi++"][0] < 0.65 * w["human"][0]
    assert w["ppi"][0] < 0.65 * w["human"][0]
    assert w["active"][0] < 0.8 * w["ppi++"][0]
    assert w["ppi++"][1] > 0.8
    e = ppi_plusplus_rate(p[0], np.arange(0, N_ITEMS, 10), y[0, ::10])
    assert e.extra["effective_n"] > 2 * e.n  # worth more than twice its 200 labels


def test_useless_judge_leaves_ppi_plusplus_about_as_wide_as_people_alone() -> None:
    rng = np.random.default_rng(8)
    y = (rng.random((100, N_ITEMS)) < 0.15).astype(float)
    p = rng.random((100, N_ITEMS))  # unrelated to the labels
    w = _widths(y, p, seed=2000)
    # Mean widths here: people alone 9.3 points, PPI++ 9.3, untuned PPI 12.1.
    assert w["ppi++"][1] < 0.1  # lambda near 0
    assert 0.9 < w["ppi++"][0] / w["human"][0] < 1.05
    assert w["ppi"][0] > 1.2 * w["human"][0]  # untuned PPI pays for the judge's noise


# ---------------------------------------------------------------------------------------------
# Samplers


def test_inclusion_probabilities_favour_uncertain_items_with_a_floor() -> None:
    p = np.array([0.0, 0.01, 0.5, 0.5, 0.3, 0.99, 1.0, 0.05] * 25)
    pi = inclusion_probabilities(p, 40, uniform_share=0.25)
    assert pi.sum() == pytest.approx(40)
    assert pi.min() >= 0.25 * 40 / p.size - 1e-15
    assert pi[2] > pi[4] > pi[7] > pi[0] and pi[2] == pi[3] and pi[0] == pi[6]
    assert pi.max() <= 1


def test_inclusion_probabilities_cap_at_one_and_spread_the_rest() -> None:
    p = np.array([0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    pi = inclusion_probabilities(p, 4, uniform_share=0.1)
    # Uncapped shares would give items 0 and 1 1.82 each; capped at 1, the other 2 spread evenly.
    assert pi[:2].tolist() == [1.0, 1.0]
    assert pi[2:] == pytest.approx(np.full(8, 0.25))
    assert pi.sum() == pytest.approx(4)
    assert inclusion_probabilities(p, 10).tolist() == [1.0] * 10


def test_binary_verdicts_give_a_uniform_design() -> None:
    assert inclusion_probabilities([0, 1, 1, 0, 0], 2) == pytest.approx([0.4] * 5)


def test_poisson_sample_is_seeded_and_draws_with_the_given_probabilities() -> None:
    pi = np.full(50_000, 0.2)
    pi[:10_000] = 0.9
    a, b = poisson_sample(pi, seed=4), poisson_sample(pi, seed=4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, poisson_sample(pi, seed=5))
    assert np.all(np.diff(a) > 0)
    assert np.sum(a < 10_000) == pytest.approx(9_000, abs=4 * math.sqrt(10_000 * 0.09))
    assert np.sum(a >= 10_000) == pytest.approx(8_000, abs=4 * math.sqrt(40_000 * 0.16))


def test_uniform_sample_is_seeded_and_without_replacement() -> None:
    s = uniform_sample(100, 30, seed=9)
    assert s.size == 30 and np.unique(s).size == 30 and s.min() >= 0 and s.max() < 100
    assert np.array_equal(s, uniform_sample(100, 30, seed=9))
    with pytest.raises(ValueError, match="n must lie in"):
        uniform_sample(10, 11)


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ppi_rate([0.1, 0.2, 0.3], [0, 1], [1]), "2 labelled item indices but 1 human labels"),
        (lambda: ppi_rate([0.1, 0.2, 0.3], [0, 1], [1, 2]), r"must be 0 \(no violation\) or 1.*2\.0 at position 1"),
        (lambda: ppi_rate([0.1, 0.2, 0.3], [0, 1], [1, 0.5]), "must be 0"),
        (lambda: ppi_rate([0.1, 0.2, 0.3], [], []), "no labelled items"),
        (lambda: ppi_plusplus_rate([0.1, 0.2], [], []), "no labelled items"),
        (lambda: ppi_rate([], [], []), "no judged answers"),
        (lambda: ppi_rate([0.1, 1.2, 0.3], [0], [1]), r"judge scores must lie in \[0, 1\].*1\.2 at position 1"),
        (lambda: ppi_rate([0.1, float("nan")], [0], [1]), "judge scores must lie"),
        (lambda: ppi_rate([0.1, 0.2, 0.3], [0, 3], [1, 0]), r"indices must lie in \[0, 3\); got \[3\]"),
        (lambda: ppi_rate([0.1, 0.2, 0.3], [0, -1], [1, 0]), "indices must lie"),
        (lambda: ppi_rate([0.1, 0.2, 0.3], [1, 1], [1, 0]), r"repeated indices \[1\]"),
        (lambda: ppi_rate([0.1, 0.2, 0.3], [0.0, 1.0], [1, 0]), "integer item indices"),
        (lambda: ppi_rate(["a", "b"], [0], [1]), "judge scores must be numbers"),
        (lambda: active_ppi_rate([0.1, 0.2, 0.3], [0], [1], [0.5, 0.5]), "2 inclusion probabilities but 3"),
        (lambda: active_ppi_rate([0.1, 0.2, 0.3], [0], [1], [0.5, 0.0, 0.5]), r"\(0, 1\].*0\.0 at position 1"),
        (lambda: active_ppi_rate([0.1, 0.2, 0.3], [0], [1], [0.5, 1.5, 0.5]), r"in \(0, 1\]"),
        (lambda: active_ppi_rate([0.1, 0.2, 0.3], [], [], [0.5, 0.5, 0.5]), "no labelled items"),
        (lambda: active_ppi_rate([0.1, 0.2], [0, 1], [1], [0.5, 0.5]), "2 labelled item indices but 1"),
        (lambda: poisson_sample([0.5, -0.1]), "inclusion probabilities must lie"),
        (lambda: inclusion_probabilities([0.5, 2.0], 1), "judge scores must lie"),
        (lambda: human_only_rate([]), "no labelled items"),
        (lambda: human_only_rate([1, 3]), "must be 0"),
        (lambda: human_only_rate([1, 0, 1], population_size=2), "smaller than the 3 labelled"),
    ],
)
def test_bad_data_is_a_data_error(call: Callable[[], object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        call()


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ppi_rate([0.1, 0.2], [0, 1], [1, 0], lam=1.5), r"lam must lie in \[0, 1\]"),
        (lambda: ppi_rate([0.1, 0.2], [0, 1], [1, 0], lam=-0.1), "lam must lie"),
        (lambda: ppi_rate([0.1, 0.2], [0, 1], [1, 0], lam="best"), "or 'tuned'"),  # type: ignore[arg-type]
        (lambda: ppi_rate([0.1, 0.2], [0, 1], [1, 0], level=1.0), r"level must lie in \(0, 1\)"),
        (lambda: active_ppi_rate([0.1], [0], [1], [1.0], lam=2.0), "lam must lie"),
        (lambda: inclusion_probabilities([0.5, 0.5], 3), r"n must lie in \(0, 2\]"),
        (lambda: inclusion_probabilities([0.5, 0.5], 0), "n must lie"),
        (lambda: inclusion_probabilities([0.5, 0.5], 1, uniform_share=0.0), r"uniform_share must lie in \(0, 1\]"),
    ],
)
def test_bad_parameters_are_value_errors(call: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()
