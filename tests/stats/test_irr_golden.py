"""Golden tests: Dataset A (irrCAC cac.raw4raters) and Dataset C (Krippendorff), human-eval.md §1.6.

Every expected number below is copied from its published source; the tolerance is half a unit in the
last printed digit, so "to the published digits".
"""

from __future__ import annotations

from decimal import Decimal

import krippendorff
import numpy as np
import pytest
from irr_vectors import CUSTOM_WEIGHTS, KRIPP_C_CODERS, RAW_4RATERS

from safetylens.stats.irr import (
    AgreementResult,
    IrrOptions,
    brennan_prediger,
    conger_kappa,
    fleiss_kappa,
    gwet_ac,
    krippendorff_alpha,
    krippendorff_alpha_level,
    percent_agreement,
)
from safetylens.stats.irr_data import Ratings

SCALE = [1, 2, 3, 4, 5]
PY = IrrOptions.irrcac_python()
R = IrrOptions.irrcac_r()


def printed(value: str) -> object:
    """Equal to ``value`` to its printed digits (half a unit in the last digit)."""
    d = Decimal(value)
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    return pytest.approx(float(d), abs=0.5 * 10.0**exponent * (1 + 1e-9), rel=0)


@pytest.fixture(scope="module")
def data_a() -> Ratings:
    return Ratings.from_raw(RAW_4RATERS, SCALE)


def test_dataset_a_shape(data_a: Ratings) -> None:
    # README `$obs` / `tot.obs`: ratings per rater 9, 10, 11, 11; 41 in total.
    assert data_a.n_subjects == 12 and data_a.n_raters == 4 and data_a.n_ratings == 41
    assert data_a.codes is not None
    assert ((data_a.codes >= 0).sum(axis=0)).tolist() == [9, 10, 11, 11]


# kgwet/irrCAC README.md (commit 7fb7509), R outputs for cac.raw4raters, unweighted; p one-sided.
R_UNWEIGHTED = {
    "percent_agreement": ("0.8181818", "0", "0.8181818", "0.12561", "0.542", "2.172686e-05"),
    "gwet": ("0.8181818", "0.1903212", "0.77544", "0.14295", "0.461", "0.0001043605"),
    "fleiss": ("0.8181818", "0.2387153", "0.76117", "0.15302", "0.424", "0.0002095865"),
    "krippendorff": ("0.805", "0.24", "0.74342", "0.14548", "0.423", "0.0001693123"),
    "conger": ("0.8181818", "0.2334252", "0.76282", "0.14917", "0.435", "0.0001683533"),
    "brennan_prediger": ("0.8181818", "0.2", "0.77273", "0.14472", "0.454", "0.0001187804"),
}
FUNCS = {
    "percent_agreement": percent_agreement,
    "gwet": gwet_ac,
    "fleiss": fleiss_kappa,
    "krippendorff": krippendorff_alpha,
    "conger": conger_kappa,
    "brennan_prediger": brennan_prediger,
}


@pytest.mark.parametrize("method", list(R_UNWEIGHTED))
def test_r_unweighted_table(data_a: Ratings, method: str) -> None:
    pa, pe, coef, se, lo, p = R_UNWEIGHTED[method]
    res: AgreementResult = FUNCS[method](data_a, options=R)
    assert res.pa == printed(pa)
    assert res.pe == printed(pe)
    assert res.coefficient == printed(coef)
    assert res.se == printed(se)
    assert res.ci_low == printed(lo)
    assert res.ci_high == 1.0
    assert res.p_value == printed(p)
    assert res.p_value_sides == "one-sided"
    assert res.weights == "identity"


def test_ac1_name_and_python_two_sided_p(data_a: Ratings) -> None:
    r_res = gwet_ac(data_a, options=R)
    py_res = gwet_ac(data_a, options=PY)
    assert r_res.name == "Gwet's AC1"
    # human-eval.md §1.4: R 0.0001043605 (one-sided), Python port 0.00021 (two-sided); the older R README
    # printed the two-sided 0.000208721.
    assert py_res.p_value == pytest.approx(2 * r_res.p_value, rel=1e-12)
    assert py_res.p_value == printed("0.000208721")
    assert round(py_res.p_value, 5) == 0.00021


