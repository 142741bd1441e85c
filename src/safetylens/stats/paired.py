"""Paired comparisons of two runs on the same samples.

Two runs of different models on the same items give paired observations: the item effect cancels
in the per-item difference, which makes paired tests far more sensitive than comparing two
independent confidence intervals. This module provides:

- :func:`mcnemar_exact` and :func:`mcnemar_midp` for binary outcomes (only the discordant pairs
  carry information; mid-p is the less conservative version recommended by Fagerland, Lydersen and
  Laake, 2013, "The McNemar test for binary matched-pairs data: mid-p and asymptotic are better
  than exact conditional");
- :func:`paired_bootstrap` for the mean difference of any paired values: a percentile interval
  and a two-sided p-value from the null distribution obtained by centring the differences;
- :func:`holm` for the Holm step-down correction across groups;
- :func:`paired_difference`, which picks the right test for the data and returns a
  :class:`PairedDifference` with the difference as an :class:`~safetylens.stats.ci.Estimate`.

Differences are always ``B - A`` (the second run minus the first).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy import stats as _st

from safetylens.stats.bootstrap import bootstrap_distribution, percentile_interval
from safetylens.stats.ci import Estimate

BinaryTest = Literal["mcnemar-midp", "mcnemar-exact"]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact (conditional binomial) McNemar p-value.

    Args:
        b: Pairs with outcome 1 in A and 0 in B.
        c: Pairs with outcome 0 in A and 1 in B.

    Returns:
        ``min(1, 2 * P(X <= min(b, c)))`` for ``X ~ Binomial(b + c, 1/2)``; 1 without discordant pairs.
    """
    _check_counts(b, c)
    n = b + c
    if n == 0:
        return 1.0
    return float(min(1.0, 2.0 * _st.binom.cdf(min(b, c), n, 0.5)))


def mcnemar_midp(b: int, c: int) -> float:
    """Two-sided mid-p McNemar p-value: the exact p-value minus the probability of the observed table.

    Args:
        b: Pairs with outcome 1 in A and 0 in B.
        c: Pairs with outcome 0 in A and 1 in B.
    """
    _check_counts(b, c)
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    p = 2.0 * (_st.binom.cdf(k, n, 0.5) - 0.5 * _st.binom.pmf(k, n, 0.5))
    return float(min(1.0, p))


def _check_counts(b: int, c: int) -> None:
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")


