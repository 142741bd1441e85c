"""ToxiGen reference numbers: Llama 2 paper Table 45 (headline = Tables 11/14), and group sizes.

Cells are percentages of generations labelled toxic by the ToxiGen RoBERTa classifier, per target
group, in the paper's column order. The ``mean`` column is the unweighted mean of the 13 group
percentages, which is the ToxiGen number of Tables 11 and 14 (protocol.md §1.2, §5.2).

Three transcriptions of the paper disagree on three cells; the readings kept here are the ones
that reproduce the printed means and are integer counts over the group sizes, and those cells are
marked uncertain (:attr:`ReferenceRow.uncertain`). The MPT-30B and Falcon-40B rows are not integer
counts over the SafeNLP group sizes (unexplained; protocol.md §7.5), which is noted on those rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from safetylens.tables import TableRow

GROUPS: tuple[str, ...] = (
    "asian",
    "mexican",
    "muslim",
    "physical_disability",
    "jewish",
    "middle_eastern",
    "chinese",
    "mental_disability",
    "latino",
    "native_american",
    "women",
    "black",
    "lgbtq",
)
"""The 13 groups, in the column order of Table 45."""

GROUP_LABELS: dict[str, str] = {
    "asian": "Asian",
    "mexican": "Mexican",
    "muslim": "Muslim",
    "physical_disability": "Physical disability",
    "jewish": "Jewish",
    "middle_eastern": "Middle Eastern",
    "chinese": "Chinese",
    "mental_disability": "Mental disability",
    "latino": "Latino",
    "native_american": "Native American",
    "women": "Women",
    "black": "Black",
    "lgbtq": "LGBTQ",
    # Groups of the original ToxiGen prompt files that the paper's set does not have.
    "bisexual": "Bisexual",
    "immigrant": "Immigrant",
    "trans": "Trans",
}
"""Column labels (the paper's, adopted from ToxiGen), plus the three extra prompt-file groups."""

GROUP_SIZES: dict[str, int] = {
    "asian": 883,
    "mexican": 459,
    "muslim": 548,
    "physical_disability": 591,
    "jewish": 536,
    "middle_eastern": 431,
    "chinese": 437,
    "mental_disability": 624,
    "latino": 743,
    "native_american": 502,
    "women": 641,
    "black": 591,
    "lgbtq": 604,
}
"""Sentences of SafeNLP ``toxiGen.json`` tagged with each group (a sentence counts once per group)."""

GROUP_HATE_SIZES: dict[str, int] = {
    "asian": 357,
    "mexican": 231,
    "muslim": 203,
    "physical_disability": 233,
    "jewish": 234,
    "middle_eastern": 172,
    "chinese": 171,
    "mental_disability": 231,
    "latino": 368,
    "native_american": 195,
    "women": 336,
    "black": 296,
    "lgbtq": 248,
}
"""Of which labelled ``hate`` by the annotators."""


@dataclass(frozen=True)
class ReferenceRow:
    """One row of Table 45.

    Attributes:
        model: Model family as printed.
        size: Size as printed ("-" for ChatGPT).
        kind: ``pretrained`` (Table 11) or ``chat`` (Table 14).
        cells: Percent toxic per group, in :data:`GROUPS` order.
        mean: The printed headline (Table 11 / Table 14).
        uncertain: Group -> why the transcription of that cell is uncertain.
        note: Anything else a reader should know about the row.
    """

    model: str
    size: str
    kind: Literal["pretrained", "chat"]
    cells: tuple[float, ...]
    mean: float
    uncertain: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def label(self) -> str:
        """Row label, e.g. ``"Llama 2 7B"``."""
        return self.model if self.size in ("", "-") else f"{self.model} {self.size}"

    def by_group(self) -> dict[str, float]:
        """Cells keyed by group."""
        return dict(zip(GROUPS, self.cells, strict=True))

    def integer_counts(self) -> dict[str, int] | None:
        """Toxic counts per group if every cell is an integer count over the group size, else None.

        This is protocol.md §5.2's check: ``round(100 * round(p * n / 100) / n, 2) == p``.
        """
        counts: dict[str, int] = {}
        for g, p in self.by_group().items():
            n = GROUP_SIZES[g]
            k = round(p * n / 100)
            if round(100 * k / n, 2) != p:
                return None
            counts[g] = k
        return counts


_NOT_COUNTS = (
    "Not integer counts over the SafeNLP group sizes (unlike 15 of the 17 rows); why is unknown "
    "(protocol.md §5.2, §7.5)."
)

TABLE45: tuple[ReferenceRow, ...] = (
    ReferenceRow(
        "MPT",
        "7B",
        "pretrained",
        (15.40, 33.55, 23.54, 17.09, 26.12, 23.20, 16.25, 17.63, 28.40, 19.52, 24.34, 25.04, 20.03),
        22.32,
        uncertain={"lgbtq": "transcriptions read 20.03 or 20.36; only 20.03 reproduces the Table 11 mean 22.32"},
    ),
    ReferenceRow(
        "MPT",
        "30B",
        "pretrained",
        (15.74, 31.49, 19.04, 21.68, 26.82, 30.60, 13.87, 24.36, 16.51, 32.68, 15.56, 25.21, 20.32),
        22.61,
        note=_NOT_COUNTS,
    ),
    ReferenceRow(
        "Falcon",
        "7B",
        "pretrained",
        (9.06, 18.30, 17.34, 8.29, 19.40, 12.99, 10.07, 10.26, 18.03, 15.34, 17.32, 16.75, 15.73),
        14.53,
    ),
    ReferenceRow(
        "Falcon",
        "40B",
        "pretrained",
        (19.59, 29.61, 25.83, 13.54, 29.85, 23.40, 25.55, 29.10, 23.20, 17.31, 21.05, 23.11, 23.52),
        23.44,
        note=_NOT_COUNTS,
    ),
    ReferenceRow(
        "Llama 1",
        "7B",
        "pretrained",
        (16.65, 30.72, 26.82, 16.58, 26.49, 22.27, 17.16, 19.71, 28.67, 21.71, 29.80, 23.01, 19.37),
        23.00,
    ),
    ReferenceRow(
        "Llama 1",
        "13B",
        "pretrained",
        (18.80, 32.03, 25.18, 14.72, 28.54, 21.11, 18.76, 15.71, 30.42, 20.52, 27.15, 25.21, 21.85),
        23.08,
    ),
    ReferenceRow(
        "Llama 1",
        "33B",
        "pretrained",
        (16.87, 32.24, 21.53, 16.24, 28.54, 22.04, 19.91, 18.27, 29.88, 18.13, 25.90, 24.53, 19.37),
        22.57,
        uncertain={
            "mexican": "transcriptions read 32.24 or 33.24; only 32.24 is a count over 459 and reproduces "
            "the mean 22.57"
        },
    ),
    ReferenceRow(
        "Llama 1",
        "65B",
        "pretrained",
        (14.27, 31.59, 21.90, 14.89, 23.51, 22.27, 17.16, 18.91, 28.40, 19.32, 28.71, 22.00, 20.03),
        21.77,
    ),
    ReferenceRow(
        "Llama 2",
        "7B",
        "pretrained",
        (16.53, 31.15, 22.63, 15.74, 26.87, 19.95, 15.79, 19.55, 25.03, 18.92, 21.53, 22.34, 20.20),
        21.25,
    ),
    ReferenceRow(
        "Llama 2",
        "13B",
        "pretrained",
        (21.29, 37.25, 22.81, 17.77, 32.65, 24.13, 21.05, 20.19, 35.40, 27.69, 26.99, 28.26, 23.84),
        26.10,
    ),
    ReferenceRow(
        "Llama 2",
        "34B",
        "pretrained",
        (16.76, 29.63, 23.36, 14.38, 27.43, 19.49, 18.54, 17.31, 26.38, 18.73, 22.78, 21.66, 19.04),
        21.19,
    ),
    ReferenceRow(
        "Llama 2",
        "70B",
        "pretrained",
        (21.29, 32.90, 25.91, 16.92, 30.60, 21.35, 16.93, 21.47, 30.42, 20.12, 31.05, 28.43, 22.35),
        24.60,
    ),
    ReferenceRow(
        "ChatGPT",
        "-",
        "chat",
        (0.23, 0.22, 0.18, 0.0, 0.19, 0.0, 0.46, 0.0, 0.13, 0.0, 0.47, 0.0, 0.66),
        0.20,
    ),
    ReferenceRow(
        "MPT-instruct",
        "7B",
        "chat",
        (15.86, 28.76, 11.31, 9.64, 18.84, 14.62, 15.33, 16.51, 25.30, 13.94, 12.95, 17.94, 11.26),
        16.33,
    ),
    ReferenceRow(
        "Falcon-instruct",
        "7B",
        "chat",
        (6.23, 9.15, 6.02, 7.28, 11.19, 6.73, 8.01, 7.53, 8.61, 8.57, 9.05, 7.78, 6.46),
        7.89,
    ),
    ReferenceRow("Llama 2-Chat", "7B", "chat", (0.0,) * 13, 0.00),
    ReferenceRow("Llama 2-Chat", "13B", "chat", (0.0,) * 13, 0.00),
    ReferenceRow(
        "Llama 2-Chat",
        "34B",
        "chat",
        (0.11, 0.0, 0.0, 0.17, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        0.02,
    ),
    ReferenceRow(
        "Llama 2-Chat",
        "70B",
        "chat",
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.16, 0.0, 0.0),
        0.01,
        uncertain={
            "women": "transcriptions put the single non-zero cell under Women (0.16 = 1/641) or Black "
            "(0.17 = 1/591); Women gives the printed means"
        },
    ),
)
"""Table 45, in the paper's row order."""


def reference_rows(kind: Literal["pretrained", "chat"] | None = None) -> list[TableRow]:
    """Table 45 rows as ``TableRow(kind="reference")``, with the mean under ``"mean"``.

    Args:
        kind: Only pretrained (Table 11) or chat (Table 14) rows; None for all.
    """
    rows: list[TableRow] = []
    for r in TABLE45:
        if kind is not None and r.kind != kind:
            continue
        cells: dict[str, float | str | None] = {**r.by_group(), "mean": r.mean}
        notes = [f"uncertain {GROUP_LABELS[g]}: {why}" for g, why in r.uncertain.items()]
        if r.note:
            notes.append(r.note)
        rows.append(
            TableRow(
                label=f"{r.label} (paper)",
                cells=dict(cells),
                kind="reference",
                note="; ".join(notes),
                uncertain=dict(r.uncertain),
            )
        )
    return rows
