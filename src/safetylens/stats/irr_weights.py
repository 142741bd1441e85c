"""Agreement weight matrices for weighted chance-corrected agreement coefficients.

The predefined matrices are transcribed from Gwet's R package kgwet/irrCAC (``R/weights.gen.r``,
v1.4), which follows Gwet, *Handbook of Inter-Rater Reliability*, 4th ed. (2014), ch. 3. A weight
``w_kl`` in ``[0, 1]`` is the credit given when one rater chooses category ``k`` and another ``l``;
``w_kk = 1`` always. ``x_k`` are the sorted numeric category values; for labelled categories whose
order is declared, irrCAC uses the ranks ``1..q``.

See human-eval.md §1.3 for the table of formulas and published 3- and 5-category matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike, NDArray

from safetylens.errors import ConfigError

WeightName = Literal["identity", "linear", "quadratic", "ordinal", "radical", "ratio", "circular", "bipolar"]
"""The predefined weighting schemes of irrCAC."""

WEIGHT_NAMES: tuple[str, ...] = get_args(WeightName)

#: Schemes whose weights depend on the numeric distance between category values (not only on ranks).
VALUE_BASED: frozenset[str] = frozenset({"linear", "quadratic", "radical", "ratio", "circular", "bipolar"})

FloatArray = NDArray[np.float64]


def _normalise(d: FloatArray) -> FloatArray:
    """Turn a disagreement matrix into weights ``1 - d / max(d)`` (irrCAC's rescaling)."""
    top = float(d.max())
    if top <= 0:
        return np.ones_like(d)
    return 1.0 - d / top


def weight_matrix(name: str, values: Sequence[float] | FloatArray) -> FloatArray:
    """Build one of irrCAC's predefined weight matrices.

    Formulas (Gwet 2014, ch. 3; kgwet/irrCAC ``R/weights.gen.r``), with ``x`` the category values in
    ascending order, ``x_min``/``x_max`` their extremes:

    - identity: ``w_kl = 1[k = l]``
    - linear: ``1 - |x_k - x_l| / (x_max - x_min)``
    - quadratic: ``1 - (x_k - x_l)^2 / (x_max - x_min)^2``
    - radical: ``1 - sqrt|x_k - x_l| / sqrt(x_max - x_min)``
    - ratio: ``1 - ((x_k - x_l)/(x_k + x_l))^2 / ((x_max - x_min)/(x_max + x_min))^2`` (positive values only)
    - circular: ``d = sin^2(pi (x_k - x_l) / U)``, ``U = x_max - x_min + 1``; ``w = 1 - d / max d``
    - bipolar: ``d = (x_k - x_l)^2 / ((x_k + x_l - 2 x_min)(2 x_max - x_k - x_l))`` off the diagonal;
      ``w = 1 - d / max d``
    - ordinal (ranks only): ``m = |k - l| + 1``, ``d = m (m - 1) / 2``; ``w = 1 - d / max d``

    Args:
        name: One of :data:`WEIGHT_NAMES`.
        values: The numeric value of each category, in the category order used for the counts.
            Must be strictly increasing (pass ranks ``1..q`` for ordered labels).

    Returns:
        A ``q x q`` matrix.

    Raises:
        ConfigError: Unknown name, fewer than two categories, values not increasing, or ratio weights
            with a non-positive category value.
    """
    x = np.asarray(values, dtype=float)
    q = x.size
    if name not in WEIGHT_NAMES:
        raise ConfigError(
            f"unknown weights {name!r}",
            hint=f"use one of {', '.join(WEIGHT_NAMES)}, or pass a q x q matrix",
        )
    if q < 2:
        raise ConfigError(f"weights need at least 2 categories, got {q}", hint="declare the full category set")
    if not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise ConfigError(f"category values must be finite and strictly increasing, got {x.tolist()}")
    if name == "identity":
        return np.eye(q)
    if name == "ordinal":
        k = np.arange(q)
        m = np.abs(k[:, None] - k[None, :]) + 1.0
        return _normalise(m * (m - 1.0) / 2.0)
    lo, hi = float(x[0]), float(x[-1])
    diff = x[:, None] - x[None, :]
    if name == "linear":
        return np.asarray(1.0 - np.abs(diff) / (hi - lo), dtype=float)
    if name == "quadratic":
        return np.asarray(1.0 - diff**2 / (hi - lo) ** 2, dtype=float)
    if name == "radical":
        return np.asarray(1.0 - np.sqrt(np.abs(diff)) / np.sqrt(hi - lo), dtype=float)
    if name == "ratio":
        if lo <= 0:
            raise ConfigError(
                f"ratio weights need positive category values, got minimum {lo:g}",
                hint="shift the scale (e.g. 0..4 -> 1..5) or use another weighting",
            )
        total = x[:, None] + x[None, :]
        return np.asarray(1.0 - (diff / total) ** 2 / ((hi - lo) / (hi + lo)) ** 2, dtype=float)
    if name == "circular":
        period = hi - lo + 1.0
        return _normalise(np.sin(np.pi * diff / period) ** 2)
    # bipolar: the denominator vanishes only on the diagonal, which is defined as 0.
    total = x[:, None] + x[None, :]
    denom = (total - 2.0 * lo) * (2.0 * hi - total)
    off = ~np.eye(q, dtype=bool)
    d = np.zeros((q, q))
    d[off] = diff[off] ** 2 / denom[off]
    return _normalise(d)


def check_custom_weights(matrix: ArrayLike, q: int) -> FloatArray:
    """Validate a user-supplied agreement weight matrix.

    The multi-rater percent agreement ``Σ_k r_ik (r*_ik - 1)`` (Gwet 2014, eq. 3.8) counts each rater's
    agreement with themself once, so it is only correct when full agreement gets full credit.

    Args:
        matrix: A ``q x q`` array (need not be symmetric: irrCAC's tests use a non-symmetric one).
        q: Number of categories.

    Returns:
        The matrix as a float array.

    Raises:
        ConfigError: Wrong shape, non-finite entries, entries outside ``[0, 1]``, or a diagonal that is
            not all ones.
    """
    try:
        w = np.array(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"custom weights are not a numeric matrix: {exc}") from None
    if w.shape != (q, q):
        raise ConfigError(f"custom weights must be {q} x {q} (one row and column per category), got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ConfigError("custom weights contain NaN or infinite entries")
    if np.any(w < 0) or np.any(w > 1):
        raise ConfigError("custom weights must lie in [0, 1]")
    if not np.allclose(np.diag(w), 1.0):
        raise ConfigError(
            "custom weights must have 1 on the diagonal (identical ratings agree fully)",
            hint=f"diagonal is {np.diag(w).tolist()}",
        )
    return w


def is_identity(w: FloatArray) -> bool:
    """Whether ``w`` is the identity matrix (unweighted analysis)."""
    return bool(w.shape[0] == w.shape[1] and np.array_equal(w, np.eye(w.shape[0])))
