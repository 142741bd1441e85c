"""Published rating data sets used as test vectors (sources in each docstring)."""

from __future__ import annotations

import math

NA = math.nan

# Dataset A: kgwet/irrCAC inst/extdata/cac.raw4raters.csv = afergadis/irrCAC datasets.raw_4raters
# = Gwet (2014) Handbook p.120 = Krippendorff, "Computing Krippendorff's Alpha-Reliability" (2011) p.8
# (human-eval.md §1.6). 12 units x 4 raters, categories 1-5, NA missing.
RAW_4RATERS = [
    [1, 1, NA, 1],
    [2, 2, 3, 2],
    [3, 3, 3, 3],
    [3, 3, 3, 3],
    [2, 2, 2, 2],
    [1, 2, 3, 4],
    [4, 4, 4, 4],
    [1, 1, 2, 1],
    [2, 2, 2, 2],
    [NA, 5, 5, 5],
    [NA, NA, 1, 1],
    [NA, NA, 3, NA],
]
RAW_4RATERS_CSV = """Units,Rater1,Rater2,Rater3,Rater4
1,1,1,NA,1
2,2,2,3,2
3,3,3,3,3
4,3,3,3,3
5,2,2,2,2
6,1,2,3,4
7,4,4,4,4
8,1,1,2,1
9,2,2,2,2
10,NA,5,5,5
11,NA,NA,1,1
12,NA,NA,3,NA
"""

# Custom non-symmetric weights of afergadis/irrCAC test/unit/irrCAC/raw/test_*.py (human-eval.md §1.6).
CUSTOM_WEIGHTS = [
    [1.00, 0.75, 0.50, 0.25, 0.00],
    [0.00, 1.00, 0.75, 0.50, 0.25],
    [0.25, 0.00, 1.00, 0.75, 0.50],
    [0.50, 0.25, 0.00, 1.00, 0.75],
    [0.75, 0.50, 0.25, 0.00, 1.00],
]

# Dataset C: Krippendorff / Wikipedia example, 3 coders x 15 units, values 1-4 (fast-krippendorff docstring).
# Rows are coders here; transpose for subjects x raters.
KRIPP_C_CODERS = [
    [NA, NA, NA, NA, NA, 3, 4, 1, 2, 1, 1, 3, 3, NA, 3],
    [1, NA, 2, 1, 3, 3, 4, 3, NA, NA, NA, NA, NA, NA, NA],
    [NA, NA, 2, 1, 3, 4, 4, NA, 2, 1, 1, 3, 3, NA, 4],
]

# Gwet (2014) Handbook (larger version p.125); afergadis/irrCAC datasets.raw_5observers. Scale 0..3.
RAW_5OBSERVERS = [
    list(row)
    for row in zip(
        [1, 1, 2, NA, 0, 0, 1, 1, 2, 2, NA, 0, 1, 3, 1],
        [1, 1, 3, 0, 0, 0, 0, NA, 2, 1, 1, 0, 2, 3, 1],
        [2, 0, 3, 0, 0, 0, 2, 2, 2, 1, 0, 0, 2, 2, 1],
        [NA, 1, 3, NA, NA, NA, NA, 0, NA, 1, 0, 0, 2, 2, NA],
        [2, NA, NA, 0, 0, 0, 1, NA, 2, NA, NA, NA, NA, 3, 1],
        strict=True,
    )
]

# irrCAC cac.raw.g1g2 = afergadis datasets.raw_g1g2: 14 units x 4 raters, labels a..e, None missing.
RAW_G1G2 = [
    list(row)
    for row in zip(
        ["a", "b", "c", "c", "b", "a", "d", "a", "b", None, None, None, "b", "b"],
        ["a", "b", "c", "c", "b", "b", "d", "a", "b", "e", None, None, "b", "a"],
        [None, "c", "c", "c", "b", "c", "d", "b", "b", "e", "a", "c", "c", "c"],
        ["a", "b", "c", "c", "b", "d", "d", "a", "b", "e", "a", None, "b", "b"],
        strict=True,
    )
]

