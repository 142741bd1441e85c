"""Result type, options (finite population, confidence level, conventions) and input forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from irr_vectors import CUSTOM_WEIGHTS, DISTRIB_6RATERS, RAW_4RATERS
from scipy import stats

from safetylens.stats.ci import Estimate
from safetylens.stats.irr import IrrOptions, all_coefficients, fleiss_kappa, gwet_ac, krippendorff_alpha
from safetylens.stats.irr_data import Ratings

SCALE = [1, 2, 3, 4, 5]


def test_result_is_frozen_and_converts_to_estimate() -> None:
    res = gwet_ac(RAW_4RATERS, "quadratic", categories=SCALE)
    with pytest.raises(Exception, match="frozen"):
        res.coefficient = 0.0  # type: ignore[misc]
    est = res.to_estimate()
    assert isinstance(est, Estimate)
    assert (est.value, est.ci_low, est.ci_high, est.n, est.level) == (
        res.coefficient,
        res.ci_low,
        res.ci_high,
        12,
        0.95,
    )
    assert "Gwet's AC2" in est.method and "quadratic" in est.method and "t(11)" in est.method
    assert est.extra == {"se": res.se, "pa": res.pa, "pe": res.pe, "p_value": res.p_value}
    assert set(res.summary()) == {"coefficient", "pa", "pe", "se", "ci_low", "ci_high", "p_value"}
    assert res.categories == (1, 2, 3, 4, 5) and res.n_raters == 4 and res.n_ratings == 41
    assert res.model_dump()["weights"] == "quadratic"


def test_finite_population_correction() -> None:
    base = gwet_ac(RAW_4RATERS, categories=SCALE)
    fpc = gwet_ac(RAW_4RATERS, categories=SCALE, options=IrrOptions(population_size=48))
    assert fpc.coefficient == base.coefficient
    assert fpc.se == pytest.approx(base.se * math.sqrt(1 - 12 / 48))
    # A census (N = n) has no sampling error.
    assert gwet_ac(RAW_4RATERS, options=IrrOptions(population_size=12)).se == 0.0
    # Krippendorff: f = n/N with all rated subjects, as irrCAC.
    k = krippendorff_alpha(RAW_4RATERS, options=IrrOptions(population_size=24))
    assert k.se == pytest.approx(krippendorff_alpha(RAW_4RATERS).se * math.sqrt(0.5))


def test_confidence_level_and_sidedness() -> None:
    r90 = fleiss_kappa(RAW_4RATERS, options=IrrOptions(conf_level=0.90))
    r95 = fleiss_kappa(RAW_4RATERS)
    assert r90.conf_level == 0.90
    assert r95.coefficient - r95.ci_low == pytest.approx(stats.t.ppf(0.975, 11) * r95.se)
    assert r90.coefficient - r90.ci_low == pytest.approx(stats.t.ppf(0.95, 11) * r90.se)
    two = fleiss_kappa(RAW_4RATERS, options=IrrOptions(p_value="two-sided"))
    assert two.p_value == pytest.approx(2 * r95.p_value) and two.p_value_sides == "two-sided"
    assert r95.p_value == pytest.approx(stats.t.sf(r95.coefficient / r95.se, 11))
    with pytest.raises(ValueError, match="conf_level"):
        IrrOptions(conf_level=1.5)


def test_input_forms_agree() -> None:
    as_list = all_coefficients(RAW_4RATERS, categories=SCALE)
    as_array = all_coefficients(np.array(RAW_4RATERS), categories=SCALE)
    as_none = all_coefficients(
        [[None if math.isnan(v) else int(v) for v in row] for row in RAW_4RATERS], categories=SCALE
    )
    for a, b, c in zip(as_list, as_array, as_none, strict=True):
        assert a.coefficient == b.coefficient == c.coefficient and a.se == b.se == c.se
    # Counts built from the raw data give the same multi-rater coefficients.
    counts = Ratings.from_raw(RAW_4RATERS, SCALE).counts
    for func in (gwet_ac, fleiss_kappa, krippendorff_alpha):
        assert func(Ratings.from_counts(counts)).coefficient == pytest.approx(func(RAW_4RATERS).coefficient)
    # Count table with labelled columns keeps the labels and treats them as an ordered scale.
    labelled = Ratings.from_counts(DISTRIB_6RATERS, ["Dep", "PD", "Sch", "Neu", "Oth"])
    assert labelled.categories == ("Dep", "PD", "Sch", "Neu", "Oth") and labelled.ordered


def test_subjects_without_ratings_are_dropped() -> None:
    padded = [*RAW_4RATERS, [math.nan] * 4]
    data = Ratings.from_raw(padded, SCALE)
    assert data.n_subjects == 12 and data.n_dropped_subjects == 1
    assert gwet_ac(data).se == gwet_ac(RAW_4RATERS, categories=SCALE).se


def test_custom_weights_name() -> None:
    res = krippendorff_alpha(RAW_4RATERS, CUSTOM_WEIGHTS, categories=SCALE)
    assert res.weights == "custom"
    assert gwet_ac(RAW_4RATERS, np.eye(5), categories=SCALE).name == "Gwet's AC1"
