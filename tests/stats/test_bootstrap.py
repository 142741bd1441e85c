"""The shared bootstrap resampler: its draws, and that every bootstrap interval goes through it.

The pinned numbers were computed before the callers shared the resampler (each had its own copy
of the loop); they must not move.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from safetylens.benchmarks.bold import subgroup_bootstrap, subgroup_estimate
from safetylens.benchmarks.toxigen import macro_bootstrap
from safetylens.human.redteam import gamma_dict, gamma_estimate
from safetylens.scorers.probe import binary_metrics
from safetylens.stats import bootstrap as boot
from safetylens.stats.bootstrap import bootstrap_distribution, bootstrap_means, percentile_interval, resample_indices
from safetylens.stats.ci import bootstrap_ci, bootstrap_mean
from safetylens.stats.paired import paired_bootstrap

X = [0.1, 0.4, 0.35, 0.8, 0.5, 0.2, 0.9]
MEMBERSHIP = np.array([[1, 0], [1, 1], [0, 1], [1, 0], [0, 1]], dtype=bool)
TOXIC = np.array([1, 0, 1, 0, 0], dtype=bool)


def test_resample_indices_are_rows_of_one_default_rng_draw() -> None:
    (block,) = resample_indices(4, 3, seed=0)
    assert block.tolist() == [[3, 2, 2, 1], [1, 0, 0, 0], [0, 3, 2, 3]]


@pytest.mark.parametrize("max_cells", [1, 7, 40, 10_000])
def test_block_size_changes_memory_not_draws(max_cells: int) -> None:
    blocks = list(resample_indices(5, 23, seed=11, max_cells=max_cells))
    assert all(b.shape[1] == 5 and 1 <= b.shape[0] <= max(1, max_cells // 5) for b in blocks)
    assert np.array_equal(np.concatenate(blocks), np.random.default_rng(11).integers(0, 5, size=(23, 5)))


def test_resample_indices_rejects_nothing_to_resample() -> None:
    with pytest.raises(ValueError, match="at least one unit"):
        next(resample_indices(0, 10))
    with pytest.raises(ValueError, match="n_resamples"):
        next(resample_indices(3, -1))
    assert list(resample_indices(3, 0)) == []


def test_bootstrap_distribution_keeps_several_statistics_per_resample() -> None:
    a = np.arange(6.0)
    dist = bootstrap_distribution(
        6, lambda idx: np.stack([a[idx].mean(axis=1), a[idx].max(axis=1)], axis=1), n_resamples=9, seed=2, max_cells=13
    )
    idx = np.random.default_rng(2).integers(0, 6, size=(9, 6))
    assert dist.shape == (9, 2)
    assert np.array_equal(dist[:, 0], a[idx].mean(axis=1)) and np.array_equal(dist[:, 1], a[idx].max(axis=1))
    # No resamples: the statistic of an empty block, with its trailing shape.
    assert bootstrap_distribution(6, lambda idx: np.stack([idx.sum(1), idx.sum(1)], 1), n_resamples=0).shape == (0, 2)


def test_percentile_interval_cut_offs() -> None:
    assert percentile_interval(np.arange(101.0), 0.9) == pytest.approx((5.0, 95.0), abs=1e-12)
    with pytest.raises(ValueError, match="no bootstrap statistics"):
        percentile_interval(np.zeros(0))


def test_pinned_intervals_of_every_caller() -> None:
    e = bootstrap_mean(X, n_resamples=1000, seed=0)
    assert (e.ci_low, e.ci_high) == (0.27839285714285733, 0.6571428571428571)
    assert bootstrap_ci(X, lambda m: m.mean(axis=1), n_resamples=1000, seed=0) == (e.ci_low, e.ci_high)
    assert percentile_interval(bootstrap_means(X, n_resamples=1000, seed=0)) == (e.ci_low, e.ci_high)
    assert paired_bootstrap([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 3.5, 5.0], n_resamples=1000, seed=0) == (
        0.5,
        0.125,
        0.875,
        0.006993006993006993,
    )
    assert macro_bootstrap(MEMBERSHIP, TOXIC, n_resamples=1000, seed=0) == (0.0, 83.33333333333334)
    probe = binary_metrics([0, 1, 0, 1, 1, 0, 1, 0], [0.2, 0.7, 0.4, 0.6, 0.3, 0.1, 0.8, 0.5], n_resamples=1000)
    assert probe["auc_ci"] == [0.5, 1.0]
    s = subgroup_estimate([0.1, -0.2, 0.3, 0.05], "race", "x", 1000)
    assert (s.ci_low, s.ci_high) == (-0.125, 0.2375)
    g = gamma_estimate([1, 2, 0, 3], [1.0, 0.5, 2.0, 1.5], n_resamples=1000, seed=0)
    assert (g.value, g.ci_low, g.ci_high, g.n) == (1.2, 0.44037885069817023, 2.611894804503737, 6)
    assert (g.extra["bootstrap_ci_low"], g.extra["bootstrap_ci_high"]) == (0.3076923076923077, 2.8)


def test_bold_subgroup_draws_are_bootstrap_means() -> None:
    seed = int(subgroup_estimate([0.1, 0.2], "race", "x", 100).method.split("seed=")[1].rstrip(")"))
    vals = [0.1, -0.2, 0.3, 0.05, 0.4]
    assert np.array_equal(subgroup_bootstrap(vals, "race", "x", 500), bootstrap_means(vals, n_resamples=500, seed=seed))
    assert subgroup_estimate(vals, "race", "x", 500).model_dump(exclude={"extra"}) == bootstrap_mean(
        vals, n_resamples=500, seed=seed
    ).model_dump(exclude={"extra"})


CALLERS: dict[str, Callable[[], Any]] = {
    "bootstrap_mean": lambda: bootstrap_mean(X, n_resamples=50, seed=3),
    "paired_bootstrap": lambda: paired_bootstrap([1.0, 2.0, 3.0], [2.0, 2.5, 3.0], n_resamples=50, seed=3),
    "bold": lambda: subgroup_bootstrap(X, "d", "s", 50),
    "toxigen": lambda: macro_bootstrap(MEMBERSHIP, TOXIC, n_resamples=50, seed=3),
    "probe": lambda: binary_metrics([0, 1, 0, 1], [0.1, 0.9, 0.6, 0.4], n_resamples=50, seed=3),
    "gamma": lambda: gamma_estimate([1, 2, 0], [1.0, 0.5, 2.0], n_resamples=50, seed=3),
}


@pytest.mark.parametrize("name", sorted(CALLERS))
def test_every_caller_draws_through_the_shared_resampler(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    real = boot.resample_indices

    def spy(n_units: int, n_resamples: int, **kw: Any) -> Iterator[np.ndarray]:
        calls.append((n_units, n_resamples))
        return real(n_units, n_resamples, **kw)

    monkeypatch.setattr(boot, "resample_indices", spy)
    CALLERS[name]()
    assert len(calls) == 1 and calls[0][1] == 50


def _first_unit_only(n_units: int, n_resamples: int, **_: Any) -> Iterator[np.ndarray]:
    yield np.zeros((n_resamples, n_units), dtype=np.int64)


def test_replacing_the_resampler_changes_every_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every resample made of the first unit only: each interval collapses onto that unit's statistic.
    monkeypatch.setattr(boot, "resample_indices", _first_unit_only)
    e = bootstrap_mean(X, n_resamples=50)
    assert (e.ci_low, e.ci_high) == pytest.approx((0.1, 0.1), rel=1e-12)
    assert paired_bootstrap([1.0, 2.0], [3.0, 2.0], n_resamples=50)[1:3] == (2.0, 2.0)
    assert subgroup_bootstrap(X, "d", "s", 50) == pytest.approx(np.full(50, 0.1), rel=1e-12)
    assert macro_bootstrap(MEMBERSHIP, TOXIC, n_resamples=50) == (100.0, 100.0)
    # One class in every resample: no AUC, so no interval.
    assert all(math.isnan(v) for v in binary_metrics([0, 1], [0.2, 0.7], n_resamples=50)["auc_ci"])
    g = gamma_estimate([1, 2, 0], [1.0, 0.5, 2.0], n_resamples=50)
    assert (g.extra["bootstrap_ci_low"], g.extra["bootstrap_ci_high"]) == (1.0, 1.0)


def test_few_units_are_handled_as_before() -> None:
    # One unit: no interval (NaN), never a zero-width one.
    assert all(math.isnan(v) for v in bootstrap_ci([0.5], lambda m: m.mean(axis=1)))
    assert math.isnan(bootstrap_mean([0.5]).ci_low)
    assert math.isnan(subgroup_estimate([0.5], "d", "s", 100).ci_low)
    # The paired bootstrap and the ToxiGen macro-average resample one unit onto itself.
    assert paired_bootstrap([1.0], [3.0], n_resamples=50) == (2.0, 2.0, 2.0, 0.0196078431372549)
    assert macro_bootstrap(np.array([[1, 1]], dtype=bool), np.array([1], dtype=bool), n_resamples=50) == (100.0, 100.0)
    # No units: NaN, without drawing.
    assert all(math.isnan(v) for v in paired_bootstrap([], [], n_resamples=50))
    assert all(math.isnan(v) for v in macro_bootstrap(np.zeros((0, 2), dtype=bool), np.zeros(0, dtype=bool)))
    assert np.isnan(subgroup_bootstrap([], "d", "s", 5)).all() and subgroup_bootstrap([], "d", "s", 5).size == 5
    # Two units: an interval.
    lo, hi = bootstrap_ci([0.0, 1.0], lambda m: m.mean(axis=1), n_resamples=200)
    assert 0.0 <= lo < hi <= 1.0
    # γ: the bootstrap over red teamers needs two of them and some active time.
    one = gamma_estimate([2], [1.0])
    assert one.value == 2.0 and "bootstrap_ci_low" not in one.extra
    assert "bootstrap_ci_low" not in gamma_estimate([1, 2], [0.0, 0.0]).extra


def test_gamma_dict_keeps_the_roll_up_keys() -> None:
    g = gamma_dict(gamma_estimate([1, 2, 0, 3], [1.0, 0.5, 2.0, 1.5], n_resamples=1000, seed=0))
    assert g == {
        "n": 6,
        "persons": 4,
        "hours": 5.0,
        "level": 0.95,
        "method": "exact Poisson (Garwood) interval on the count of violating prompts; hours treated as fixed",
        "unit": "",
        "value": 1.2,
        "ci_low": 0.44037885069817023,
        "ci_high": 2.611894804503737,
        "bootstrap": {
            "ci_low": 0.3076923076923077,
            "ci_high": 2.8,
            "method": "percentile bootstrap over red teamers (1000 resamples, seed 0)",
        },
    }
    none = gamma_dict(gamma_estimate([1], [0.0]))
    assert (none["value"], none["ci_low"], none["ci_high"], none["bootstrap"]) == (None, None, None, None)
    assert (none["n"], none["persons"], none["hours"]) == (1, 1, 0.0)
