"""Which plot shows which table.

The paper's tables get the plots the issue asks for (ToxiGen: per-group bars; BOLD: per-subgroup
dots with a zero line; TruthfulQA: bars next to the paper's rows). Tables of other benchmarks get a
plot chosen from their shape, so new benchmarks are plotted without changes here.
"""

from __future__ import annotations

from typing import Literal

from safetylens.report.svg import Series, _num, grouped_plot, row_bars
from safetylens.report.tables import ReportTable

PlotKind = Literal["group-bars", "group-dots", "row-bars"]

KNOWN: dict[str, PlotKind] = {
    "llama2-table44": "row-bars",
    "llama2-table45": "group-bars",
    **{f"llama2-table{n}": "group-dots" for n in range(46, 51)},
}
"""Plot kinds of the paper's tables (TruthfulQA 44, ToxiGen 45, BOLD 46-50)."""


def plot_kind(table: ReportTable) -> PlotKind:
    """The plot for a table: the known paper tables by id, others by shape."""
    if table.id in KNOWN:
        return KNOWN[table.id]
    if len(table.columns) <= 4 and len(table.reference) >= 4:
        return "row-bars"
    values = [n[1] for r in table.rows for c in table.columns if (n := _num(r.cells.get(c)))]
    return "group-dots" if any(v < 0 for v in values) else "group-bars"


def _unit(table: ReportTable) -> str:
    for r in table.measured:
        for c in table.columns:
            cell = r.cells.get(c)
            unit = getattr(cell, "unit", None)
            if unit:
                return str(unit)
    return ""


def table_plots(table: ReportTable) -> list[str]:
    """Inline SVG plots of a report table (empty when it has no measured numbers)."""
    if not table.measured:
        return []
    kind = plot_kind(table)
    unit = _unit(table)
    if kind == "row-bars":
        out = []
        for c in table.columns:
            rows = [(r.label, r.cells.get(c), r.kind == "measured") for r in table.rows]
            svg = row_bars(f"{table.label(c)}", rows, digits=table.digits, unit=unit, plot_id=f"{table.id}:{c}")
            if svg:
                out.append(svg)
        return out
    ref: dict[str, tuple[float, float]] = {}
    for c in table.columns:
        vals = [n[0] for r in table.reference if (n := _num(r.cells.get(c)))]
        if vals:
            ref[c] = (min(vals), max(vals))
    series = [Series(r.label, r.cells) for r in table.measured]
    svg = grouped_plot(
        table.title,
        [(c, table.label(c)) for c in table.columns],
        series,
        style="dots" if kind == "group-dots" else "bars",
        reference_range=ref,
        reference_label=f"paper: range of {len(table.reference)} models" if ref else "",
        zero_line=kind == "group-dots",
        digits=table.digits,
        unit=unit,
        plot_id=table.id,
    )
    return [svg] if svg else []
