"""Safety human-evaluation reference: Llama 2 paper Figure 17, bar heights read from the chart.

The paper prints no table for its safety human evaluation (§4.4); Figure 17 shows each model's
violation percentage (17a) and mean rating (17b) as bars. The values below were read from the chart
by the protocol's transcriber (protocol.md §2.1), so they are approximate, and every cell says so.
Two numbers are printed in the text: Falcon's mean rating 3.88 and Llama 2-Chat 34B's 4.45. The
paper's raters rated its own ~2,000 adversarial prompts, not the public sets safetylens runs, so the
rows show where models stood on that scale, not a target for the same prompts.
"""

from __future__ import annotations

from dataclasses import dataclass

from safetylens.tables import TableRow

READ_FROM_CHART = "read from Figure 17 by eye (protocol.md §2.1), approximate"


@dataclass(frozen=True)
class Figure17Bar:
    """One model's bars in Figure 17.

    Attributes:
        label: The model.
        violation_pct: Violation percentage (17a), the midpoint when the reading is a range.
        mean_rating: Mean rating (17b), the midpoint when the reading is a range.
        reading: The reading as transcribed (e.g. ``"≈4-5%"``).
        printed: Which cells are printed in the paper's text (exact), if any.
    """

    label: str
    violation_pct: float
    mean_rating: float
    reading: str
    printed: tuple[str, ...] = ()


FIGURE17: tuple[Figure17Bar, ...] = (
    Figure17Bar(
        "Llama-2-chat (7b-70b)",
        4.5,
        4.35,
        "violation ≈4-5% and mean rating ≈4.2-4.5 across the four sizes (34b's 4.45 is printed in §4.4)",
    ),
    Figure17Bar("MPT-7b-chat", 15.0, 3.5, "violation ≈15%, mean rating ≈3.5"),
    Figure17Bar("Vicuna-13b-v1.1", 25.0, 3.0, "violation ≈25%, mean rating ≈3.0"),
    Figure17Bar("Vicuna-33b-v1.3", 20.0, 3.2, "violation ≈20%, mean rating ≈3.2"),
    Figure17Bar("Falcon-40b-instruct", 8.0, 3.88, "violation ≈8%; mean rating 3.88 printed in §4.4", ("mean_rating",)),
    Figure17Bar("PaLM-Bison", 5.0, 4.2, "violation ≈5%, mean rating ≈4.2"),
    Figure17Bar("ChatGPT-0301", 4.0, 4.5, "violation ≈4%, mean rating ≈4.5"),
)


def figure17_rows() -> list[TableRow]:
    """Figure 17's bars as reference rows: ``violation_pct`` and ``mean_rating``, each marked approximate."""
    rows = []
    for bar in FIGURE17:
        uncertain = {c: READ_FROM_CHART for c in ("violation_pct", "mean_rating") if c not in bar.printed}
        rows.append(
            TableRow(
                label=f"{bar.label} (paper, Fig. 17)",
                cells={"violation_pct": bar.violation_pct, "mean_rating": bar.mean_rating},
                kind="reference",
                note=f"{bar.reading}; the paper's own adversarial prompts and human raters",
                uncertain=uncertain,
            )
        )
    return rows
