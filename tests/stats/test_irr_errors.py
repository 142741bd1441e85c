"""Bad input gives a SafetylensError with a readable message; degenerate data gives NaN with a note."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from irr_vectors import DISTRIB_6RATERS, RAW_4RATERS

from safetylens.errors import ConfigError, DataError, SafetylensError
from safetylens.stats.irr import (
    IrrOptions,
    agreement,
    all_coefficients,
    cohen_kappa,
    conger_kappa,
    fleiss_kappa,
    gwet_ac,
    krippendorff_alpha,
    krippendorff_alpha_level,
)
from safetylens.stats.irr_data import Ratings, parse_categories, read_ratings_csv

NA = math.nan


def test_one_rater() -> None:
    with pytest.raises(DataError, match="at least 2 raters"):
        gwet_ac([[1], [2], [3]])
    # A second column that is entirely empty is not a rater.
    with pytest.raises(DataError, match="at least 2 raters"):
        gwet_ac([[1, None], [2, None]], categories=[1, 2])


def test_no_subject_with_two_ratings() -> None:
    with pytest.raises(DataError, match="no subject was rated by two or more raters"):
        fleiss_kappa([[1, NA], [NA, 2], [3, NA]])
    with pytest.raises(DataError, match="no subject"):
        krippendorff_alpha(Ratings.from_counts([[1, 0], [0, 1]]))


def test_categories_outside_declared_set() -> None:
    with pytest.raises(DataError, match=r"outside the declared categories \[1, 2, 3, 4, 5\]") as info:
        gwet_ac([[1, 6], [2, 7]], categories=[1, 2, 3, 4, 5])
    assert "6.0" in str(info.value) or "6" in str(info.value)
    assert "subject row 1" in str(info.value)
    with pytest.raises(DataError, match="outside the declared"):
        gwet_ac([["safe", "unsafe"], ["safe", "???"]], categories=["safe", "unsafe"])


def test_non_numeric_values_with_numeric_weights() -> None:
    labels = [["a", "b"], ["b", "b"], ["a", "a"]]
    with pytest.raises(ConfigError, match="quadratic weights need ordered categories") as info:
        gwet_ac(labels, "quadratic")
    assert info.value.hint and "declare the categories" in info.value.hint
    with pytest.raises(ConfigError, match="ordinal alpha needs ordered categories"):
        krippendorff_alpha_level(labels, "ordinal")
    # Declared order makes them a scale with ranks 1..q (irrCAC's rule for non-numeric categories).
    assert gwet_ac(labels, "quadratic", categories=["a", "b"]).weights == "quadratic"
    # Numbers declared for text ratings, and text mixed with numbers.
    with pytest.raises(ConfigError, match="text labels but the declared categories include numbers"):
        gwet_ac(labels, categories=[1, 2])
    with pytest.raises(DataError, match="mix numbers"):
        gwet_ac([[1, "a"], [2, 2]])
    with pytest.raises(ConfigError, match="ratings are numbers but category 'x' is not"):
        gwet_ac([[1, 2], [2, 2]], categories=[1, "x"])


def test_other_bad_inputs() -> None:
    with pytest.raises(DataError, match="2-D"):
        gwet_ac([1, 2, 3])
    with pytest.raises(DataError, match="no rating at all"):
        gwet_ac([[None, None], [None, None]])
    with pytest.raises(ConfigError, match="at least 2 categories"):
        gwet_ac([[1, 1], [1, 1]])
    with pytest.raises(ConfigError, match="duplicate"):
        gwet_ac([[1, 2]], categories=[1, 2, 2])
    with pytest.raises(ConfigError, match="custom weights must be 5 x 5"):
        gwet_ac(RAW_4RATERS, np.eye(3), categories=[1, 2, 3, 4, 5])
    with pytest.raises(ConfigError, match="unknown weights"):
        gwet_ac(RAW_4RATERS, "cubic")
    with pytest.raises(ConfigError, match="unknown agreement method"):
        agreement(RAW_4RATERS, "kappa")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="population size 5 is smaller"):
        gwet_ac(RAW_4RATERS, options=IrrOptions(population_size=5))
    with pytest.raises(DataError, match="non-negative whole numbers"):
        Ratings.from_counts([[1.5, 0], [1, 1]])
    with pytest.raises(ConfigError, match="2 categories given for a count table with 5 columns"):
        Ratings.from_counts(DISTRIB_6RATERS, ["a", "b"])
    with pytest.raises(DataError, match="square"):
        Ratings.from_table([[1, 2, 3], [4, 5, 6]])


def test_rater_identity_needed() -> None:
    counts = Ratings.from_counts(DISTRIB_6RATERS)
    with pytest.raises(DataError, match="Conger's kappa needs to know which rater"):
        conger_kappa(counts)
    with pytest.raises(DataError, match="exactly 2 raters; this data has 4"):
        cohen_kappa(RAW_4RATERS)
    # all_coefficients simply leaves out what the data cannot support.
    methods = [r.method for r in all_coefficients(counts)]
    assert "conger" not in methods and "cohen" not in methods and "gwet" in methods


def test_degenerate_all_in_one_category() -> None:
    rows = [[5, 5, 5], [5, 5, NA], [5, 5, 5]]
    ac1 = gwet_ac(rows, categories=[1, 2, 3, 4, 5])
    assert ac1.coefficient == 1.0 and ac1.pe == 0.0 and ac1.se == 0.0
    assert math.isnan(ac1.p_value) is False and ac1.p_value == 0.0
    kappa = fleiss_kappa(rows, categories=[1, 2, 3, 4, 5])
    assert math.isnan(kappa.coefficient) and math.isnan(kappa.se)
    assert "undefined" in kappa.note
    assert math.isnan(kappa.to_estimate().value)


def test_single_subject_has_no_standard_error() -> None:
    res = gwet_ac([[1, 2]], categories=[1, 2])
    assert math.isnan(res.se) and math.isnan(res.ci_low) and "at least 2 subjects" in res.note


def test_csv_errors(tmp_path: Path) -> None:
    def write(text: str | bytes) -> Path:
        p = tmp_path / "r.csv"
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        return p

    with pytest.raises(DataError, match="not found"):
        read_ratings_csv(tmp_path / "missing.csv")
    with pytest.raises(DataError, match="is empty"):
        read_ratings_csv(write("\n\n"))
    with pytest.raises(DataError, match="line 3: 2 fields, but the header has 3"):
        read_ratings_csv(write("id,a,b\n1,1,2\n2,1\n"))
    with pytest.raises(DataError, match="not UTF-8"):
        read_ratings_csv(write(b"id,a,b\n1,\xff,2\n"))
    with pytest.raises(DataError, match="header but no rating rows"):
        read_ratings_csv(write("id,a,b\n"))
    with pytest.raises(DataError, match="1 rater column"):
        read_ratings_csv(write("subject,a\n1,2\n"))
    with pytest.raises(DataError, match="subject id '1' already used on line 2"):
        read_ratings_csv(write("item,a,b\n1,1,2\n1,2,2\n"))
    with pytest.raises(DataError, match="looks like ratings"):
        read_ratings_csv(write("1,2,3\n2,2,3\n"))
    with pytest.raises(DataError, match="appear more than once"):
        read_ratings_csv(write("id,a,a\n1,1,2\n"))
    with pytest.raises(DataError, match="not valid CSV"):
        read_ratings_csv(write('id,a,b\n1,"1,2\n'))
    with pytest.raises(DataError, match=r"line 3, column 'b': rating 'x' is not a number"):
        read_ratings_csv(write("id,a,b\n1,1,2\n2,1,x\n"), numeric=True)
    with pytest.raises(DataError, match="NUL"):
        read_ratings_csv(write(b"id,a,b\n1,\x00,2\n"))


def test_parse_categories() -> None:
    assert parse_categories("1, 2,3") == [1, 2, 3]
    assert parse_categories("0.5,1") == [0.5, 1]
    assert parse_categories("safe,unsafe") == ["safe", "unsafe"]
    for bad in ("", "1,,2", "1,1"):
        with pytest.raises(ConfigError):
            parse_categories(bad)


def test_errors_are_safetylens_errors() -> None:
    assert issubclass(DataError, SafetylensError) and issubclass(ConfigError, SafetylensError)
