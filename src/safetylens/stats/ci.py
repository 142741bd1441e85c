"""Point estimates with confidence intervals.

Every metric safetylens reports is an :class:`Estimate`: a value, a confidence interval, the
number of observations it rests on and the name of the method that produced the interval, so a
reader can always tell how uncertain a number is and how that was computed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import stats as _st

from safetylens.stats.bootstrap import bootstrap_distribution, bootstrap_means, percentile_interval
from safetylens.util import format_interval


class Estimate(BaseModel):
    """A point estimate with its confidence interval.

    Attributes:
        value: The estimate (for percentages, in percent).
        ci_low: Lower bound of the interval.
        ci_high: Upper bound of the interval.
        n: Number of observations the estimate rests on.
        level: Confidence level of the interval (0.95 by default).
        method: How the interval was computed, e.g. ``"wilson"`` or ``"bootstrap-percentile(10000, seed=0)"``.
        unit: ``"%"`` for percentages, ``""`` for plain numbers.
    """

    model_config = ConfigDict(frozen=True)

    value: float
    ci_low: float
    ci_high: float
    n: int
    level: float = 0.95
    method: str = ""
    unit: str = ""
    extra: dict[str, float] = Field(default_factory=dict)

    def fmt(self, digits: int = 2) -> str:
        """Format as ``value [low, high]`` (``[n/a: n < 2]`` when the interval is not estimable)."""
        return f"{self.value:.{digits}f} {format_interval(self.ci_low, self.ci_high, digits)}"


def wilson_interval(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (as fractions in [0, 1]).

    Args:
        successes: Number of successes.
        n: Number of trials; ``n == 0`` gives ``(0, 1)``.
        level: Confidence level.
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} outside [0, {n}]")
    z = float(_st.norm.ppf(0.5 + level / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # At 0 or n successes the bound is exactly 0 or 1; rounding would otherwise leave the point
    # estimate a hair outside its own interval.
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return lo, hi


def proportion(successes: int, n: int, level: float = 0.95, percent: bool = True) -> Estimate:
    """Estimate a proportion with a Wilson score interval.

    Args:
        successes: Number of positive outcomes.
        n: Number of outcomes.
        level: Confidence level.
        percent: Report in percent (True) or as a fraction.
    """
    lo, hi = wilson_interval(successes, n, level)
    scale = 100.0 if percent else 1.0
    value = successes / n if n else float("nan")
    return Estimate(
        value=value * scale,
        ci_low=lo * scale,
        ci_high=hi * scale,
        n=n,
        level=level,
        method="wilson",
        unit="%" if percent else "",
    )


def bootstrap_ci(
    data: Sequence[float] | np.ndarray,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of a vectorised statistic.

    Resamples are drawn by :func:`safetylens.stats.bootstrap.resample_indices`, as every bootstrap
    in safetylens draws them.

    Args:
        data: One-dimensional observations (fewer than two give a NaN interval: not estimable).
        statistic: Maps an array of shape ``(b, n)`` of resamples (one block) to ``b`` statistics.
        n_resamples: Number of bootstrap resamples.
        level: Confidence level.
        seed: Seed of the resampling generator (results are reproducible).
    """
    arr = np.asarray(data, dtype=float)
    # One observation shows the bootstrap no variability: its "interval" would have zero width and
    # claim certainty. The interval is not estimable (NaN), and reports say so.
    if arr.size < 2:
        return float("nan"), float("nan")
    dist = bootstrap_distribution(arr.size, lambda idx: statistic(arr[idx]), n_resamples=n_resamples, seed=seed)
    return percentile_interval(dist, level)


def bootstrap_mean(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    unit: str = "",
) -> Estimate:
    """Mean with a percentile bootstrap interval.

    Args:
        values: Observations.
        n_resamples: Number of resamples.
        level: Confidence level.
        seed: Resampling seed.
        unit: Unit label for the estimate.
    """
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return Estimate(
            value=float("nan"),
            ci_low=float("nan"),
            ci_high=float("nan"),
            n=0,
            level=level,
            method=f"bootstrap-percentile({n_resamples}, seed={seed})",
            unit=unit,
        )
    # One observation shows the bootstrap no variability: not estimable (NaN), as in bootstrap_ci.
    lo, hi = (
        percentile_interval(bootstrap_means(arr, n_resamples=n_resamples, seed=seed), level)
        if arr.size >= 2
        else (float("nan"), float("nan"))
    )
    return Estimate(
        value=float(arr.mean()),
        ci_low=lo,
        ci_high=hi,
        n=int(arr.size),
        level=level,
        method=f"bootstrap-percentile({n_resamples}, seed={seed})",
        unit=unit,
    )
