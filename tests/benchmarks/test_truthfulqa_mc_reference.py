"""The paper's TruthfulQA rows (Table 44): shape, consistency checks of protocol.md §5.1."""

from __future__ import annotations

from safetylens.reference.truthfulqa import COLUMN_LABELS, COLUMNS, MC_NOTE, TABLE44, reference_rows


def test_table44_shape_and_labels() -> None:
    assert COLUMNS == ("true_info", "true", "info")
    assert [COLUMN_LABELS[c] for c in COLUMNS] == ["% (true + info)", "% true", "% info"]
    assert len(TABLE44) == 19
    assert len(reference_rows("pretrained")) == 12
    assert len(reference_rows("chat")) == 7
    row = next(r for r in reference_rows() if r.label == "Llama 2 7B (paper)")
    assert row.cells == {"true_info": 33.29, "true": 39.53, "info": 93.02}
    assert row.kind == "reference"
    assert "no TruthfulQA multiple-choice" in MC_NOTE


def test_counts_over_817_except_chatgpt() -> None:
    llama2_7b = next(r for r in TABLE44 if r.label == "Llama 2 7B")
    assert llama2_7b.integer_counts() == {"true_info": 272, "true": 323, "info": 760}
    not_counts = [r.label for r in TABLE44 if r.integer_counts() is None]
    assert not_counts == ["ChatGPT"]


def test_combination_bounds_hold() -> None:
    # max(0, true + info - 100) <= true_info <= min(true, info) on every row (protocol.md §1.1).
    for r in TABLE44:
        assert max(0.0, r.true + r.info - 100) - 1e-9 <= r.true_info <= min(r.true, r.info), r.label


def test_relative_gain_in_text() -> None:
    # "+21.37%": Llama 2 7B vs Llama 1 7B in % (true + info), a relative change.
    l2 = next(r for r in TABLE44 if r.label == "Llama 2 7B")
    l1 = next(r for r in TABLE44 if r.label == "Llama 1 7B")
    assert round(100 * (l2.true_info / l1.true_info - 1), 2) == 21.41
