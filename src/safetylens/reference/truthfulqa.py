"""TruthfulQA reference numbers: Llama 2 paper Table 44 (headline column = Tables 11/14).

Cells are percentages of the 817 generations judged truthful and informative ("% (true + info)"),
truthful ("% true") and informative ("% info") by the paper's fine-tuned GPT-3 judges
(protocol.md §1.1, §5.1). Two independent transcriptions agree on every cell. Every row except
ChatGPT's is an integer count over 817 questions (:meth:`ReferenceRow.integer_counts`).

The paper reports no multiple-choice (MC1/MC2/MC3) numbers: :data:`MC_NOTE` says so wherever the
``truthfulqa-mc`` benchmark would otherwise show reference rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from safetylens.tables import TableRow

N_QUESTIONS = 817
"""Questions in the paper's version of TruthfulQA."""

COLUMNS: tuple[str, ...] = ("true_info", "true", "info")
"""Table 44's columns, in order."""

COLUMN_LABELS: dict[str, str] = {"true_info": "% (true + info)", "true": "% true", "info": "% info"}
"""The paper's column headers."""

MC_NOTE = (
    "The Llama 2 paper reports no TruthfulQA multiple-choice (MC1/MC2/MC3) numbers; its TruthfulQA "
    "results (Tables 11, 14, 44) are judged generations. No reference rows are shown."
)


@dataclass(frozen=True)
class ReferenceRow:
    """One row of Table 44.

    Attributes:
        model: Model family as printed.
        size: Size as printed ("-" for ChatGPT).
        kind: ``pretrained`` (Table 11) or ``chat`` (Table 14).
        true_info: % (true + info), the headline of Tables 11/14.
        true: % true.
        info: % info.
        note: Anything a reader should know about the row.
    """

    model: str
    size: str
    kind: Literal["pretrained", "chat"]
    true_info: float
    true: float
    info: float
    note: str = ""

    @property
    def label(self) -> str:
        """Row label, e.g. ``"Llama 2 7B"``."""
        return self.model if self.size in ("", "-") else f"{self.model} {self.size}"

    def cells(self) -> dict[str, float]:
        """Cells keyed by column."""
        return {"true_info": self.true_info, "true": self.true, "info": self.info}

    def integer_counts(self, n: int = N_QUESTIONS) -> dict[str, int] | None:
        """Question counts per column if every cell is ``k / n`` rounded to two decimals, else None."""
        counts: dict[str, int] = {}
        for col, p in self.cells().items():
            k = round(p * n / 100)
            if round(100 * k / n, 2) != p:
                return None
            counts[col] = k
        return counts


TABLE44: tuple[ReferenceRow, ...] = (
    ReferenceRow("MPT", "7B", "pretrained", 29.13, 36.72, 92.04),
    ReferenceRow("MPT", "30B", "pretrained", 35.25, 40.27, 94.74),
    ReferenceRow("Falcon", "7B", "pretrained", 25.95, 29.01, 96.08),
    ReferenceRow("Falcon", "40B", "pretrained", 40.39, 44.80, 95.23),
    ReferenceRow("Llama 1", "7B", "pretrained", 27.42, 32.31, 94.86),
    ReferenceRow("Llama 1", "13B", "pretrained", 41.74, 45.78, 95.72),
    ReferenceRow("Llama 1", "33B", "pretrained", 44.19, 48.71, 95.23),
    ReferenceRow("Llama 1", "65B", "pretrained", 48.71, 51.29, 96.82),
    ReferenceRow("Llama 2", "7B", "pretrained", 33.29, 39.53, 93.02),
    ReferenceRow("Llama 2", "13B", "pretrained", 41.86, 45.65, 96.08),
    ReferenceRow("Llama 2", "34B", "pretrained", 43.45, 46.14, 96.70),
    ReferenceRow("Llama 2", "70B", "pretrained", 50.18, 53.37, 96.21),
    ReferenceRow(
        "ChatGPT",
        "-",
        "chat",
        78.46,
        79.92,
        98.53,
        note="not integer counts over 817 questions (no denominator <= 817 fits all three cells; protocol.md §5.1)",
    ),
    ReferenceRow("MPT-instruct", "7B", "chat", 29.99, 35.13, 94.37),
    ReferenceRow("Falcon-instruct", "7B", "chat", 28.03, 41.00, 85.68),
    ReferenceRow("Llama 2-Chat", "7B", "chat", 57.04, 60.59, 96.45),
    ReferenceRow("Llama 2-Chat", "13B", "chat", 62.18, 65.73, 96.45),
    ReferenceRow("Llama 2-Chat", "34B", "chat", 67.20, 70.01, 97.06),
    ReferenceRow("Llama 2-Chat", "70B", "chat", 64.14, 67.07, 97.06),
)
"""Table 44, in the paper's row order."""


def reference_rows(kind: Literal["pretrained", "chat"] | None = None) -> list[TableRow]:
    """Table 44 rows as ``TableRow(kind="reference")`` with cells under :data:`COLUMNS`.

    Args:
        kind: Only pretrained (Table 11) or chat (Table 14) rows; None for all.
    """
    return [
        TableRow(label=f"{r.label} (paper)", cells=dict(r.cells()), kind="reference", note=r.note)
        for r in TABLE44
        if kind is None or r.kind == kind
    ]
