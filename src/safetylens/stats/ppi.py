"""Violation rates from a judge that rates every answer and people who rate a sample of them.

An automatic harm judge scores all ``N`` answers of a run; people label only ``n`` of them. The
human label is the truth, and the target is the human violation rate over the ``N`` answers,

    θ = (1/N) Σ_{i=1..N} Y_i,

a fixed number once the answers and their (possibly unseen) human labels are fixed. The only
randomness the intervals below account for is which answers were sent to people: this is
design-based inference, as in survey sampling, so nothing is assumed about the judge. A biased or
useless judge costs interval width, never validity.

Estimators (all return an :class:`~safetylens.stats.ci.Estimate` in percent):

- :func:`ppi_rate`: prediction-powered inference (Angelopoulos, Bates, Fannjiang, Jordan and
  Zrnic, "Prediction-powered inference", Science 382, 2023) for a mean: the judge's mean over all
  ``N`` answers, corrected by the mean of the "rectifier" ``Y_i - f_i`` on a uniform random sample.
  With a fixed weight λ on the judge, ``θ̂ = λ·mean_N(f) + mean_S(Y - λf)``. For λ = 1 this is
  exactly the difference estimator of model-assisted survey sampling (Särndal, Swensson and
  Wretman, *Model Assisted Survey Sampling*, Springer 1992), with the judge's score as the
  auxiliary prediction; for other λ it is the difference estimator with prediction ``λf``.
- :func:`ppi_plusplus_rate`: PPI++ (Angelopoulos, Duchi and Zrnic, "PPI++: Efficient
  prediction-powered inference", arXiv:2311.01453, 2023): λ chosen from the data to minimise the
  variance, clipped to [0, 1] so the estimate lies between the human-only mean (λ = 0) and PPI
  (λ = 1). The variance-minimising λ is the regression slope of ``Y`` on ``f``, which makes this
  the regression estimator of survey sampling.
- :func:`active_ppi_rate`: the same correction when answers were sampled with unequal, known
  inclusion probabilities ``π_i`` (more labels where the judge is unsure), weighted by ``1/π_i``
  (Horvitz and Thompson, JASA 47, 1952): the "active inference" estimator of Zrnic and Candès,
  "Active statistical inference", ICML 2024 (arXiv:2403.03208), on a finite population.
- :func:`human_only_rate`: the baseline that ignores the judge, a Wilson interval on the sample.

Samplers: :func:`uniform_sample` (``n`` of ``N`` without replacement), :func:`inclusion_probabilities`
(``π_i`` proportional to the judge's uncertainty ``sqrt(p(1 - p))``, mixed with uniform so no
answer's chance falls below a floor) and :func:`poisson_sample` (each answer independently with
probability ``π_i``).

Sampling assumptions. :func:`ppi_rate` and :func:`ppi_plusplus_rate` assume the labelled answers
are a uniform random subset of the ``N`` answers of fixed size ``n`` (simple random sampling without
replacement, as :func:`uniform_sample` draws). The judge's mean over all ``N`` is then a known
constant, not an estimate, so the only variance is the rectifier's, with the finite-population
correction ``1 - n/N``. PPI's own interval, ``σ²_f/N + σ²_{f-Y}/n``, is for a different setup: a
superpopulation mean, with the judge run on a separate unlabelled sample whose mean is itself
uncertain. :func:`active_ppi_rate` assumes Poisson sampling: each answer labelled independently
with its recorded ``π_i``, as :func:`poisson_sample` draws. Answers chosen by hand, or labels
missing for reasons related to the answer, break these assumptions and no interval here can
repair that.

Typical use, with ``judge_prob`` the judge's P(violation) for each of the ``N`` answers::

    idx = uniform_sample(len(judge_prob), 200, seed=0)  # the answers to send to people
    human = ...  # their 0/1 labels, in the order of idx
    ppi_plusplus_rate(judge_prob, idx, human)  # judge + people
    human_only_rate(human, population_size=len(judge_prob))  # people alone, for the width it costs

Intervals are normal (CLT) intervals ``θ̂ ± z·se``, cut to [0, 100] % (the true rate lies there, so
cutting never loses coverage). The reported value is cut to [0, 100] % as well; the uncut estimate,
the one that is unbiased, is in ``extra["unclipped_value"]``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as _st

from safetylens.errors import DataError
from safetylens.stats.ci import Estimate, proportion

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# The weight on the judge: a fixed number in [0, 1], or "tuned" to estimate the best one.
Lambda = float | Literal["tuned"]


# ---------------------------------------------------------------------------------------------
# Input checks


def _as_float_vector(values: ArrayLike, name: str) -> FloatArray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numbers: {exc}") from exc
    if arr.ndim != 1:
        raise DataError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _first_bad(mask: NDArray[np.bool_], values: FloatArray) -> str:
    pos = np.flatnonzero(mask)[:5]
    return ", ".join(f"{float(values[p])!r} at position {p}" for p in pos)


def _check_judge(judge: ArrayLike) -> FloatArray:
    f = _as_float_vector(judge, "judge scores")
    if f.size == 0:
        raise DataError("no judged answers: the judge must score every one of the N answers")
    bad = ~np.isfinite(f) | (f < 0) | (f > 1)
    if bad.any():
        raise DataError(f"judge scores must lie in [0, 1] (a 0/1 verdict or P(violation)); got {_first_bad(bad, f)}")
    return f


def _check_sample(labelled: ArrayLike, human: ArrayLike, n_items: int) -> tuple[IntArray, FloatArray]:
    idx_raw = np.asarray(labelled)
    y = _as_float_vector(human, "human labels")
    if idx_raw.ndim != 1:
        raise DataError(f"labelled must be a one-dimensional list of item indices, got shape {idx_raw.shape}")
    if idx_raw.size != y.size:
        raise DataError(
            f"{idx_raw.size} labelled item indices but {y.size} human labels: give one label per labelled item"
        )
    if y.size == 0:
        raise DataError("no labelled items: people must label at least one answer")
    if idx_raw.dtype.kind not in "iu":
        raise DataError(f"labelled must hold integer item indices, got dtype {idx_raw.dtype}")
    idx = idx_raw.astype(np.int64)
    out = (idx < 0) | (idx >= n_items)
    if out.any():
        raise DataError(f"labelled item indices must lie in [0, {n_items}); got {idx[out][:5].tolist()}")
    seen = np.bincount(idx, minlength=n_items)
    if seen.max() > 1:
        raise DataError(f"each item may be labelled once; repeated indices {np.flatnonzero(seen > 1)[:5].tolist()}")
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise DataError(f"human labels must be 0 (no violation) or 1 (violation); got {_first_bad(bad, y)}")
    return idx, y


@lru_cache(maxsize=32)
def _z(level: float) -> float:
    # The quantile is the same for every call at a level, and scipy's ppf costs more than the
    # estimate itself; simulations call the estimators thousands of times.
    return float(_st.norm.ppf(0.5 + level / 2))


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _check_lambda(lam: Lambda) -> None:
    if isinstance(lam, str):
        if lam != "tuned":
            raise ValueError(f"lam must be a number in [0, 1] or 'tuned', got {lam!r}")
    elif not 0 <= lam <= 1:
        raise ValueError(f"lam must lie in [0, 1] or be 'tuned', got {lam}")


# ---------------------------------------------------------------------------------------------
# Shared result assembly


def _effective_n(s2: float, var: float, n_items: int) -> float:
    """Uniform human labels whose plain mean would have variance ``var``.

    A simple random sample of ``m`` of ``N`` items has ``Var(ȳ) = (1 - m/N) S² / m``, with ``S²``
    the variance of the human labels over the ``N`` items; solving for ``m`` gives
    ``S² / (var + S²/N)``. ``S²`` is itself estimated, so this is a guide to what the judge is
    worth in labels, not an exact count; with the sample variance of the labels as ``S²`` and the
    judge ignored (λ = 0) it is exactly the number of labels.
    """
    # No sampling variance left (every item labelled, or nothing left to vary): as good as labelling all N.
    if var == 0:
        return float(n_items)
    if math.isnan(var) or math.isnan(s2):
        return float("nan")
    return s2 / (var + s2 / n_items)


def _result(
    *,
    theta: float,
    var: float,
    n_labels: int,
    n_items: int,
    judge_mean: float,
    label_var: float,
    lam: float,
    level: float,
    method: str,
    extra: dict[str, float] | None = None,
) -> Estimate:
    z = _z(level)
    se = math.sqrt(var) if var >= 0 else float("nan")
    if math.isnan(se):
        lo = hi = float("nan")
    else:
        lo = min(max(theta - z * se, 0.0), 1.0)
        hi = min(max(theta + z * se, 0.0), 1.0)
    info: dict[str, float] = {
        "N": float(n_items),
        "judge_rate": 100.0 * judge_mean,
        "lambda": lam,
        "effective_n": _effective_n(label_var, var, n_items),
        "se": 100.0 * se,
        "unclipped_value": 100.0 * theta,
    }
    if extra:
        info.update(extra)
    return Estimate(
        value=100.0 * min(max(theta, 0.0), 1.0),
        ci_low=100.0 * lo,
        ci_high=100.0 * hi,
        n=n_labels,
        level=level,
        method=method,
        unit="%",
        extra=info,
    )


# ---------------------------------------------------------------------------------------------
# Uniform sample: PPI, PPI++ (difference and regression estimators)


def ppi_rate(
    judge: ArrayLike,
    labelled: ArrayLike,
    human: ArrayLike,
    *,
    lam: Lambda = 1.0,
    level: float = 0.95,
) -> Estimate:
    """Human violation rate over ``N`` answers from the judge on all and people on a uniform sample.

    Prediction-powered inference for a mean (Angelopoulos, Bates, Fannjiang, Jordan and Zrnic,
    "Prediction-powered inference", Science 382:669-674, 2023)::

        θ̂ = λ·mean_{all N}(f) + mean_{labelled}(Y - λ·f)
        Var̂ = (1 - n/N) · s²(Y - λ·f) / n          (s²: sample variance over the labelled items)

    For λ = 1 the second term is PPI's rectifier, the mean of ``Y - f``, and θ̂ is the classical
    difference estimator of model-assisted survey sampling (Särndal, Swensson and Wretman 1992):
    the two views coincide. For any fixed λ the estimate is exactly unbiased for the human rate over
    the ``N`` answers when the labelled answers are a uniform random subset of fixed size (see the
    module docstring for this assumption). ``lam="tuned"`` is PPI++ (:func:`ppi_plusplus_rate`).

    Args:
        judge: The judge's score for each of the ``N`` answers, in [0, 1]: its 0/1 verdict or its
            P(violation) (a calibrated probability usually gives a narrower interval).
        labelled: Indices (into ``judge``) of the ``n`` answers people labelled, each once.
        human: The human label (1 = violation, 0 = none) of each labelled answer, in the order of
            ``labelled``.
        lam: Weight on the judge in [0, 1] (1: PPI; 0: human-only sample mean), or ``"tuned"``.
        level: Confidence level.

    Returns:
        The rate in percent with a normal interval (not estimable, NaN, with one label unless all
        ``N`` are labelled); ``n`` is the number of human labels; ``extra`` holds ``N``,
        ``judge_rate`` (the judge's mean over all ``N``, %), ``lambda``, ``effective_n`` (uniform
        human labels a human-only estimate would need for the same variance), ``se`` (%) and
        ``unclipped_value`` (%).

    Raises:
        DataError: Judge scores outside [0, 1], labels not 0/1, indices out of range or repeated,
            lengths that differ, or no labelled items.
        ValueError: ``lam`` or ``level`` out of range.
    """
    _check_lambda(lam)
    _check_level(level)
    f = _check_judge(judge)
    idx, y = _check_sample(labelled, human, f.size)
    n_items, n = f.size, idx.size
    fs = f[idx]
    tuned = lam == "tuned"
    weight = _tuned_lambda_uniform(fs, y) if tuned else float(lam)
    resid = y - weight * fs
    judge_mean = float(f.mean())
    theta = weight * judge_mean + float(resid.mean())
    if n == n_items:
        var = 0.0  # everyone labelled: the human rate is known exactly
    elif n < 2:
        var = float("nan")
    else:
        var = (1 - n / n_items) * float(resid.var(ddof=1)) / n
    label_var = float(y.var(ddof=1)) if n >= 2 else float("nan")
    name = "ppi++" if tuned else "ppi"
    return _result(
        theta=theta,
        var=var,
        n_labels=n,
        n_items=n_items,
        judge_mean=judge_mean,
        label_var=label_var,
        lam=weight,
        level=level,
        method=f"{name}(lambda={weight:.3f}, uniform sample {n} of {n_items}, normal)",
    )


def _tuned_lambda_uniform(fs: FloatArray, y: FloatArray) -> float:
    """The variance-minimising λ for a uniform sample, estimated, clipped to [0, 1].

    ``Var(θ̂_λ) ∝ S²(Y - λf)`` is smallest at ``λ = S(Y, f) / S²(f)``, the population regression
    slope of ``Y`` on ``f``. (PPI++ has ``Cov / ((1 + n/N) Var)`` because its unlabelled mean is
    itself random; here the judge's mean over all ``N`` is a constant, so that factor is absent.)
    Both moments are estimated on the labelled items, which makes λ the least-squares slope and θ̂
    the regression estimator. Taking ``S²(f)`` from all ``N`` answers instead would be more
    precise, but its error no longer cancels the covariance's: with a skewed judge score, as for
    rare violations, the ``1/n`` bias it leaves is larger.
    """
    # Without two labels there is no covariance to estimate, and a judge constant on the sample
    # shows no slope: fall back to the human-only mean.
    if y.size < 2:
        return 0.0
    fc = fs - fs.mean()
    sxx = float(fc @ fc)
    if sxx == 0:
        return 0.0
    return min(max(float(fc @ (y - y.mean())) / sxx, 0.0), 1.0)


def ppi_plusplus_rate(
    judge: ArrayLike,
    labelled: ArrayLike,
    human: ArrayLike,
    *,
    level: float = 0.95,
) -> Estimate:
    """PPI++: :func:`ppi_rate` with the weight λ on the judge chosen from the data.

    Power-tuned prediction-powered inference (Angelopoulos, Duchi and Zrnic, "PPI++: Efficient
    prediction-powered inference", arXiv:2311.01453, 2023). λ estimates the variance-minimising
    weight, the regression slope of the human label on the judge's score, clipped to [0, 1]: a
    judge that tracks people gets λ near 1 (the full PPI gain), a useless one gets λ near 0 and the
    interval falls back to about the human-only one instead of growing wider. With λ estimated the
    estimator is the regression estimator of survey sampling (Särndal, Swensson and Wretman 1992):
    unbiased up to a term of order ``1/n``, with an asymptotically valid interval.

    Args:
        judge: The judge's score for each of the ``N`` answers, in [0, 1].
        labelled: Indices (into ``judge``) of the answers people labelled, each once.
        human: The 0/1 human label of each labelled answer, in the order of ``labelled``.
        level: Confidence level.

    Returns:
        As :func:`ppi_rate`; ``extra["lambda"]`` is the tuned λ.

    Raises:
        DataError: As :func:`ppi_rate`.
        ValueError: ``level`` out of range.
    """
    return ppi_rate(judge, labelled, human, lam="tuned", level=level)


# ---------------------------------------------------------------------------------------------
# Unequal-probability (active) sampling


def inclusion_probabilities(judge_prob: ArrayLike, n: float, *, uniform_share: float = 0.2) -> FloatArray:
    """Inclusion probabilities that send more labels where the judge is unsure.

    Item ``i`` gets ``π_i ∝ (1 - s)·u_i/Σu + s/N`` with ``u_i = sqrt(p_i(1 - p_i))``, scaled so
    the ``π_i`` add up to ``n``, the expected number of labels. For a calibrated judge,
    ``sqrt(p(1 - p))`` is the standard deviation of the rectifier ``Y - p``, and ``π`` proportional
    to it minimises the Horvitz-Thompson variance for a given expected ``n`` (Zrnic and Candès,
    "Active statistical inference", ICML 2024). The uniform share ``s`` keeps every
    ``π_i >= s·n/N``: a judge that is confidently wrong about an answer still leaves that answer a
    real chance of reaching people, which bounds the weights ``1/π`` and so the variance. Items
    whose ``π`` would exceed 1 are labelled with certainty and their surplus is spread over the
    rest in proportion.

    Args:
        judge_prob: The judge's P(violation) for each of the ``N`` answers, in [0, 1]. With 0/1
            verdicts every ``u_i`` is 0 and the design is uniform.
        n: Expected number of human labels, in (0, N].
        uniform_share: Share ``s`` of the budget spread uniformly, in (0, 1].

    Returns:
        ``π``, one probability in (0, 1] per answer, summing to ``n``.

    Raises:
        DataError: Probabilities outside [0, 1] or no answers.
        ValueError: ``n`` or ``uniform_share`` out of range.
    """
    p = _check_judge(judge_prob)
    n_items = p.size
    if not 0 < n <= n_items:
        raise ValueError(f"expected number of labels n must lie in (0, {n_items}], got {n}")
    if not 0 < uniform_share <= 1:
        raise ValueError(f"uniform_share must lie in (0, 1], got {uniform_share}")
    u = np.sqrt(p * (1 - p))
    total = float(u.sum())
    share = (1 - uniform_share) * u / total + uniform_share / n_items if total > 0 else np.full(n_items, 1 / n_items)
    pi = n * share
    certain = np.zeros(n_items, dtype=bool)
    # Each pass fixes at least one more item at 1, so this ends within N passes; the scale-up of the
    # others never lowers a probability, so the floor s·n/N holds throughout.
    while True:
        over = ~certain & (pi > 1)
        if not over.any():
            break
        certain |= over
        pi[certain] = 1.0
        rest = ~certain
        if not rest.any():
            break
        pi[rest] = (n - certain.sum()) * share[rest] / share[rest].sum()
    return np.minimum(pi, 1.0)


def poisson_sample(inclusion: ArrayLike, *, seed: int = 0) -> IntArray:
    """Draw a Poisson sample: each item independently, item ``i`` with probability ``π_i``.

    The draws are ``numpy.random.default_rng(seed).random(N) < π``, so a seed reproduces the
    sample. The sample size is random, with mean ``Σπ``; the independence is what makes the
    Horvitz-Thompson variance of :func:`active_ppi_rate` a simple sum over items.

    Args:
        inclusion: ``π_i`` for each item, in (0, 1] (from :func:`inclusion_probabilities`).
        seed: Seed of the generator.

    Returns:
        The sorted indices of the sampled items (possibly none).

    Raises:
        DataError: A probability outside (0, 1].
    """
    pi = _check_inclusion(inclusion)
    rng = np.random.default_rng(seed)
    return np.flatnonzero(rng.random(pi.size) < pi).astype(np.int64)


def uniform_sample(n_items: int, n: int, *, seed: int = 0) -> IntArray:
    """Draw ``n`` of ``n_items`` items uniformly without replacement (the design of :func:`ppi_rate`).

    Args:
        n_items: ``N``, the number of answers.
        n: Number to label, in [1, N].
        seed: Seed of ``numpy.random.default_rng``.

    Returns:
        The sorted indices of the sampled items.

    Raises:
        ValueError: ``n`` outside [1, N].
    """
    if not 1 <= n <= n_items:
        raise ValueError(f"n must lie in [1, {n_items}], got {n}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_items, size=n, replace=False)).astype(np.int64)


def _check_inclusion(inclusion: ArrayLike, n_items: int | None = None) -> FloatArray:
    pi = _as_float_vector(inclusion, "inclusion probabilities")
    if n_items is not None and pi.size != n_items:
        raise DataError(f"{pi.size} inclusion probabilities but {n_items} judged answers: give one π per answer")
    bad = ~np.isfinite(pi) | (pi <= 0) | (pi > 1)
    if bad.any():
        raise DataError(
            "inclusion probabilities must lie in (0, 1] (an item that cannot be drawn makes the "
            f"rate unidentifiable); got {_first_bad(bad, pi)}"
        )
    return pi


def active_ppi_rate(
    judge: ArrayLike,
    labelled: ArrayLike,
    human: ArrayLike,
    inclusion: ArrayLike,
    *,
    lam: Lambda = 1.0,
    level: float = 0.95,
) -> Estimate:
    """Human violation rate from a judge on all answers and people on a Poisson sample with known ``π``.

    The inverse-probability-weighted (Horvitz-Thompson) rectifier of active inference (Zrnic and
    Candès, "Active statistical inference", ICML 2024, arXiv:2403.03208), on the finite set of
    ``N`` answers, each labelled independently with probability ``π_i``::

        θ̂ = (1/N) [ Σ_{all N} λ·f_i + Σ_{labelled} (Y_i - λ·f_i) / π_i ]
        Var̂ = (1/N²) Σ_{labelled} (1 - π_i) (Y_i - λ·f_i)² / π_i²

    For a fixed λ, θ̂ is exactly unbiased for the human rate over the ``N`` answers, whatever the
    judge, because each ``(Y_i - λf_i)/π_i`` counts item ``i``'s rectifier in expectation once; and
    ``Var̂`` is the unbiased Horvitz-Thompson estimate of the variance under Poisson sampling
    (Särndal, Swensson and Wretman 1992). ``lam="tuned"`` chooses the λ minimising
    ``Σ (1 - π_i)/π_i · (Y_i - λf_i)²`` over all ``N``, i.e. ``Σ w Y f / Σ w f²`` with
    ``w = (1 - π)/π``, both sums estimated from the labelled items with weights ``1/π`` and the
    ratio clipped to [0, 1]; like PPI++ the estimate is then unbiased up to a term of order ``1/n``.
    Its interval also leans more on the normal approximation: in simulated studies of 2,000
    answers, about 200 labels and a 14 % rate it covered about 93.7 % of the time, against 94.6 %
    for λ = 1 (20,000 studies each), for an interval about 4 % narrower. λ = 1, the default, is
    the safer choice unless the judge is poor.

    Args:
        judge: The judge's score for each of the ``N`` answers, in [0, 1].
        labelled: Indices (into ``judge``) of the answers drawn and labelled, each once.
        human: The 0/1 human label of each labelled answer, in the order of ``labelled``.
        inclusion: ``π_i`` for every one of the ``N`` answers, in (0, 1]: the probabilities the
            sample was actually drawn with (:func:`inclusion_probabilities`, :func:`poisson_sample`).
        lam: Weight on the judge in [0, 1], or ``"tuned"``.
        level: Confidence level.

    Returns:
        The rate in percent with a normal interval; ``n`` is the number of human labels; ``extra``
        holds ``N``, ``judge_rate`` (%), ``lambda``, ``effective_n``, ``se`` (%),
        ``unclipped_value`` (%) and ``expected_n`` (``Σπ``).

    Raises:
        DataError: Judge scores outside [0, 1], labels not 0/1, ``π`` outside (0, 1] or not one per
            answer, indices out of range or repeated, lengths that differ, or no labelled items.
        ValueError: ``lam`` or ``level`` out of range.
    """
    _check_lambda(lam)
    _check_level(level)
    f = _check_judge(judge)
    pi = _check_inclusion(inclusion, f.size)
    idx, y = _check_sample(labelled, human, f.size)
    n_items, n = f.size, idx.size
    fs, ps = f[idx], pi[idx]
    tuned = lam == "tuned"
    if tuned:
        # Both sums are Horvitz-Thompson estimates from the labels, so their errors partly cancel
        # (as for the least-squares slope of a uniform sample).
        w = (1 - ps) / ps**2
        denom = float(np.sum(w * fs * fs))
        num = float(np.sum(w * y * fs))
        # All labelled π = 1 or a judge scoring 0 on the sample: no information on λ.
        weight = min(max(num / denom, 0.0), 1.0) if denom > 0 else 0.0
    else:
        weight = float(lam)
    resid = y - weight * fs
    judge_mean = float(f.mean())
    theta = weight * judge_mean + float(np.sum(resid / ps)) / n_items
    var = float(np.sum((1 - ps) * resid**2 / ps**2)) / n_items**2
    # The labels' variance over all N, for the effective sample size: θ(1 - θ) for 0/1 labels, with
    # the Horvitz-Thompson mean of the labels for θ and the N - 1 divisor of a population S².
    ht_rate = min(max(float(np.sum(y / ps)) / n_items, 0.0), 1.0)
    label_var = ht_rate * (1 - ht_rate) * (n_items / (n_items - 1) if n_items > 1 else 1.0)
    name = "active-ppi++" if tuned else "active-ppi"
    return _result(
        theta=theta,
        var=var,
        n_labels=n,
        n_items=n_items,
        judge_mean=judge_mean,
        label_var=label_var,
        lam=weight,
        level=level,
        method=f"{name}(lambda={weight:.3f}, poisson sample, horvitz-thompson, normal)",
        extra={"expected_n": float(pi.sum())},
    )


# ---------------------------------------------------------------------------------------------
# Human-only baseline


def human_only_rate(human: ArrayLike, *, population_size: int | None = None, level: float = 0.95) -> Estimate:
    """The baseline that ignores the judge: the human violation rate of the sample, Wilson interval.

    Without ``population_size`` this is :func:`~safetylens.stats.ci.proportion` (Wilson, JASA 22,
    1927), the interval for a superpopulation rate. With it, the sample is taken as a uniform draw
    without replacement from ``N`` answers and the target as their rate, as for :func:`ppi_rate`:
    the Wilson formula then uses the effective sample size ``n (N - 1) / (N - n)``, the sample size
    divided by the finite-population design effect (Kish, *Survey Sampling*, 1965), so widths
    compare like with like.

    Args:
        human: The 0/1 human labels of the sample.
        population_size: ``N``, the number of answers the sample was drawn from (at least ``n``),
            or None.
        level: Confidence level.

    Returns:
        The rate in percent; ``n`` is the number of labels; with ``population_size``, ``extra``
        holds ``N``, ``effective_n`` (``n``, as the other estimators count it) and ``wilson_n``
        (the sample size the Wilson formula used).

    Raises:
        DataError: Labels not 0/1, no labels, or ``population_size`` below the number of labels.
        ValueError: ``level`` out of range.
    """
    _check_level(level)
    y = _as_float_vector(human, "human labels")
    if y.size == 0:
        raise DataError("no labelled items: people must label at least one answer")
    bad = (y != 0) & (y != 1)
    if bad.any():
        raise DataError(f"human labels must be 0 (no violation) or 1 (violation); got {_first_bad(bad, y)}")
    n, k = int(y.size), int(y.sum())
    if population_size is None:
        return proportion(k, n, level=level)
    if population_size < n:
        raise DataError(f"population_size={population_size} is smaller than the {n} labelled answers")
    p = k / n
    if population_size == n:
        # Every answer labelled: the rate is known exactly.
        lo = hi = p
        n_eff = float("inf")
    else:
        n_eff = n * (population_size - 1) / (population_size - n)
        z = _z(level)
        denom = 1 + z * z / n_eff
        centre = (p + z * z / (2 * n_eff)) / denom
        half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / denom
        lo = 0.0 if k == 0 else max(0.0, centre - half)
        hi = 1.0 if k == n else min(1.0, centre + half)
    return Estimate(
        value=100.0 * p,
        ci_low=100.0 * lo,
        ci_high=100.0 * hi,
        n=n,
        level=level,
        method=f"wilson(finite population {population_size})",
        unit="%",
        extra={"N": float(population_size), "effective_n": float(n), "wilson_n": n_eff},
    )