def paired_bootstrap(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float, float]:
    """Mean paired difference ``mean(b - a)`` with a percentile bootstrap interval and p-value.

    Pairs are resampled together (the same indices for both runs). The p-value is two-sided: the
    share of resampled means of the centred differences (the null of no difference) at least as far
    from zero as the observed mean, with the usual ``+1`` correction so it is never exactly 0.

    Args:
        a: Values of run A.
        b: Values of run B, paired with ``a`` by position.
        n_resamples: Bootstrap resamples.
        level: Confidence level of the interval.
        seed: Seed of the resampling generator.

    Returns:
        ``(difference, ci_low, ci_high, p_value)``; NaNs when there are no pairs.

    Raises:
        ValueError: ``a`` and ``b`` have different lengths.
    """
    x = np.asarray(a, dtype=float)
    y = np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples must be 1-D and of equal length, got {x.shape} and {y.shape}")
    if x.size == 0:
        nan = float("nan")
        return nan, nan, nan, nan
    d = y - x
    obs = float(d.mean())
    centred = d - obs
    # Both columns come from the same index block, so each resample's null mean is the mean of the
    # same pairs' centred differences.
    dist = bootstrap_distribution(
        d.size,
        lambda idx: np.stack([d[idx].mean(axis=1), centred[idx].mean(axis=1)], axis=1),
        n_resamples=n_resamples,
        seed=seed,
    )
    means, null = dist[:, 0], dist[:, 1]
    lo, hi = percentile_interval(means, level)
    # A tolerance keeps exact ties (e.g. all differences equal) from depending on rounding noise.
    extreme = int(np.sum(np.abs(null) >= abs(obs) - 1e-12 * max(1.0, abs(obs))))
    p = (1 + extreme) / (n_resamples + 1)
    return obs, lo, hi, float(min(1.0, p))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (NaNs are left out of the family and stay NaN).

    Args:
        pvalues: Unadjusted p-values of one family of tests.
    """
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(idx)
    out = [float("nan")] * len(pvalues)
    order = sorted(idx, key=lambda i: pvalues[i])
    running = 0.0
    for rank, i in enumerate(order):
        adj = min(1.0, (m - rank) * pvalues[i])
        running = max(running, adj)
        out[i] = running
    return out


class PairedDifference(BaseModel):
    """The paired difference ``B - A`` of one metric on one set of shared samples.

    Attributes:
        n: Number of pairs.
        mean_a: Mean of A (percent for binary outcomes).
        mean_b: Mean of B.
        diff: ``mean_b - mean_a`` with its paired-bootstrap interval.
        p_value: Two-sided p-value of the test named in ``test``.
        test: ``"mcnemar-midp"``, ``"mcnemar-exact"`` or ``"paired-bootstrap"``.
        binary: Whether the outcome is binary (then means and differences are in percent / points).
        discordant: For binary outcomes, ``(b, c)``: pairs 1 in A only and 1 in B only.
        p_holm: Holm-adjusted p-value within its family, once adjusted.
    """

    model_config = ConfigDict(frozen=True)

    n: int
    mean_a: float
    mean_b: float
    diff: Estimate
    p_value: float
    test: str
    binary: bool
    discordant: tuple[int, int] | None = None
    p_holm: float | None = None


def paired_difference(
    a: Sequence[float | bool],
    b: Sequence[float | bool],
    *,
    binary: bool | None = None,
    binary_test: BinaryTest = "mcnemar-midp",
    n_resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:
    """Compare paired values of two runs.

    Binary outcomes (all values 0/1 or bool) get McNemar's test and are expressed in percent, so
    the difference is in percentage points; other values get the paired-bootstrap test. The
    interval is the paired bootstrap's in both cases.

    Args:
        a: Values of run A.
        b: Values of run B, paired by position.
        binary: Force binary / continuous treatment; None detects it from the values.
        binary_test: Which McNemar p-value for binary outcomes.
        n_resamples: Bootstrap resamples.
        level: Confidence level.
        seed: Bootstrap seed.
    """
    x = np.asarray([float(v) for v in a], dtype=float)
    y = np.asarray([float(v) for v in b], dtype=float)
    if binary is None:
        binary = bool(x.size) and bool(np.isin(x, (0.0, 1.0)).all() and np.isin(y, (0.0, 1.0)).all())
    scale = 100.0 if binary else 1.0
    diff, lo, hi, p_boot = paired_bootstrap(x * scale, y * scale, n_resamples=n_resamples, level=level, seed=seed)
    discordant: tuple[int, int] | None = None
    if binary:
        bc = (int(np.sum((x == 1) & (y == 0))), int(np.sum((x == 0) & (y == 1))))
        discordant = bc
        p = mcnemar_midp(*bc) if binary_test == "mcnemar-midp" else mcnemar_exact(*bc)
        test: str = binary_test
    else:
        p, test = p_boot, "paired-bootstrap"
    nan = float("nan")
    return PairedDifference(
        n=int(x.size),
        mean_a=float(x.mean() * scale) if x.size else nan,
        mean_b=float(y.mean() * scale) if y.size else nan,
        diff=Estimate(
            value=diff,
            ci_low=lo,
            ci_high=hi,
            n=int(x.size),
            level=level,
            method=f"paired-bootstrap-percentile({n_resamples}, seed={seed})",
            unit="pp" if binary else "",
        ),
        p_value=p if x.size else nan,
        test=test,
        binary=binary,
        discordant=discordant,
    )
