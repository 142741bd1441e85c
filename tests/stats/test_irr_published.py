"""Further published examples beyond human-eval.md's Dataset A and C (sources cited per test)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from irr_vectors import (
    CONT3X3_ABSTRACTORS,
    DISTRIB_6RATERS,
    FLEISS_1971_DIAGNOSES,
    RAW_5OBSERVERS,
    RAW_BEN_GERRY,
    RAW_G1G2,
    RAW_GENDER,
    SAS_TABLE10,
    WIKIPEDIA_FLEISS,
)
from scipy import stats

from safetylens.stats.irr import (
    IrrOptions,
    brennan_prediger,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    gwet_ac,
    krippendorff_alpha,
    percent_agreement,
    scott_pi,
)
from safetylens.stats.irr_data import Ratings

PY = IrrOptions.irrcac_python()


def printed(value: str) -> object:
    d = Decimal(value)
    exponent = d.as_tuple().exponent
    assert isinstance(exponent, int)
    return pytest.approx(float(d), abs=0.5 * 10.0**exponent * (1 + 1e-9), rel=0)


def test_irrcac_distrib_6raters_count_table() -> None:
    """kgwet/irrCAC README (commit 7fb7509): gwet.ac1.dist, fleiss.kappa.dist, krippen.alpha.dist,
    bp.coeff.dist on distrib.6raters (Fleiss 1971 psychiatric diagnoses), p one-sided."""
    data = Ratings.from_counts(DISTRIB_6RATERS)
    assert data.n_subjects == 15 and data.n_raters == 6 and data.categories == (1, 2, 3, 4, 5)
    ac1 = gwet_ac(data)
    assert (ac1.coefficient, ac1.se, ac1.ci_low, ac1.ci_high, ac1.p_value, ac1.pa, ac1.pe) == (
        printed("0.4448007"),
        printed("0.08418757"),
        printed("0.264"),
        printed("0.625"),
        printed("5.779637e-05"),
        printed("0.5511111"),
        printed("0.1914815"),
    )
    fk = fleiss_kappa(data)
    assert (fk.coefficient, fk.se, fk.ci_low, fk.ci_high, fk.p_value, fk.pe) == (
        printed("0.4139265"),
        printed("0.08119291"),
        printed("0.24"),
        printed("0.588"),
        printed("8.113618e-05"),
        printed("0.2340741"),
    )
    bp = brennan_prediger(data)
    assert (bp.coefficient, bp.se, bp.ci_low, bp.ci_high, bp.p_value, bp.pe) == (
        printed("0.4388889"),
        printed("0.08312142"),
        printed("0.261"),
        printed("0.617"),
        printed("5.814998e-05"),
        printed("0.2"),
    )
    # krippen.alpha.dist uses its own variance formula (human-eval.md §1.4 item 3): reproduced by "dist".
    ka = krippendorff_alpha(data, options=IrrOptions(krippendorff_variance="dist"))
    assert (ka.coefficient, ka.se, ka.ci_low, ka.ci_high, ka.p_value, ka.pa, ka.pe) == (
        printed("0.4204384"),
        printed("0.08243228"),
        printed("0.244"),
        printed("0.597"),
        printed("8.078607e-05"),
        printed("0.5560988"),
        printed("0.2340741"),
    )
    # The raw formula on the same data: same coefficient, se 0.0811929 (human-eval.md §1.4, [V]).
    raw = krippendorff_alpha(data)
    assert raw.coefficient == ka.coefficient
    assert raw.se == printed("0.0811929")


def test_irrcac_cont3x3abstractors_two_raters() -> None:
    """kgwet/irrCAC README: kappa2.table, scott2.table (and the coefficients of gwet.ac1.table, bp2.table,
    krippen2.table, pa2.table) on cont3x3abstractors (Gwet 2014)."""
    data = Ratings.from_table(CONT3X3_ABSTRACTORS, ["Ectopic", "AIU", "NIU"])
    assert data.n_subjects == 100 and data.n_raters == 2
    kappa = cohen_kappa(data)
    assert (kappa.coefficient, kappa.se, kappa.ci_low, kappa.ci_high) == (
        printed("0.7964094"),
        printed("0.05891072"),
        printed("0.68"),
        printed("0.913"),
    )
    scott = scott_pi(data)
    assert (scott.coefficient, scott.se, scott.ci_low, scott.ci_high) == (
        printed("0.7962397"),
        printed("0.05905473"),
        printed("0.679"),
        printed("0.913"),
    )
    # Multi-rater formulas give the table functions' coefficients; their SEs use another variance
    # (human-eval.md §1.4 item 4: AC1 table se 0.04321747 vs raw 0.0434352).
    ac1 = gwet_ac(data)
    assert ac1.coefficient == printed("0.8493305")
    assert ac1.se == printed("0.0434352")
    assert brennan_prediger(data).coefficient == printed("0.835")
    assert krippendorff_alpha(data).coefficient == printed("0.7972585")
    assert percent_agreement(data).coefficient == printed("0.89")
    # Raw ratings of the same two abstractors give the same table and kappa.
    assert np.array_equal(data.contingency_table(), np.array(CONT3X3_ABSTRACTORS, dtype=float))


def test_fleiss_1971_diagnoses() -> None:
    """Fleiss (1971), 30 patients x 6 psychiatrists; R irr::kappam.fleiss(diagnoses) = 0.4302445
    (statsmodels/stats/tests/test_inter_rater.py::test_fleiss_kappa_irr); Fleiss reports 0.430."""
    res = fleiss_kappa(FLEISS_1971_DIAGNOSES)
    assert res.coefficient == printed("0.4302445")
    assert res.coefficient == printed("0.430")
    # statsmodels' aggregate_raters column sums for this data: 26, 26, 30, 55, 43.
    assert Ratings.from_raw(FLEISS_1971_DIAGNOSES).counts.sum(axis=0).tolist() == [26, 26, 30, 55, 43]


def test_wikipedia_fleiss_example() -> None:
    """Wikipedia "Fleiss' kappa" worked example (14 raters, 10 subjects, 5 categories): kappa = 0.210,
    P-bar = 0.378, P-bar_e = 0.213 (statsmodels test_inter_rater.py::test_fleiss_kappa)."""
    res = fleiss_kappa(Ratings.from_counts(WIKIPEDIA_FLEISS))
    assert res.coefficient == printed("0.210")
    assert res.pa == printed("0.378")
    assert res.pe == printed("0.213")


def test_sas_cohen_kappa() -> None:
    """SAS PROC FREQ printout reproduced by statsmodels test_inter_rater.py: simple kappa 0.4842, ASE 0.1380,
    95% limits 0.2137-0.7547; weighted (linear) kappa 0.4701, ASE 0.1457, limits 0.1845-0.7558."""
    z = stats.norm.ppf(0.975)
    simple = cohen_kappa(Ratings.from_table(SAS_TABLE10))
    assert (simple.coefficient, simple.se) == (printed("0.4842"), printed("0.1380"))
    # SAS uses normal limits; ours are t-based, so rebuild SAS's from our kappa and SE.
    assert (simple.coefficient - z * simple.se, simple.coefficient + z * simple.se) == (
        printed("0.2137"),
        printed("0.7547"),
    )
    weighted = cohen_kappa(Ratings.from_table(SAS_TABLE10), "linear")
    assert (weighted.coefficient, weighted.se) == (printed("0.4701"), printed("0.1457"))
    assert weighted.coefficient - z * weighted.se == printed("0.1845")


# afergadis/irrCAC test/unit/irrCAC/raw/test_{gwet,fleiss,krippendorff,conger}.py on four more data sets
# (Python-port conventions: two-sided p, Krippendorff df n''-1): pa, pe, coefficient, se, CI, round(p, 5).
PY_OTHER = {
    ("5observers", "gwet"): (".616", ".236", ".497", ".122", ".235", ".758", 0.00114),
    ("5observers", "fleiss"): (".616", ".291", ".458", ".120", ".199", ".716", 0.00195),
    ("5observers", "krippendorff"): (".627", ".282", ".481", ".114", ".237", ".724", 0.00083),
    ("5observers", "conger"): (".616", ".276", ".469", ".117", ".219", ".719", 0.00126),
    ("g1g2", "gwet"): (".744", ".187", ".685", ".134", ".396", ".973", 0.00019),
    ("g1g2", "fleiss"): (".744", ".252", ".657", ".150", ".333", ".981", 0.00074),
    ("g1g2", "krippendorff"): (".728", ".261", ".632", ".150", ".306", ".958", 0.00119),
    ("g1g2", "conger"): (".744", ".249", ".659", ".146", ".343", ".974", 0.00059),
    ("gender", "gwet"): (".456", ".312", ".208", ".091", ".014", ".403", 0.03776),
    ("gender", "fleiss"): (".456", ".375", ".129", ".141", "-.172", ".430", 0.37449),
    ("gender", "krippendorff"): (".465", ".375", ".143", ".141", "-.158", ".445", 0.32472),
    ("gender", "conger"): (".456", ".347", ".166", ".121", "-.094", ".426", 0.19309),
    ("ben_gerry", "gwet"): (".727", ".194", ".661", ".184", ".257", "1", 0.00420),
    ("ben_gerry", "fleiss"): (".727", ".222", ".649", ".191", ".228", "1", 0.00599),
    ("ben_gerry", "krippendorff"): (".740", ".223", ".665", ".180", ".264", "1", 0.00416),
    ("ben_gerry", "conger"): (".727", ".205", ".657", ".179", ".262", "1", 0.00374),
}
DATASETS = {"5observers": RAW_5OBSERVERS, "g1g2": RAW_G1G2, "gender": RAW_GENDER, "ben_gerry": RAW_BEN_GERRY}
FUNCS = {"gwet": gwet_ac, "fleiss": fleiss_kappa, "krippendorff": krippendorff_alpha, "conger": conger_kappa}


@pytest.mark.parametrize(("dataset", "method"), list(PY_OTHER))
def test_python_port_other_datasets(dataset: str, method: str) -> None:
    pa, pe, coef, se, lo, hi, p = PY_OTHER[(dataset, method)]
    res = FUNCS[method](DATASETS[dataset], options=PY)
    assert (res.pa, res.pe, res.coefficient, res.se, res.ci_low, res.ci_high) == tuple(
        printed(v) for v in (pa, pe, coef, se, lo, hi)
    )
    assert round(res.p_value, 5) == pytest.approx(p, abs=1e-12)


def test_text_labels_inferred_categories() -> None:
    data = Ratings.from_raw(RAW_G1G2)
    assert data.categories == ("a", "b", "c", "d", "e")
    assert data.values is None and not data.ordered
