"""Inter-rater reliability: chance-corrected agreement coefficients with standard errors.

The Llama 2 paper reports Gwet's AC1/AC2 for its human evaluations without naming the AC2 weights
(human-eval.md §0); this module computes AC1/AC2 and its peers for any weighting, always reporting
the weights, the category set, the standard error and a confidence interval.

Formulas are those of Gwet's own R package **kgwet/irrCAC** v1.4 (``R/agree.coeff3.raw.r``,
``R/agree.coeff3.dist.r``, ``R/agree.coeff2.r``), which implements Gwet, *Handbook of Inter-Rater
Reliability*, 4th ed. (2014), and Gwet (2008), "Computing inter-rater reliability and its variance in
the presence of high agreement", *BJMSP* 61:29-48. They are transcribed in human-eval.md §1.2-1.4.

Notation: ``n`` subjects rated at least once, ``q`` categories, weights ``w_kl``, ``r_ik`` raters who put
subject ``i`` in category ``k``, ``r_i = Σ_k r_ik``, ``r*_ik = Σ_l w_kl r_il``, ``n'`` subjects with
``r_i >= 2``, ``π_k = (1/n) Σ_i r_ik / r_i``. Every coefficient is ``(pa - pe) / (1 - pe)`` with

==================  ====================================================================
percent agreement   ``pa = (1/n') Σ_{r_i>=2} Σ_k r_ik (r*_ik - 1) / (r_i (r_i - 1))``, ``pe = 0``
Gwet AC1/AC2        ``pe = T_w / (q (q-1)) Σ_k π_k (1 - π_k)``, ``T_w = Σ_kl w_kl``
Fleiss (weighted)   ``pe = Σ_kl w_kl π_k π_l``
Brennan-Prediger    ``pe = T_w / q²``
Conger              ``pe = Σ_kl w_kl (p̄_k p̄_l - s²_kl / r)`` over rater-specific marginals
Krippendorff        ``pa = (1 - ε) pa' + ε`` on subjects with ``r_i >= 2`` (see :func:`krippendorff_alpha`)
Cohen / Scott       two raters, from their contingency table
==================  ====================================================================

Standard errors are Gwet's (2008) linearisation, conditional on the raters (subjects are the only
source of sampling variation), with an optional finite-population correction ``1 - n/N``. Intervals
are ``coef ∓ t_{1-α/2, df} · se`` with the upper bound capped at 1, as irrCAC does.

The two published implementations differ in three places (human-eval.md §1.4); :class:`IrrOptions`
reproduces either: R irrCAC (the default) or the Python port afergadis/irrCAC v0.4.4.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel, ConfigDict, Field
from scipy import special as _sp

from safetylens.errors import ConfigError, DataError
from safetylens.stats.ci import Estimate
from safetylens.stats.irr_data import Category, FloatArray, Ratings
from safetylens.stats.irr_weights import (
    VALUE_BASED,
    WEIGHT_NAMES,
    WeightName,
    check_custom_weights,
    is_identity,
    weight_matrix,
)

__all__ = [
    "AgreementResult",
    "IrrOptions",
    "KrippendorffLevel",
    "Method",
    "Ratings",
    "agreement",
    "all_coefficients",
    "brennan_prediger",
    "cohen_kappa",
    "conger_kappa",
    "fleiss_kappa",
    "gwet_ac",
    "krippendorff_alpha",
    "krippendorff_alpha_level",
    "percent_agreement",
    "scott_pi",
    "violation_agreement",
]

Method = Literal["percent_agreement", "gwet", "fleiss", "krippendorff", "conger", "brennan_prediger", "cohen", "scott"]
KrippendorffLevel = Literal["nominal", "ordinal", "interval", "ratio"]
WeightsArg = WeightName | str | ArrayLike
RatingsArg = Ratings | ArrayLike | Sequence[Sequence[Any]]

# 1 - pe below this is treated as zero: the coefficient is then undefined (all ratings in one category).
_DEGENERATE = 1e-12
# Standard errors below this are floating-point noise around an exact zero.
_TINY = 1e-12


class IrrOptions(BaseModel):
    """How standard errors, intervals and p-values are computed.

    The defaults reproduce R irrCAC v1.4; :meth:`irrcac_python` reproduces the Python port
    afergadis/irrCAC v0.4.4 (human-eval.md §1.4 lists the differences).

    Attributes:
        conf_level: Confidence level of the interval.
        population_size: Size ``N`` of the subject population for the finite-population correction
            ``1 - n/N`` of the variance; ``None`` for an infinite population (no correction).
        p_value: ``"one-sided"`` (R: ``1 - T_{df}(coef/se)``) or ``"two-sided"`` (Python port:
            ``2 (1 - T_{df}(|coef/se|))``), both testing "coefficient = 0".
        krippendorff_df: Degrees of freedom of Krippendorff's interval and p-value: ``"all-subjects"``
            (R: subjects rated at least once, minus 1) or ``"paired-subjects"`` (Python port: subjects
            rated at least twice, minus 1). Other coefficients always use ``n - 1``.
        krippendorff_variance: ``"raw"`` (R ``krippen.alpha.raw``), ``"python-port"`` (the port uses
            ``pa`` where R uses ``pa'`` in the subject terms; 4th-digit differences) or ``"dist"``
            (R ``krippen.alpha.dist``, the formula irrCAC uses for count tables).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    conf_level: float = Field(0.95, gt=0.0, lt=1.0)
    population_size: float | None = Field(None, gt=0.0)
    p_value: Literal["one-sided", "two-sided"] = "one-sided"
    krippendorff_df: Literal["all-subjects", "paired-subjects"] = "all-subjects"
    krippendorff_variance: Literal["raw", "python-port", "dist"] = "raw"

    @classmethod
    def irrcac_r(cls, **overrides: Any) -> IrrOptions:
        """R irrCAC v1.4 conventions (the defaults)."""
        return cls(**overrides)

    @classmethod
    def irrcac_python(cls, **overrides: Any) -> IrrOptions:
        """Python port (afergadis/irrCAC v0.4.4) conventions: two-sided p, ``n'' - 1`` df for alpha."""
        base: dict[str, Any] = {
            "p_value": "two-sided",
            "krippendorff_df": "paired-subjects",
            "krippendorff_variance": "python-port",
        }
        return cls(**(base | overrides))


class AgreementResult(BaseModel):
    """One agreement coefficient with its precision.

    Attributes:
        method: Machine name, e.g. ``"gwet"``, ``"krippendorff"``, ``"krippendorff_ordinal"``.
        name: Display name, e.g. ``"Gwet's AC2"``.
        weights: Name of the weighting (``"identity"``, ``"quadratic"``, ..., ``"custom"``, or
            ``"ordinal metric"`` for Krippendorff's own ordinal alpha).
        coefficient: The chance-corrected agreement ``(pa - pe) / (1 - pe)``; NaN when undefined.
        pa: Observed (weighted) agreement.
        pe: Chance agreement.
        se: Standard error (Gwet 2008 linearisation, conditional on the raters).
        ci_low: Lower confidence bound (not truncated).
        ci_high: Upper confidence bound, capped at 1.
        p_value: P-value of "coefficient = 0" (sidedness in ``p_value_sides``).
        df: Degrees of freedom of the t distribution used.
        conf_level: Confidence level of the interval.
        p_value_sides: ``"one-sided"`` or ``"two-sided"``.
        n_subjects: Subjects entering the estimate (for Krippendorff: rated at least twice; for
            Cohen/Scott: rated by both raters).
        n_raters: Raters who gave at least one rating.
        n_ratings: Ratings used.
        categories: The full category set, in scale order.
        note: Why a value is NaN, or a caveat about the standard error.
    """

    model_config = ConfigDict(frozen=True)

    method: str
    name: str
    weights: str
    coefficient: float
    pa: float
    pe: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: int
    conf_level: float
    p_value_sides: str
    n_subjects: int
    n_raters: int
    n_ratings: int
    categories: tuple[int | float | str, ...]
    note: str = ""

    def to_estimate(self) -> Estimate:
        """Convert to a report :class:`~safetylens.stats.ci.Estimate` (value, CI, n, method)."""
        return Estimate(
            value=self.coefficient,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            n=self.n_subjects,
            level=self.conf_level,
            method=f"{self.name}, {self.weights} weights; Gwet (2008) linearised SE, t({self.df}) interval",
            unit="",
            extra={"se": self.se, "pa": self.pa, "pe": self.pe, "p_value": self.p_value},
        )

    def summary(self) -> dict[str, float]:
        """The numeric fields ``coefficient, pa, pe, se, ci_low, ci_high, p_value``."""
        return {
            "coefficient": self.coefficient,
            "pa": self.pa,
            "pe": self.pe,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
        }


# ---------------------------------------------------------------------------------------------- core


def _as_ratings(data: RatingsArg, categories: Sequence[Category] | None) -> Ratings:
    if isinstance(data, Ratings):
        if categories is not None and tuple(categories) != data.categories:
            raise ConfigError(
                "categories were given twice (in the Ratings object and as an argument) and differ",
                hint="declare the categories when building Ratings",
            )
        return data
    return Ratings.from_raw(data, categories)


def _resolve_weights(data: Ratings, weights: WeightsArg) -> tuple[FloatArray, str]:
    if isinstance(weights, str):
        if weights not in WEIGHT_NAMES:
            raise ConfigError(f"unknown weights {weights!r}", hint=f"use one of {', '.join(WEIGHT_NAMES)}")
        if weights != "identity" and data.values is None:
            kind = "distance" if weights in VALUE_BASED else "rank"
            raise ConfigError(
                f"{weights} weights need ordered categories, but the ratings are text labels in no declared order "
                f"({', '.join(map(str, data.categories))})",
                hint=f"declare the categories in scale order (e.g. --categories) so {kind}s are defined, "
                "or use identity weights",
            )
        values = data.values if data.values is not None else np.arange(1.0, data.q + 1.0)
        return weight_matrix(weights, values), weights
    return check_custom_weights(weights, data.q), "custom"


def _check_usable(data: Ratings) -> None:
    if data.q < 2:
        raise ConfigError(
            f"agreement needs at least 2 categories, got {data.q} ({data.categories})",
            hint="declare the full rating scale, e.g. --categories 1,2,3,4,5",
        )
    if data.codes is not None and data.n_raters < 2:
        raise DataError(
            f"agreement needs at least 2 raters; the data has {data.n_raters}",
            hint="one column per rater, one row per subject",
        )
    if not np.any(data.rater_counts >= 2):
        raise DataError(
            "no subject was rated by two or more raters, so agreement cannot be measured",
            hint="check that rows are subjects and columns are raters",
        )


def _by_weights(r: FloatArray, w: FloatArray) -> FloatArray:
    """``r @ w.T`` for a tall ``n x q`` matrix.

    einsum, not BLAS: with q of 2 to 7 the product is memory-bound, and a threaded BLAS call on such a
    thin matrix was 5-15x slower than einsum on a busy machine.
    """
    return np.asarray(np.einsum("il,kl->ik", r, w), dtype=float)


def _rowdot(r: FloatArray, v: FloatArray) -> FloatArray:
    """``r @ v`` for a tall ``n x q`` matrix (see :func:`_by_weights`)."""
    return np.asarray(np.einsum("ik,k->i", r, v), dtype=float)


class _Core:
    """Quantities shared by the multi-rater coefficients (irrCAC ``agree.mat``, ``sum.q``, ...)."""

    def __init__(self, data: Ratings, w: FloatArray, options: IrrOptions) -> None:
        _check_usable(data)
        self.data = data
        self.w = w
        self.opt = options
        r = np.asarray(data.counts, dtype=float)
        self.r = r
        self.q = r.shape[1]
        self.n = r.shape[0]
        self.ri = r.sum(axis=1)
        self.m2 = self.ri >= 2
        self.n2 = int(self.m2.sum())
        rw = _by_weights(r, w)  # r*_ik = Σ_l w_kl r_il
        self.sum_q = (r * (rw - 1.0)).sum(axis=1)
        den = self.ri * (self.ri - 1.0)
        self.pa_i = np.divide(self.sum_q, den, out=np.zeros(self.n), where=self.m2)
        self.pa = float(self.pa_i[self.m2].sum() / self.n2)
        self.pi = (r / self.ri[:, None]).mean(axis=0)
        self.tw = float(w.sum())
        self.f = self._fpc(self.n)

    def _fpc(self, n: int) -> float:
        N = self.opt.population_size
        if N is None:
            return 0.0
        if n > N:
            raise ConfigError(f"population size {N:g} is smaller than the {n} subjects rated")
        return n / N

    def result(
        self,
        method: str,
        name: str,
        weights: str,
        pa: float,
        pe: float,
        coef_terms: FloatArray | None,
        centre: float | None = None,
        *,
        n_var: int | None = None,
        df: int | None = None,
        f: float | None = None,
        coefficient: float | None = None,
        note: str = "",
        n_subjects: int | None = None,
        n_raters: int | None = None,
    ) -> AgreementResult:
        """Finish a coefficient: variance ``(1-f)/(n(n-1)) Σ (x_i - centre)²``, CI and p-value."""
        n_var = self.n if n_var is None else n_var
        df = self.n - 1 if df is None else df
        return _finish(
            method=method,
            name=name,
            weights=weights,
            pa=pa,
            pe=pe,
            coefficient=coefficient,
            terms=coef_terms,
            centre=centre,
            n_var=n_var,
            df=df,
            f=self.f if f is None else f,
            options=self.opt,
            n_subjects=self.n if n_subjects is None else n_subjects,
            n_raters=self.data.n_raters if n_raters is None else n_raters,
            n_ratings=self.data.n_ratings,
            categories=self.data.categories,
            note=note,
        )


def _finish(
    *,
    method: str,
    name: str,
    weights: str,
    pa: float,
    pe: float,
    coefficient: float | None,
    terms: FloatArray | None,
    centre: float | None,
    n_var: int,
    df: int,
    f: float,
    options: IrrOptions,
    n_subjects: int,
    n_raters: int,
    n_ratings: int,
    categories: tuple[Category, ...],
    note: str = "",
    variance: float | None = None,
) -> AgreementResult:
    nan = float("nan")
    if 1.0 - pe <= _DEGENERATE:
        coef = se = lo = hi = p = nan
        note = note or "undefined: chance agreement pe = 1 (every rating falls in one category)"
    else:
        coef = (pa - pe) / (1.0 - pe) if coefficient is None else coefficient
        if variance is None and terms is not None and n_var >= 2:
            c = coef if centre is None else centre
            variance = (1.0 - f) / (n_var * (n_var - 1.0)) * float(np.sum((terms - c) ** 2))
        if variance is None or df < 1:
            se = lo = hi = p = nan
            note = note or "standard error needs at least 2 subjects"
        else:
            se = math.sqrt(max(variance, 0.0))
            if se < _TINY:
                se = 0.0  # rounding noise of an exactly zero variance (e.g. perfect agreement)
            # scipy.special's Student-t functions: same values as stats.t, without its per-call overhead.
            tq = float(_sp.stdtrit(df, 1.0 - (1.0 - options.conf_level) / 2.0))
            lo = coef - tq * se
            hi = min(1.0, coef + tq * se)
            p = _p_value(coef, se, df, options.p_value)
    return AgreementResult(
        method=method,
        name=name,
        weights=weights,
        coefficient=float(coef),
        pa=float(pa),
        pe=float(pe),
        se=float(se),
        ci_low=float(lo),
        ci_high=float(hi),
        p_value=float(p),
        df=int(df),
        conf_level=options.conf_level,
        p_value_sides=options.p_value,
        n_subjects=n_subjects,
        n_raters=n_raters,
        n_ratings=n_ratings,
        categories=categories,
        note=note,
    )


def _p_value(coef: float, se: float, df: int, sides: str) -> float:
    if se == 0.0:
        if abs(coef) < _TINY:
            return float("nan")  # 0/0: no evidence either way
        stat = math.copysign(math.inf, coef)
    else:
        stat = coef / se
    if sides == "one-sided":
        return float(_sp.stdtr(df, -stat))  # P(T > stat)
    return float(2.0 * _sp.stdtr(df, -abs(stat)))


# ---------------------------------------------------------------------------------------------- coefficients


def percent_agreement(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Percent (weighted) agreement among any number of raters (irrCAC ``pa.coeff.raw``).

    ``pa = (1/n') Σ_{i: r_i>=2} Σ_k r_ik (r*_ik - 1) / (r_i (r_i - 1))``; its variance is
    ``(1-f)/(n(n-1)) Σ_i ((n/n') pa_i - pa)²`` (Gwet 2014; irrCAC ``pa.coeff.raw``; human-eval.md §1.2).

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    d = _as_ratings(data, categories)
    w, wname = _resolve_weights(d, weights)
    c = _Core(d, w, options or IrrOptions())
    terms = (c.n / c.n2) * c.pa_i
    return c.result("percent_agreement", "Percent agreement", wname, c.pa, 0.0, terms, c.pa)


def gwet_ac(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Gwet's AC1 (identity weights) or AC2 (any other weights) for any number of raters.

    ``pe = T_w / (q (q - 1)) Σ_k π_k (1 - π_k)`` (Gwet 2008, eq. 14; irrCAC ``gwet.ac1.raw``). Variance
    (Gwet 2008, eq. 25-27): with ``γ_i = (n/n') (pa_i - pe 1[r_i>=2]) / (1 - pe)``,
    ``pe_i = T_w/(q(q-1)) Σ_k (r_ik/r_i)(1 - π_k)`` and ``γ*_i = γ_i - 2 (1 - γ)(pe_i - pe)/(1 - pe)``,
    ``v = (1-f)/(n(n-1)) Σ_i (γ*_i - γ)²``.

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    d = _as_ratings(data, categories)
    w, wname = _resolve_weights(d, weights)
    c = _Core(d, w, options or IrrOptions())
    scale = c.tw / (c.q * (c.q - 1.0))
    pe = scale * float(np.sum(c.pi * (1.0 - c.pi)))
    name = "Gwet's AC1" if is_identity(w) else "Gwet's AC2"
    if 1.0 - pe <= _DEGENERATE:
        return c.result("gwet", name, wname, c.pa, pe, None)
    gamma = (c.pa - pe) / (1.0 - pe)
    g_i = (c.n / c.n2) * (c.pa_i - pe * c.m2) / (1.0 - pe)
    pe_i = scale * _rowdot(c.r, 1.0 - c.pi) / c.ri
    terms = g_i - 2.0 * (1.0 - gamma) * (pe_i - pe) / (1.0 - pe)
    return c.result("gwet", name, wname, c.pa, pe, terms, gamma)


def fleiss_kappa(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Fleiss' generalised (weighted) kappa for any number of raters, missing ratings allowed.

    ``pe = Σ_kl w_kl π_k π_l`` (Fleiss 1971; irrCAC ``fleiss.kappa.raw``). Variance as for AC1 with
    ``pe_i = Σ_k (r_ik / r_i) π̄_k``, ``π̄ = (W π + Wᵀ π) / 2`` (Gwet 2014; human-eval.md §1.4).

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    d = _as_ratings(data, categories)
    w, wname = _resolve_weights(d, weights)
    c = _Core(d, w, options or IrrOptions())
    pe = float(c.pi @ w @ c.pi)
    if 1.0 - pe <= _DEGENERATE:
        return c.result("fleiss", "Fleiss' kappa", wname, c.pa, pe, None)
    kappa = (c.pa - pe) / (1.0 - pe)
    k_i = (c.n / c.n2) * (c.pa_i - pe * c.m2) / (1.0 - pe)
    pibar = (w @ c.pi + w.T @ c.pi) / 2.0
    pe_i = _rowdot(c.r, pibar) / c.ri
    terms = k_i - 2.0 * (1.0 - kappa) * (pe_i - pe) / (1.0 - pe)
    return c.result("fleiss", "Fleiss' kappa", wname, c.pa, pe, terms, kappa)


def brennan_prediger(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Brennan and Prediger's (1981) coefficient: chance agreement ``pe = T_w / q²`` (irrCAC ``bp.coeff.raw``).

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    d = _as_ratings(data, categories)
    w, wname = _resolve_weights(d, weights)
    c = _Core(d, w, options or IrrOptions())
    pe = c.tw / c.q**2
    if 1.0 - pe <= _DEGENERATE:
        return c.result("brennan_prediger", "Brennan-Prediger", wname, c.pa, pe, None)
    bp = (c.pa - pe) / (1.0 - pe)
    terms = (c.n / c.n2) * (c.pa_i - pe * c.m2) / (1.0 - pe)
    return c.result("brennan_prediger", "Brennan-Prediger", wname, c.pa, pe, terms, bp)


def krippendorff_alpha(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Krippendorff's alpha in Gwet's formulation, for any weights (irrCAC ``krippen.alpha.raw``).

    On the ``n''`` subjects with ``r_i >= 2``, with ``r̄`` their mean number of ratings and
    ``ε = 1 / Σ r_i``: ``pa' = (1/n'') Σ_i Σ_k r_ik (r*_ik - 1) / (r̄ (r_i - 1))``,
    ``pa = (1 - ε) pa' + ε``, ``π_k = (1/n'') Σ_i r_ik / r̄``, ``pe = Σ_kl w_kl π_k π_l`` (Gwet 2014,
    ch. 4; human-eval.md §1.2). With identity weights this is Krippendorff's nominal alpha, with quadratic
    weights his interval alpha and with ratio weights his ratio alpha; Gwet's *ordinal* weights are not
    Krippendorff's ordinal metric (use :func:`krippendorff_alpha_level` for that).

    The variance follows ``options.krippendorff_variance`` (human-eval.md §1.4).

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    d = _as_ratings(data, categories)
    w, wname = _resolve_weights(d, weights)
    return _krippendorff(d, w, wname, options or IrrOptions(), "krippendorff", "Krippendorff's alpha")


def _krippendorff(
    d: Ratings,
    w: FloatArray,
    wname: str,
    opt: IrrOptions,
    method: str,
    name: str,
    coefficient: float | None = None,
    note: str = "",
) -> AgreementResult:
    c = _Core(d, w, opt)
    r = c.r[c.m2]
    rw = _by_weights(r, w)
    ri = c.ri[c.m2]
    n2 = r.shape[0]
    rbar = float(ri.mean())
    eps = 1.0 / float(ri.sum())
    sum_q = (r * (rw - 1.0)).sum(axis=1)
    pa_unit = sum_q / (rbar * (ri - 1.0))
    pa_prime = float(pa_unit.sum() / n2)
    pa = (1.0 - eps) * pa_prime + eps
    pi = (r / rbar).mean(axis=0)
    pe = float(pi @ w @ pi)
    df = (c.n if opt.krippendorff_df == "all-subjects" else n2) - 1
    common: dict[str, Any] = {"n_var": n2, "df": df, "n_subjects": n2, "note": note, "coefficient": coefficient}
    if 1.0 - pe <= _DEGENERATE:
        return c.result(method, name, wname, pa, pe, None, **common)
    alpha = (pa - pe) / (1.0 - pe)
    pibar = (w @ pi + w.T @ pi) / 2.0
    if opt.krippendorff_variance == "dist":
        # R krippen.alpha.dist: ε-corrected subject terms, factor 1 (not 2) on the pe term, centred on α.
        pa_i = (1.0 - eps) * (pa_unit - pa_prime * (ri - rbar) / rbar) + eps
        a_i = (pa_i - pe) / (1.0 - pe)
        pe_i = _rowdot(r, pibar) / rbar - float(pi.sum()) * (ri - rbar) / rbar
        terms = a_i - (1.0 - alpha) * (pe_i - pe) / (1.0 - pe)
        centre = alpha
    else:
        # R krippen.alpha.raw centres on α' = (pa' - pe)/(1 - pe); the Python port uses pa where R has pa'.
        base = pa_prime if opt.krippendorff_variance == "raw" else pa
        alpha_prime = (pa_prime - pe) / (1.0 - pe)
        pa_i = pa_unit - base * (ri - rbar) / rbar
        a_i = (pa_i - pe) / (1.0 - pe)
        pe_i = _rowdot(r, pibar) / rbar - pe * (ri - rbar) / rbar
        terms = a_i - 2.0 * (1.0 - alpha_prime) * (pe_i - pe) / (1.0 - pe)
        centre = alpha_prime
    if coefficient is None:
        common["coefficient"] = alpha
    return c.result(method, name, wname, pa, pe, terms, centre, **common)


def krippendorff_alpha_level(
    data: RatingsArg,
    level: KrippendorffLevel = "ordinal",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Krippendorff's alpha with his own difference metrics, via the coincidence matrix.

    Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": coincidences
    ``o_ck = Σ_u Σ_{pairs i≠j in u} 1[c, k] / (m_u - 1)`` over units with ``m_u >= 2`` values,
    ``n_c = Σ_k o_ck``, ``N = Σ_c n_c``, ``α = 1 - D_o / D_e`` with ``D_o = Σ o_ck δ²_ck / N`` and
    ``D_e = Σ n_c n_k δ²_ck / (N (N - 1))``. Metrics: nominal ``1[c≠k]``; interval ``(c - k)²``;
    ratio ``((c - k)/(c + k))²``; ordinal ``(Σ_{g=c..k} n_g - (n_c + n_k)/2)²``, which uses ranks and
    the observed marginals only (so an unused category changes nothing).

    Since ``α = (pa - pe)/(1 - pe)`` in Gwet's formulation with weights ``w = 1 - δ²/max δ²``, ``pa``,
    ``pe`` and the standard error are reported from that formulation. For the ordinal metric the
    weights depend on the observed marginals; the standard error treats them as fixed.

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        level: ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.

    Raises:
        ConfigError: A non-nominal level on labels in no declared order, or ratio on negative values.
    """
    d = _as_ratings(data, categories)
    opt = options or IrrOptions()
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise ConfigError(f"unknown Krippendorff level {level!r}", hint="use nominal, ordinal, interval or ratio")
    _check_usable(d)
    if level != "nominal" and d.values is None:
        raise ConfigError(
            f"Krippendorff's {level} alpha needs ordered categories, but the labels have no declared order",
            hint="declare the categories in scale order",
        )
    r = np.asarray(d.counts, dtype=float)
    ri = r.sum(axis=1)
    r2 = r[ri >= 2]
    ri2 = ri[ri >= 2]
    scaled = r2 / (ri2 - 1.0)[:, None]
    coinc = np.einsum("ic,ik->ck", scaled, r2) - np.diag(scaled.sum(axis=0))
    n_c = coinc.sum(axis=1)
    total = float(n_c.sum())
    delta2 = _metric(level, n_c, d.values)
    d_o = float(np.sum(coinc * delta2)) / total
    d_e = float(n_c @ delta2 @ n_c) / (total * (total - 1.0))
    alpha = 1.0 - d_o / d_e if d_e > 0 else float("nan")
    top = float(delta2.max())
    w = 1.0 - delta2 / top if top > 0 else np.eye(d.q)
    note = "SE treats the ordinal metric's marginal-dependent distances as fixed" if level == "ordinal" else ""
    return _krippendorff(
        d, w, f"{level} metric", opt, f"krippendorff_{level}", f"Krippendorff's alpha ({level})", alpha, note
    )


def _metric(level: str, n_c: FloatArray, values: FloatArray | None) -> FloatArray:
    q = n_c.size
    if level == "nominal":
        return 1.0 - np.eye(q)
    if level == "ordinal":
        cs = np.concatenate([[0.0], np.cumsum(n_c)])
        lo = np.minimum.outer(np.arange(q), np.arange(q))
        hi = np.maximum.outer(np.arange(q), np.arange(q))
        between = cs[hi + 1] - cs[lo]  # Σ_{g=lo..hi} n_g
        out = (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
        np.fill_diagonal(out, 0.0)
        return np.asarray(out, dtype=float)
    assert values is not None
    diff = values[:, None] - values[None, :]
    if level == "interval":
        return np.asarray(diff**2, dtype=float)
    if np.any(values < 0):
        raise ConfigError("Krippendorff's ratio metric needs non-negative category values")
    total = values[:, None] + values[None, :]
    out = np.divide(diff, total, out=np.zeros((q, q)), where=total != 0) ** 2
    return np.asarray(out, dtype=float)


def conger_kappa(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Conger's (1980) generalised kappa (Cohen's kappa for several raters), irrCAC ``conger.kappa.raw``.

    With ``p_gk`` the share of rater ``g``'s ratings in category ``k``, ``p̄_k`` its mean over the ``r``
    raters and ``s²_kl`` their covariance: ``pe = Σ_kl w_kl (p̄_k p̄_l - s²_kl / r)``. The variance uses
    the rater-level linearisation terms ``λ_ig`` of irrCAC (Gwet 2014, ch. 5).

    Requires raw ratings: it needs to know which rater gave each rating.

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object built from raw data.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    d = _as_ratings(data, categories)
    w, wname = _resolve_weights(d, weights)
    codes = d.rater_codes("Conger's kappa")
    c = _Core(d, w, options or IrrOptions())
    n, q = c.n, c.q
    r = codes.shape[1]
    onehot = np.zeros((n, r, q))
    rated = codes >= 0
    ii, gg = np.nonzero(rated)
    onehot[ii, gg, codes[rated]] = 1.0
    classif = onehot.sum(axis=0)  # r x q
    ng = classif.sum(axis=1)
    pgk = classif / ng[:, None]
    pbar = pgk.mean(axis=0)
    s2 = (pgk.T @ pgk - r * np.outer(pbar, pbar)) / (r - 1.0)
    pe = float(np.sum(w * (np.outer(pbar, pbar) - s2 / r)))
    if 1.0 - pe <= _DEGENERATE:
        return c.result("conger", "Conger's kappa", wname, c.pa, pe, None)
    kappa = (c.pa - pe) / (1.0 - pe)
    eps = rated.astype(float)
    # λ_ig = Σ_k (n/n_g) [Σ_l w_kl (δ_igl - (ε_ig - n_g/n) p_gl)] (r p̄_k - p_gk)
    inner = np.einsum("igl,kl->igk", onehot, w) - (eps - ng / n)[:, :, None] * (pgk @ w.T)[None, :, :]
    lam = np.einsum("igk,gk->ig", inner * (n / ng)[None, :, None], r * pbar[None, :] - pgk)
    pe_i = lam.sum(axis=1) / (r * (r - 1.0))
    k_i = (n / c.n2) * (c.pa_i - pe * c.m2) / (1.0 - pe)
    terms = k_i - 2.0 * (1.0 - kappa) * (pe_i - pe) / (1.0 - pe)
    return c.result("conger", "Conger's kappa", wname, c.pa, pe, terms, kappa, n_raters=r)


def _two_rater(
    data: RatingsArg,
    weights: WeightsArg,
    categories: Sequence[Category] | None,
    options: IrrOptions | None,
    kind: Literal["cohen", "scott"],
) -> AgreementResult:
    d = _as_ratings(data, categories)
    w, wname = _resolve_weights(d, weights)
    opt = options or IrrOptions()
    if d.q < 2:
        _check_usable(d)
    table = d.contingency_table()
    n = float(table.sum())
    name = "Cohen's kappa" if kind == "cohen" else "Scott's pi"
    if n < 1:
        raise DataError(f"{name} needs subjects rated by both raters; none were")
    q = d.q
    p = table / n
    pa = float(np.sum(w * p))
    pk = p.sum(axis=1)
    pl = p.sum(axis=0)
    if kind == "cohen":
        pe = float(pk @ w @ pl)
        row_term = w @ pl  # \bar p_{+k}
        col_term = w.T @ pk  # \bar p_{l+}
    else:
        pi = (pk + pl) / 2.0
        pe = float(pi @ w @ pi)
        row_term = col_term = (w @ pl + w.T @ pk) / 2.0
    N = opt.population_size
    if N is not None and n > N:
        raise ConfigError(f"population size {N:g} is smaller than the {int(n)} subjects rated")
    f = 0.0 if N is None else n / N
    variance: float | None = None
    coef = float("nan")
    if 1.0 - pe > _DEGENERATE:
        coef = (pa - pe) / (1.0 - pe)
        # Fleiss, Cohen & Everitt (1969) large-sample variance, as in irrCAC kappa2.table / scott2.table.
        inner = w - (1.0 - coef) * (row_term[:, None] + col_term[None, :])
        sum1 = float(np.sum(p * inner**2))
        variance = (1.0 - f) / (n * (1.0 - pe) ** 2) * (sum1 - (pa - 2.0 * (1.0 - coef) * pe) ** 2)
        variance = max(variance, 1e-100)
    return _finish(
        method=kind,
        name=name,
        weights=wname,
        pa=pa,
        pe=pe,
        coefficient=None,
        terms=None,
        centre=None,
        n_var=int(n),
        df=int(n) - 1,
        f=f,
        options=opt,
        n_subjects=int(n),
        n_raters=2,
        n_ratings=int(2 * n),
        categories=d.categories[:q],
        variance=variance if n >= 2 else None,
    )


def cohen_kappa(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Cohen's (weighted) kappa for two raters, on the subjects both rated (irrCAC ``kappa2.table``).

    ``pa = Σ w_kl p_kl``, ``pe = Σ w_kl p_k+ p_+l``. Variance (Fleiss, Cohen & Everitt 1969; Gwet 2014):
    ``(1-f)/(n (1-pe)²) [Σ p_kl (w_kl - (1-κ)(p̄_+k + p̄_l+))² - (pa - 2(1-κ) pe)²]`` with
    ``p̄_+k = Σ_l w_kl p_+l`` and ``p̄_l+ = Σ_k w_kl p_k+``.

    Args:
        data: Raw ratings with exactly two raters, or :meth:`Ratings.from_table` of their table.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    return _two_rater(data, weights, categories, options, "cohen")


def scott_pi(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Scott's (1955) pi for two raters, on the subjects both rated (irrCAC ``scott2.table``).

    ``pe = Σ w_kl π_k π_l`` with ``π_k = (p_k+ + p_+k) / 2``; variance as :func:`cohen_kappa` with both
    marginal terms replaced by ``p̄_k = (p̄_+k + p̄_k+) / 2``.

    Args:
        data: Raw ratings with exactly two raters, or :meth:`Ratings.from_table` of their table.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    return _two_rater(data, weights, categories, options, "scott")


_FUNCS = {
    "percent_agreement": percent_agreement,
    "gwet": gwet_ac,
    "fleiss": fleiss_kappa,
    "krippendorff": krippendorff_alpha,
    "conger": conger_kappa,
    "brennan_prediger": brennan_prediger,
    "cohen": cohen_kappa,
    "scott": scott_pi,
}


def agreement(
    data: RatingsArg,
    method: Method = "gwet",
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Compute one coefficient by name (``"gwet"``, ``"fleiss"``, ``"krippendorff"``, ...).

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        method: Which coefficient.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
    """
    if method not in _FUNCS:
        raise ConfigError(f"unknown agreement method {method!r}", hint=f"use one of {', '.join(_FUNCS)}")
    return _FUNCS[method](data, weights, categories=categories, options=options)


def all_coefficients(
    data: RatingsArg,
    weights: WeightsArg = "identity",
    *,
    categories: Sequence[Category] | None = None,
    options: IrrOptions | None = None,
    krippendorff_level: KrippendorffLevel | None = "ordinal",
) -> list[AgreementResult]:
    """Every applicable coefficient for the same data and weights.

    Percent agreement, Gwet's AC1/AC2, Fleiss, Krippendorff (Gwet's formulation), Brennan-Prediger; Conger
    when rater identities are known; Cohen and Scott when there are exactly two raters; and Krippendorff's
    alpha with his own ``krippendorff_level`` metric when the categories are ordered (nominal otherwise).

    Args:
        data: Raw ratings (subjects x raters) or a :class:`Ratings` object.
        weights: A weighting name or a ``q x q`` matrix.
        categories: Full category set (only with raw ``data``).
        options: Variance/CI/p-value conventions.
        krippendorff_level: Metric for the extra Krippendorff row; ``None`` leaves it out.
    """
    d = _as_ratings(data, categories)
    opt = options or IrrOptions()
    out = [
        percent_agreement(d, weights, options=opt),
        gwet_ac(d, weights, options=opt),
        fleiss_kappa(d, weights, options=opt),
        krippendorff_alpha(d, weights, options=opt),
    ]
    if d.codes is not None:
        out.append(conger_kappa(d, weights, options=opt))
    out.append(brennan_prediger(d, weights, options=opt))
    if d.codes is not None and d.n_raters == 2:
        out.append(cohen_kappa(d, weights, options=opt))
        out.append(scott_pi(d, weights, options=opt))
    if krippendorff_level is not None:
        level: KrippendorffLevel = krippendorff_level if d.ordered else "nominal"
        out.append(krippendorff_alpha_level(d, level, options=opt))
    return out


def violation_agreement(
    ratings: ArrayLike | Sequence[Sequence[Any]],
    *,
    violating: Sequence[Category] = (1, 2),
    scale: Sequence[Category] = (1, 2, 3, 4, 5),
    method: Method = "gwet",
    options: IrrOptions | None = None,
) -> AgreementResult:
    """Agreement on the binary "violation" flag of safety ratings (AC1 by default).

    Llama 2 (§4.4) counts a rating of 1 or 2 on its 5-point safety scale as a violation and decides
    each item by majority vote; human-eval.md §1.5 recommends reporting AC1 on this flag next to AC2 on
    the 5-point scale. Ratings are checked against ``scale`` and mapped to the two categories
    ``"not violating"`` / ``"violating"``, which are always both declared (``q = 2``).

    Args:
        ratings: Raw ratings, subjects x raters, missing allowed.
        violating: The ratings that count as a violation.
        scale: The full rating scale (ratings outside it are an error).
        method: The coefficient (default Gwet's AC1).
        options: Variance/CI/p-value conventions.
    """
    base = Ratings.from_raw(ratings, list(scale))
    vset = set(violating)
    unknown = [v for v in violating if v not in set(scale)]
    if unknown:
        raise ConfigError(f"violating ratings {unknown} are not on the scale {list(scale)}")
    if not vset or vset >= set(scale):
        raise ConfigError("the violating ratings must be a non-empty proper subset of the scale")
    assert base.codes is not None
    is_violating = np.array([c in vset for c in base.categories], dtype=np.intp)
    codes = np.where(base.codes >= 0, is_violating[np.maximum(base.codes, 0)], -1).astype(np.intp)
    binary = Ratings._from_codes(codes, ("not violating", "violating"), np.array([0.0, 1.0]), base.rater_names)
    return agreement(binary, method, "identity", options=options)
