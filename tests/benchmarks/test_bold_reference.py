"""The paper's BOLD rows (Tables 46-50): shape, uncertain cells, the Falcon 40B profession row."""

from __future__ import annotations

import pytest

from safetylens.reference import toxigen, truthfulqa
from safetylens.reference.bold import (
    COLUMNS,
    DOMAINS,
    FALCON_40B_PROFESSION_READINGS,
    TABLE_NUMBERS,
    reference_rows,
    reference_table_rows,
)

MODELS = [
    "MPT 7B", "MPT 30B", "Falcon 7B", "Falcon 40B",
    "Llama 1 7B", "Llama 1 13B", "Llama 1 33B", "Llama 1 65B",
    "Llama 2 7B", "Llama 2 13B", "Llama 2 34B", "Llama 2 70B",
    "ChatGPT", "MPT-instruct 7B", "Falcon-instruct 7B",
    "Llama 2-Chat 7B", "Llama 2-Chat 13B", "Llama 2-Chat 34B", "Llama 2-Chat 70B",
]  # fmt: skip


def _row(domain: str, label: str):  # type: ignore[no-untyped-def]
    return next(r for r in reference_rows(domain) if r.label == label)


def test_tables_numbers_and_shapes() -> None:
    assert TABLE_NUMBERS == {
        "race": 46,
        "gender": 47,
        "religious_ideology": 48,
        "political_ideology": 49,
        "profession": 50,
    }
    assert [len(COLUMNS[d]) for d in DOMAINS] == [4, 2, 5, 12, 18]
    for domain in DOMAINS:
        rows = reference_rows(domain)
        assert [r.label for r in rows] == MODELS
        for r in rows:
            assert r.table == TABLE_NUMBERS[domain] and r.domain == domain
            assert list(r.values) == [k for k, _ in COLUMNS[domain]]
            assert all(v is None or -1 <= v <= 1 for v in r.values.values())


def test_spot_values() -> None:
    assert _row("race", "Llama 2-Chat 7B").values["Asian_Americans"] == 0.55
    assert _row("gender", "ChatGPT").values["American_actresses"] == 0.65
    assert _row("religious_ideology", "Llama 2-Chat 13B").values["islam"] == 0.71
    assert _row("political_ideology", "MPT 30B").values["fascism"] == -0.17
    assert _row("political_ideology", "Llama 2-Chat 70B").values["communism"] == 0.28  # two copies of three
    assert _row("profession", "Llama 2-Chat 70B").values["sewing_occupations"] == 0.43
    assert _row("profession", "ChatGPT").values["computer_occupations"] == 0.84


def test_uncertain_cells_carry_their_alternative_reading() -> None:
    found = {
        (r.domain, r.label, k): (r.values[k], alt)
        for d in DOMAINS
        for r in reference_rows(d)
        for k, alt in r.alternatives.items()
    }
    assert found == {
        ("political_ideology", "Llama 1 13B", "populism"): (0.10, 0.18),
        ("profession", "Llama 1 13B", "scientific_occupations"): (0.23, 0.25),
        ("profession", "Llama 1 13B", "theatre_personnel"): (0.41, 0.43),
        ("profession", "Llama 1 33B", "dance_occupations"): (0.34, 0.31),
        ("profession", "Llama 1 33B", "theatre_personnel"): (0.41, 0.43),
        ("profession", "Llama 1 33B", "industrial_occupations"): (0.28, 0.26),
        ("profession", "Llama 1 65B", "theatre_personnel"): (0.43, 0.42),
        ("profession", "Llama 2 70B", "engineering_branches"): (0.28, 0.23),
        ("profession", "Llama 2 70B", "mental_health_occupations"): (0.31, 0.33),
        ("profession", "Llama 2 70B", "theatre_personnel"): (0.45, 0.43),
        ("profession", "Llama 2-Chat 70B", "scientific_occupations"): (0.38, 0.36),
        ("profession", "Llama 2-Chat 70B", "professional_driver_types"): (0.28, 0.26),
    }
    row = next(r for r in reference_table_rows("political_ideology") if r.label == "Llama 1 13B (paper)")
    assert "Populism 0.10 or 0.18" in row.note and "Table 49" in row.note


def test_falcon_40b_profession_row() -> None:
    row = _row("profession", "Falcon 40B")
    last_five = [
        "mental_health_occupations",
        "theatre_personnel",
        "corporate_titles",
        "industrial_occupations",
        "railway_industry_occupations",
    ]
    assert all(row.values[k] is None for k in last_five)
    assert row.values["engineering_branches"] == 0.25
    assert sum(v is not None for v in row.values.values()) == 13
    assert "19 numbers for 18 columns" in row.note
    assert len(FALCON_40B_PROFESSION_READINGS["printed_tail_T1_C1"]) == 6
    assert len(FALCON_40B_PROFESSION_READINGS["T2_last_five"]) == 5
    # 13 assigned cells + the printed six = the 19 numbers the paper prints.
    assert 13 + len(FALCON_40B_PROFESSION_READINGS["printed_tail_T1_C1"]) == 19


def test_cross_checked_rows_of_table_50() -> None:
    checked = [r.label for r in reference_rows("profession") if r.cross_checked]
    assert checked == [
        "MPT 7B",
        "Falcon 7B",
        "Llama 2 7B",
        "Llama 2 13B",
        "Llama 2 34B",
        "MPT-instruct 7B",
        "Falcon-instruct 7B",
        "Llama 2-Chat 7B",
        "Llama 2-Chat 13B",
        "Llama 2-Chat 34B",
    ]
    assert not any(r.cross_checked for d in DOMAINS[:4] for r in reference_rows(d))


@pytest.mark.parametrize("domain", DOMAINS)
def test_table_rows_for_display(domain: str) -> None:
    rows = reference_table_rows(domain)
    assert len(rows) == 19
    assert all(r.kind == "reference" for r in rows)
    assert all(f"Table {TABLE_NUMBERS[domain]}" in r.note for r in rows)
    assert rows[0].cells == reference_rows(domain)[0].values


@pytest.mark.parametrize("domain", DOMAINS)
def test_table_rows_carry_the_paper_suffix_as_every_benchmarks_reference_rows(domain: str) -> None:
    # A report puts these rows under measured ones: the label itself says they are the paper's.
    assert [r.label for r in reference_table_rows(domain)] == [f"{m} (paper)" for m in MODELS]
    others = [*truthfulqa.reference_rows(), *toxigen.reference_rows()]
    assert others and all(r.label.endswith(" (paper)") for r in others)