# irrCAC cac.raw.gender = afergadis datasets.raw_gender: 15 units x 4 raters, labels a, b, c.
RAW_GENDER = [
    list(row)
    for row in zip(
        ["a", "a", "a", "a", "a", "b", "b", "b", "c", "a", "a", "a", "a", "a", "b"],
        ["a", "a", "a", "a", "b", "a", "b", "c", "c", "a", "a", "a", "a", "b", "a"],
        ["a", "b", "b", "c", "a", "a", "b", "b", "c", "a", "b", "b", "c", "a", "a"],
        ["c", "c", "c", "c", "a", "a", "b", "b", "c", "c", "c", "c", "c", "a", "a"],
        strict=True,
    )
]

# irrCAC cac.ben.gerry = afergadis datasets.raw_ben_gerry: 12 units x 2 raters, labels a..e.
RAW_BEN_GERRY = [
    list(row)
    for row in zip(
        ["a", "a", "b", "b", "d", "c", "c", "c", "e", "d", "d", "a"],
        ["b", "a", "b", "b", "b", "c", "c", "c", "e", None, "d", "d"],
        strict=True,
    )
]

# irrCAC distrib.6raters (Fleiss 1971 psychiatric diagnoses, 15 of the 30 patients): counts per category
# Depression, Personality Disorder, Schizophrenia, Neurosis, Other. kgwet/irrCAC README.
DISTRIB_6RATERS = [
    [0, 0, 0, 6, 0],
    [0, 3, 0, 0, 3],
    [0, 1, 4, 0, 1],
    [0, 0, 0, 0, 6],
    [0, 3, 0, 3, 0],
    [2, 0, 4, 0, 0],
    [0, 0, 4, 0, 2],
    [2, 0, 3, 1, 0],
    [2, 0, 0, 4, 0],
    [0, 0, 0, 0, 6],
    [1, 0, 0, 5, 0],
    [1, 1, 0, 4, 0],
    [0, 3, 3, 0, 0],
    [1, 0, 0, 5, 0],
    [0, 2, 0, 3, 1],
]

# irrCAC cont3x3abstractors (Gwet 2014): 100 pregnancies, rows abstractor 1, columns abstractor 2.
CONT3X3_ABSTRACTORS = [[13, 0, 0], [0, 20, 7], [0, 4, 56]]

# Fleiss (1971) "Measuring nominal scale agreement among many raters", Psychol. Bull. 76:378-382: 30 patients,
# 6 psychiatrists, 5 diagnoses; raw form from R irr::diagnoses via statsmodels
# statsmodels/stats/tests/test_inter_rater.py (kappam.fleiss = 0.4302445).
FLEISS_1971_DIAGNOSES = [
    [4, 4, 4, 4, 4, 4],
    [2, 2, 2, 5, 5, 5],
    [2, 3, 3, 3, 3, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 2, 2, 4, 4, 4],
    [1, 1, 3, 3, 3, 3],
    [3, 3, 3, 3, 5, 5],
    [1, 1, 3, 3, 3, 4],
    [1, 1, 4, 4, 4, 4],
    [5, 5, 5, 5, 5, 5],
    [1, 4, 4, 4, 4, 4],
    [1, 2, 4, 4, 4, 4],
    [2, 2, 2, 3, 3, 3],
    [1, 4, 4, 4, 4, 4],
    [2, 2, 4, 4, 4, 5],
    [3, 3, 3, 3, 3, 5],
    [1, 1, 1, 4, 5, 5],
    [1, 1, 1, 1, 1, 2],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 5, 5, 5],
    [5, 5, 5, 5, 5, 5],
    [2, 4, 4, 4, 4, 4],
    [2, 2, 4, 5, 5, 5],
    [1, 1, 4, 4, 4, 4],
    [1, 4, 4, 4, 4, 5],
    [2, 2, 2, 2, 2, 4],
    [1, 1, 1, 1, 5, 5],
    [2, 2, 4, 4, 4, 4],
    [1, 3, 3, 3, 3, 3],
    [5, 5, 5, 5, 5, 5],
]

# Wikipedia "Fleiss' kappa" worked example: 10 subjects x 5 categories, 14 raters; kappa = 0.210
# (statsmodels test_inter_rater.py::test_fleiss_kappa, table1).
WIKIPEDIA_FLEISS = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# SAS PROC FREQ example used by statsmodels test_inter_rater.py (UnweightedCohens / TestWeightedCohens).
SAS_TABLE10 = [[0, 4, 1], [0, 8, 0], [0, 1, 5]]