def test_krippendorff_conventions(data_a: Ratings) -> None:
    r_res = krippendorff_alpha(data_a, options=R)
    py_res = krippendorff_alpha(data_a, options=PY)
    assert r_res.coefficient == py_res.coefficient
    # R: df = n0 - 1 = 11, CI (0.423, 1); Python port: df = n'' - 1 = 10, CI (0.419, 1).
    assert (r_res.df, py_res.df) == (11, 10)
    assert py_res.ci_low == printed("0.419")
    # The Python port puts pa where R has pa' in the subject terms: se 0.14557 (older R README, Python
    # tests' 0.146) instead of R's 0.14548.
    assert py_res.se == printed("0.14557")
    assert py_res.p_value == printed("0.0004594257")
    assert round(py_res.p_value, 5) == 0.00046


# afergadis/irrCAC test/unit/irrCAC/raw/test_{gwet,fleiss,krippendorff}.py (3 dp; p two-sided; Krippendorff
# df n''-1). Tuples: pa, pe, coefficient, se, CI lower.
PY_WEIGHTED = {
    "identity": {
        "gwet": (".818", ".190", ".775", ".143", ".461"),
        "fleiss": (".818", ".239", ".761", None, ".424"),
        "krippendorff": (".805", ".240", ".743", ".146", ".419"),
    },
    "linear": {
        "gwet": (".939", ".571", ".859", ".117", ".600"),
        "fleiss": (".939", ".667", ".818", ".149", ".491"),
        "krippendorff": (".935", ".674", ".800", ".135", ".499"),
    },
    "quadratic": {
        "gwet": (".975", ".714", ".914", ".104", ".685"),
        "fleiss": (".975", ".818", ".865", ".146", ".544"),
        "krippendorff": (".974", ".825", ".849", ".129", ".561"),
    },
    "ordinal": {
        "gwet": (".968", ".685", ".899", ".107", ".664"),
        "fleiss": (".968", ".788", ".850", ".147", ".527"),
        "krippendorff": (".966", ".795", ".834", ".131", ".542"),
    },
    "radical": {
        "gwet": (".897", ".430", ".820", ".128", ".537"),
        "fleiss": (".897", ".511", ".790", ".150", ".460"),
        "krippendorff": (".890", ".517", ".772", ".140", ".461"),
    },
    "ratio": {
        "gwet": (".954", ".678", ".857", ".122", ".589"),
        "fleiss": (".954", ".743", ".821", ".152", ".486"),
        "krippendorff": (".951", ".757", ".797", ".140", ".484"),
    },
    "circular": {
        "gwet": (".902", ".426", ".830", ".133", ".538"),
        "fleiss": (".902", ".494", ".807", ".149", ".479"),
        "krippendorff": (".895", ".502", ".790", ".141", ".476"),
    },
    "bipolar": {
        "gwet": (".968", ".682", ".900", ".106", ".667"),
        "fleiss": (".968", ".785", ".853", ".145", ".535"),
        "krippendorff": (".966", ".794", ".835", ".128", ".549"),
    },
}
# Same sources: p-values as the tests assert them, round(p, digits) == value.
PY_P = {
    ("identity", "gwet"): (0.00021, 5),
    ("identity", "fleiss"): (0.00042, 5),
    ("identity", "krippendorff"): (0.00046, 5),
    ("linear", "gwet"): (2e-5, 5),
    ("quadratic", "gwet"): (3e-6, 6),
    ("ordinal", "gwet"): (4e-6, 6),
    ("radical", "gwet"): (5e-5, 5),
    ("ratio", "gwet"): (2e-5, 5),
    ("circular", "gwet"): (6e-5, 5),
    ("bipolar", "gwet"): (4e-6, 6),
    ("linear", "fleiss"): (0.00018, 5),
    ("quadratic", "fleiss"): (1e-4, 5),
    ("ordinal", "fleiss"): (0.00012, 5),
    ("radical", "fleiss"): (2.7e-4, 5),
    ("ratio", "fleiss"): (2.2e-4, 5),
    ("circular", "fleiss"): (0.00021, 5),
    ("bipolar", "fleiss"): (1e-4, 5),
    ("linear", "krippendorff"): (0.00015, 5),
    ("quadratic", "krippendorff"): (6e-5, 5),
    ("ordinal", "krippendorff"): (8e-5, 5),
    ("radical", "krippendorff"): (25e-5, 5),
    ("ratio", "krippendorff"): (2e-4, 5),
    ("circular", "krippendorff"): (0.00023, 5),
    ("bipolar", "krippendorff"): (7e-5, 5),
}


