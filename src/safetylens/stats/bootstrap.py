"""The one resampler behind the bootstrap intervals of safetylens.

The percentile-bootstrap intervals (means and any statistic through
:func:`~safetylens.stats.ci.bootstrap_ci`, paired differences, γ over red teamers, the ToxiGen
macro-average, probe AUCs, BOLD's subgroup draws) take their resamples from
:func:`resample_indices`, so all of them draw the same way:

- the generator is ``numpy.random.default_rng(seed)`` (PCG64);
- resample ``i`` is row ``i`` of ``rng.integers(0, n_units, size=(n_resamples, n_units))``: the
  indices of the units drawn with replacement;
- rows come in blocks of at most ``max_cells`` indices, to bound memory on large inputs. The
  generator's stream does not depend on how it is split into calls, so the block size changes
  memory use only, never a number.

A statistic that several resampled arrays share (the paired bootstrap's differences and their
centred copy, a ratio's numerator and denominator) is computed from the same index block, which is
what keeps the pairs together.

Functions:

- :func:`resample_indices`: the index blocks themselves;
- :func:`bootstrap_distribution`: a vectorised statistic of every resample, in draw order;
- :func:`bootstrap_means`: the resampled means of one array of observations;
- :func:`percentile_interval`: the percentile interval of such a distribution.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

# Indices per block: 2,000,000 int64 indices are 16 MB, plus the statistic's own temporaries.
DEFAULT_MAX_CELLS = 2_000_000


def resample_indices(
    n_units: int, n_resamples: int, *, seed: int = 0, max_cells: int = DEFAULT_MAX_CELLS
) -> Iterator[np.ndarray]:
    """Blocks of bootstrap resamples of ``n_units`` units, as index arrays.

    Args:
        n_units: Number of units resampled with replacement (observations, pairs, red teamers, ...).
        n_resamples: Number of resamples in all blocks together (0 yields nothing).
        seed: Seed of ``numpy.random.default_rng``.
        max_cells: At most this many indices per block (at least one resample per block).

    Yields:
        Integer arrays of shape ``(b, n_units)`` with entries in ``[0, n_units)``; row ``i`` of the
        blocks stacked in order is resample ``i``.

    Raises:
        ValueError: ``n_units`` below 1, ``n_resamples`` negative or ``max_cells`` below 1.
    """
    if n_units < 1:
        raise ValueError(f"a bootstrap needs at least one unit to resample, got n_units={n_units}")
    if n_resamples < 0:
        raise ValueError(f"n_resamples must be >= 0, got {n_resamples}")
    if max_cells < 1:
        raise ValueError(f"max_cells must be >= 1, got {max_cells}")
    rng = np.random.default_rng(seed)
    block = max(1, min(n_resamples, max_cells // n_units))
    done = 0
    while done < n_resamples:
        b = min(block, n_resamples - done)
        yield rng.integers(0, n_units, size=(b, n_units))
        done += b


def bootstrap_distribution(
    n_units: int,
    statistic: Callable[[np.ndarray], np.ndarray],
    *,
    n_resamples: int = 10_000,
    seed: int = 0,
    max_cells: int = DEFAULT_MAX_CELLS,
) -> np.ndarray:
    """A statistic of every bootstrap resample, in the order the resamples are drawn.

    Args:
        n_units: Number of units resampled with replacement.
        statistic: Maps an index block of shape ``(b, n_units)`` (see :func:`resample_indices`) to
            an array whose first axis has ``b`` entries, one per resample; later axes (several
            statistics of the same resample) are kept.
        n_resamples: Number of resamples.
        seed: Seed of the resampling generator.
        max_cells: At most this many indices per block.

    Returns:
        The blocks' statistics concatenated along the first axis; with no resamples, the statistic
        of an empty block (so its shape beyond the first axis is kept).

    Raises:
        ValueError: As :func:`resample_indices`.
    """
    parts = [
        np.asarray(statistic(idx)) for idx in resample_indices(n_units, n_resamples, seed=seed, max_cells=max_cells)
    ]
    if not parts:
        return np.asarray(statistic(np.empty((0, n_units), dtype=np.int64)))
    return np.concatenate(parts)


def bootstrap_means(values: Sequence[float] | np.ndarray, *, n_resamples: int = 10_000, seed: int = 0) -> np.ndarray:
    """The means of ``n_resamples`` bootstrap resamples of ``values``.

    Args:
        values: Observations (at least one).
        n_resamples: Number of resamples.
        seed: Seed of the resampling generator.

    Raises:
        ValueError: ``values`` is empty (as :func:`resample_indices`).
    """
    arr = np.asarray(values, dtype=float)
    return bootstrap_distribution(arr.size, lambda idx: arr[idx].mean(axis=1), n_resamples=n_resamples, seed=seed)


def percentile_interval(distribution: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of a bootstrap distribution.

    The cut-offs are ``(1 - level) / 2`` and one minus that, computed in this order, and
    ``numpy.quantile``'s default (linear) interpolation between order statistics.

    Args:
        distribution: Bootstrap statistics, one per resample.
        level: Confidence level.

    Raises:
        ValueError: The distribution is empty.
    """
    arr = np.asarray(distribution, dtype=float)
    if arr.size == 0:
        raise ValueError("no bootstrap statistics to take percentiles of")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(arr, [alpha, 1 - alpha])
    return float(lo), float(hi)