@pytest.mark.parametrize(("weights", "method"), [(w, m) for w, by_method in PY_WEIGHTED.items() for m in by_method])
def test_all_weightings_python_port(data_a: Ratings, weights: str, method: str) -> None:
    pa, pe, coef, se, lo = PY_WEIGHTED[weights][method]
    res: AgreementResult = FUNCS[method](data_a, weights, options=PY)
    assert res.weights == weights
    assert res.pa == printed(pa)
    assert res.pe == printed(pe)
    assert res.coefficient == printed(coef)
    if se is not None:
        assert res.se == printed(se)
    assert res.ci_low == printed(lo)
    assert res.ci_high == 1.0
    p, digits = PY_P[(weights, method)]
    assert round(res.p_value, digits) == pytest.approx(p, abs=1e-12)
    if method == "gwet":
        assert res.name == ("Gwet's AC1" if weights == "identity" else "Gwet's AC2")


def test_high_precision_ac2(data_a: Ratings) -> None:
    # human-eval.md §1.6 "higher-precision values from an independent implementation".
    quad = gwet_ac(data_a, "quadratic")
    assert (quad.pa, quad.pe, quad.coefficient, quad.se) == (
        printed("0.97538"),
        printed("0.71370"),
        printed("0.91400"),
        printed("0.10396"),
    )
    ordinal = gwet_ac(data_a, "ordinal")
    assert (ordinal.coefficient, ordinal.se) == (printed("0.89894"), printed("0.10690"))
    linear = gwet_ac(data_a, "linear")
    assert (linear.coefficient, linear.se) == (printed("0.85874"), printed("0.11733"))
    # afergadis/irrCAC irrCAC/raw.py module docstring (bipolar AC2, 5 dp, two-sided).
    bip = gwet_ac(data_a, "bipolar", options=PY)
    assert (bip.coefficient, bip.se, bip.pa, bip.pe, bip.ci_low) == (
        printed("0.90037"),
        printed("0.10582"),
        printed("0.96836"),
        printed("0.68244"),
        printed("0.66747"),
    )
    assert bip.coefficient / bip.se == printed("8.50888")


def test_custom_matrix_rows(data_a: Ratings) -> None:
    # afergadis/irrCAC tests, custom non-symmetric matrix (human-eval.md §1.6).
    g = gwet_ac(data_a, CUSTOM_WEIGHTS, options=PY)
    assert (g.pa, g.pe, g.coefficient, g.se, g.ci_low) == tuple(
        printed(v) for v in (".886", ".476", ".783", ".138", ".479")
    )
    assert g.ci_high == 1.0 and g.weights == "custom" and g.name == "Gwet's AC2"
    assert g.p_value == printed("1.5e-4")
    f = fleiss_kappa(data_a, CUSTOM_WEIGHTS, options=PY)
    assert (f.pa, f.pe, f.coefficient, f.se, f.ci_low) == tuple(
        printed(v) for v in (".886", ".524", ".761", ".153", ".424")
    )
    k = krippendorff_alpha(data_a, CUSTOM_WEIGHTS, options=PY)
    assert (k.pa, k.pe, k.coefficient, k.se) == tuple(printed(v) for v in (".878", ".525", ".743", ".146"))
    c = conger_kappa(data_a, CUSTOM_WEIGHTS, options=PY)  # test_conger.py custom weights
    assert (c.pa, c.pe, c.coefficient, c.se, c.ci_low) == tuple(
        printed(v) for v in (".886", ".521", ".763", ".149", ".435")
    )
    assert round(c.p_value, 5) == pytest.approx(3.4e-4)


# afergadis/irrCAC test_conger.py, cac.raw4raters with each weighting: pa, pe, coefficient, se, CI lower, p.
PY_CONGER = {
    "bipolar": (".968", ".796", ".845", ".142", ".532", 1e-4),
    "circular": (".902", ".499", ".805", ".147", ".481", 0.0002),
    "linear": (".939", ".675", ".814", ".145", ".494", 0.00016),
    "ordinal": (".968", ".796", ".844", ".144", ".526", 0.00011),
    "quadratic": (".975", ".827", ".858", ".144", ".541", 9e-5),
    "radical": (".897", ".515", ".788", ".146", ".466", 2.2e-4),
    "ratio": (".954", ".756", ".812", ".149", ".485", 2e-4),
}


@pytest.mark.parametrize("weights", list(PY_CONGER))
def test_conger_weighted(data_a: Ratings, weights: str) -> None:
    pa, pe, coef, se, lo, p = PY_CONGER[weights]
    res = conger_kappa(data_a, weights, options=PY)
    assert (res.pa, res.pe, res.coefficient, res.se, res.ci_low) == tuple(printed(v) for v in (pa, pe, coef, se, lo))
    assert round(res.p_value, 5) == pytest.approx(p, abs=1e-12)


def test_krippendorff_own_metrics_dataset_a() -> None:
    # fast-krippendorff docstring citing Krippendorff (2011) p.8: nominal .743, ordinal .815, ratio .797;
    # interval 0.849107 computed (human-eval.md §1.6), equal to irrCAC's quadratic-weighted alpha .849.
    expected = {"nominal": ".743", "ordinal": ".815", "ratio": ".797", "interval": "0.849107"}
    for level, value in expected.items():
        assert krippendorff_alpha_level(RAW_4RATERS, level).coefficient == printed(value)  # type: ignore[arg-type]
    # Unused categories do not change the ordinal metric ("with or without value_domain").
    assert krippendorff_alpha_level(RAW_4RATERS, "ordinal", categories=SCALE).coefficient == pytest.approx(
        krippendorff_alpha_level(RAW_4RATERS, "ordinal").coefficient, abs=1e-15
    )
    # Gwet's ordinal weights are not Krippendorff's ordinal metric: .834 vs .815.
    assert krippendorff_alpha(RAW_4RATERS, "ordinal").coefficient == printed(".834")
    # Gwet formulation == coincidence formulation for identity/quadratic/ratio weights.
    for level, weights in (("nominal", "identity"), ("interval", "quadratic"), ("ratio", "ratio")):
        own = krippendorff_alpha_level(RAW_4RATERS, level)  # type: ignore[arg-type]
        gwet_form = krippendorff_alpha(RAW_4RATERS, weights)
        assert own.coefficient == pytest.approx(gwet_form.coefficient, abs=1e-13)
        assert own.se == pytest.approx(gwet_form.se, abs=1e-13)


def test_krippendorff_string_labels_ordinal() -> None:
    # fast-krippendorff docstring: the string version with value_domain in scale order gives ordinal .815.
    names = ["very low", "low", "mid", "high", "very high"]
    labelled = [[None if np.isnan(v) else names[int(v) - 1] for v in row] for row in RAW_4RATERS]
    res = krippendorff_alpha_level(labelled, "ordinal", categories=names)
    assert res.coefficient == printed(".815")
    assert krippendorff_alpha_level(labelled, "nominal").coefficient == printed(".743")


def test_dataset_c_krippendorff() -> None:
    data = np.array(KRIPP_C_CODERS, dtype=float).T
    # Published: nominal 0.691358, interval 0.810845; computed: ordinal 0.806721, ratio 0.808944.
    expected = {"nominal": "0.691358", "interval": "0.810845", "ordinal": "0.806721", "ratio": "0.808944"}
    for level, value in expected.items():
        res = krippendorff_alpha_level(data, level)  # type: ignore[arg-type]
        assert res.coefficient == printed(value)
        assert (res.pa - res.pe) / (1 - res.pe) == pytest.approx(res.coefficient, abs=1e-12)
    # The same nominal value from the value-counts (units x values) form.
    counts = np.stack([(data == v).sum(axis=1) for v in (1, 2, 3, 4)], axis=1)
    assert krippendorff_alpha(Ratings.from_counts(counts)).coefficient == printed("0.691358")


@pytest.mark.parametrize("level", ["nominal", "ordinal", "interval", "ratio"])
@pytest.mark.parametrize("name", ["A", "C"])
def test_cross_check_krippendorff_package(level: str, name: str) -> None:
    coders = np.array(RAW_4RATERS, dtype=float).T if name == "A" else np.array(KRIPP_C_CODERS, dtype=float)
    theirs = krippendorff.alpha(reliability_data=coders, level_of_measurement=level)
    ours = krippendorff_alpha_level(coders.T, level).coefficient  # type: ignore[arg-type]
    assert ours == pytest.approx(theirs, abs=1e-12)
