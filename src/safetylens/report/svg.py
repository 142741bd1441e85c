"""Inline SVG plots with confidence intervals (no plotting library, no JavaScript, no network).

Two kinds of plot cover the paper's tables:

- :func:`grouped_plot`: one block per category (a ToxiGen group, a BOLD subgroup), one bar or dot
  per run with its CI whisker; optionally the range of the paper's rows as a grey band, and a zero
  line (BOLD sentiment can be negative).
- :func:`row_bars`: one bar per row of a table for one column (TruthfulQA "% true" of this run next
  to the paper's models), measured rows coloured with CIs, the paper's rows grey.

All text is escaped; hover titles carry the exact value, CI and n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from safetylens.report.escape import html_text
from safetylens.report.tables import Cell, fmt_number
from safetylens.stats.ci import Estimate

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
REFERENCE_COLOUR = "#b8b8b8"
WIDTH = 760
LEFT = 190
RIGHT = 24
TOP = 30
AXIS = 26


@dataclass(frozen=True)
class Series:
    """One run's values over the categories of a plot."""

    name: str
    values: dict[str, Cell]


def _num(cell: Cell) -> tuple[float, float, float] | None:
    """(value, low, high) of a cell, or None when it has no finite value."""
    if isinstance(cell, Estimate):
        if math.isnan(cell.value):
            return None
        lo = cell.ci_low if not math.isnan(cell.ci_low) else cell.value
        hi = cell.ci_high if not math.isnan(cell.ci_high) else cell.value
        return cell.value, lo, hi
    if isinstance(cell, float | int) and not isinstance(cell, bool) and math.isfinite(float(cell)):
        v = float(cell)
        return v, v, v
    return None


def nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    """Round tick positions covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / target
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 0.5:
        ticks.append(round(t, 10))
        t += step
    return ticks


class _Scale:
    def __init__(self, lo: float, hi: float) -> None:
        ticks = nice_ticks(lo, hi)
        self.ticks = ticks
        self.lo, self.hi = ticks[0], ticks[-1]

    def __call__(self, v: float) -> float:
        return LEFT + (v - self.lo) / (self.hi - self.lo) * (WIDTH - LEFT - RIGHT)


def _tooltip(name: str, label: str, cell: Cell, digits: int, unit: str) -> str:
    if isinstance(cell, Estimate):
        text = (
            f"{name} · {label}: {fmt_number(cell.value, digits)}{unit} "
            f"(95% CI {fmt_number(cell.ci_low, digits)}–{fmt_number(cell.ci_high, digits)}, n={cell.n})"
        )
    else:
        text = f"{name} · {label}: {cell}{unit}"
    return f"<title>{html_text(text)}</title>"


def _axis(scale: _Scale, y0: float, y1: float, digits: int, unit: str, zero_line: bool) -> list[str]:
    parts = []
    for t in scale.ticks:
        x = scale(t)
        parts.append(f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x:.1f}" y2="{y1:.1f}" class="grid"/>')
        parts.append(
            f'<text x="{x:.1f}" y="{y1 + 14:.1f}" text-anchor="middle" class="tick">{html_text(f"{t:g}")}</text>'
        )
    if zero_line and scale.lo <= 0 < scale.hi:
        x = scale(0.0)
        parts.append(f'<line x1="{x:.1f}" y1="{y0:.1f}" x2="{x:.1f}" y2="{y1:.1f}" class="zero"/>')
    if unit:
        parts.append(
            f'<text x="{WIDTH - RIGHT:.1f}" y="{y1 + 24:.1f}" text-anchor="end" class="tick">{html_text(unit)}</text>'
        )
    return parts


def grouped_plot(
    title: str,
    categories: Sequence[tuple[str, str]],
    series: Sequence[Series],
    *,
    style: Literal["bars", "dots"] = "bars",
    reference_range: dict[str, tuple[float, float]] | None = None,
    reference_label: str = "",
    zero_line: bool = False,
    digits: int = 2,
    unit: str = "",
    plot_id: str = "",
) -> str:
    """Horizontal grouped bars or dots with CI whiskers, one block per category.

    Args:
        title: Plot title.
        categories: (key, label) pairs, top to bottom.
        series: One per run; values keyed by category.
        style: ``bars`` (from zero) or ``dots``.
        reference_range: Category -> (min, max) of the paper's rows, drawn as a grey band.
        reference_label: Legend text for the band.
        zero_line: Draw a line at zero.
        digits: Decimals in hover titles.
        unit: Unit shown on the axis and in hover titles.
        plot_id: ``data-plot`` attribute for tests and styling.
    """
    ref = reference_range or {}
    cats = [(k, lab) for k, lab in categories if k in ref or any(_num(s.values.get(k)) for s in series)]
    lo, hi = (0.0 if style == "bars" or zero_line else math.inf), (0.0 if zero_line else -math.inf)
    for k, _ in cats:
        for s in series:
            n = _num(s.values.get(k))
            if n:
                lo, hi = min(lo, n[1]), max(hi, n[2])
        if k in ref:
            lo, hi = min(lo, ref[k][0]), max(hi, ref[k][1])
    if not cats:
        return ""
    if not math.isfinite(lo) or not math.isfinite(hi):
        lo, hi = 0.0, 1.0
    scale = _Scale(lo, hi)
    bar_h = 11 if len(series) > 1 else 14
    block = bar_h * len(series) + 10
    legend_h = 18 * math.ceil((len(series) + (1 if ref else 0)) / 3)
    plot_top = TOP + legend_h
    height = plot_top + block * len(cats) + AXIS + 14
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{html_text(plot_id)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{html_text(title)}">',
        f'<text x="{LEFT}" y="18" class="ptitle">{html_text(title)}</text>',
    ]
    legend = [(s.name, PALETTE[i % len(PALETTE)], "run") for i, s in enumerate(series)]
    if ref:
        legend.append((reference_label or "paper rows (min–max)", REFERENCE_COLOUR, "ref"))
    for i, (name, colour, _) in enumerate(legend):
        x = LEFT + (i % 3) * 190
        y = TOP + 18 * (i // 3)
        parts.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{y}" class="legend">{html_text(_short(name, 28))}</text>')
    y_end = plot_top + block * len(cats)
    parts += _axis(scale, plot_top, y_end, digits, unit, zero_line)
    for ci, (key, label) in enumerate(cats):
        y0 = plot_top + ci * block + 5
        parts.append(
            f'<text x="{LEFT - 6}" y="{y0 + block / 2 - 2:.1f}" text-anchor="end" class="cat">'
            f"{html_text(_short(label, 30))}</text>"
        )
        if key in ref:
            a, b = scale(ref[key][0]), scale(ref[key][1])
            parts.append(
                f'<rect x="{a:.1f}" y="{y0 - 3:.1f}" width="{max(b - a, 2):.1f}" height="{block - 4}" '
                f'class="refband"><title>{html_text(f"{label}: paper rows {ref[key][0]:g} to {ref[key][1]:g}")}'
                "</title></rect>"
            )
        for si, s in enumerate(series):
            cell = s.values.get(key)
            n = _num(cell)
            if n is None:
                continue
            v, vlo, vhi = n
            colour = PALETTE[si % len(PALETTE)]
            yc = y0 + si * bar_h + bar_h / 2
            tip = _tooltip(s.name, label, cell, digits, unit)
            if style == "bars":
                x0, x1 = scale(min(0.0, v)), scale(max(0.0, v))
                parts.append(
                    f'<rect x="{x0:.1f}" y="{yc - bar_h / 2 + 1:.1f}" width="{max(x1 - x0, 1):.1f}" '
                    f'height="{bar_h - 2}" fill="{colour}" class="bar">{tip}</rect>'
                )
            else:
                parts.append(
                    f'<circle cx="{scale(v):.1f}" cy="{yc:.1f}" r="4" fill="{colour}" class="dot">{tip}</circle>'
                )
            if vhi > vlo:
                a, b = scale(vlo), scale(vhi)
                parts.append(
                    f'<path d="M{a:.1f},{yc:.1f}H{b:.1f}M{a:.1f},{yc - 3:.1f}V{yc + 3:.1f}M{b:.1f},{yc - 3:.1f}'
                    f'V{yc + 3:.1f}" class="ci">{tip}</path>'
                )
    parts.append("</svg>")
    return "".join(parts)


def row_bars(
    title: str,
    rows: Sequence[tuple[str, Cell, bool]],
    *,
    digits: int = 2,
    unit: str = "",
    plot_id: str = "",
) -> str:
    """One horizontal bar per row: ``(label, value, measured)``; measured rows coloured, intervals drawn.

    Args:
        title: Plot title.
        rows: Rows top to bottom.
        digits: Decimals in hover titles and value labels.
        unit: Unit on the axis.
        plot_id: ``data-plot`` attribute.
    """
    usable = [(lab, cell, m) for lab, cell, m in rows if _num(cell)]
    if not usable:
        return ""
    hi = max(n[2] for _, cell, _ in usable if (n := _num(cell)))
    lo = min(0.0, min(n[1] for _, cell, _ in usable if (n := _num(cell))))
    scale = _Scale(lo, hi)
    bar_h = 15
    height = TOP + bar_h * len(usable) + AXIS + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="{html_text(plot_id)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{html_text(title)}">',
        f'<text x="{LEFT}" y="18" class="ptitle">{html_text(title)}</text>',
    ]
    y_end = TOP + bar_h * len(usable)
    parts += _axis(scale, TOP, y_end, digits, unit, False)
    m_index = 0
    for i, (label, cell, measured) in enumerate(usable):
        n = _num(cell)
        assert n is not None
        v, vlo, vhi = n
        y = TOP + i * bar_h
        colour = PALETTE[m_index % len(PALETTE)] if measured else REFERENCE_COLOUR
        if measured:
            m_index += 1
        tip = _tooltip(label, title, cell, digits, unit)
        cls = "cat measured" if measured else "cat"
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + bar_h - 4}" text-anchor="end" class="{cls}">'
            f"{html_text(_short(label, 30))}</text>"
        )
        x0, x1 = scale(min(0.0, v)), scale(max(0.0, v))
        parts.append(
            f'<rect x="{x0:.1f}" y="{y + 2}" width="{max(x1 - x0, 1):.1f}" height="{bar_h - 4}" fill="{colour}" '
            f'class="bar">{tip}</rect>'
        )
        # A reference row computed with an interval (e.g. from published human labels) shows it too;
        # numbers transcribed from a paper have none and get a bare bar.
        if vhi > vlo:
            a, b = scale(vlo), scale(vhi)
            yc = y + bar_h / 2
            parts.append(
                f'<path d="M{a:.1f},{yc:.1f}H{b:.1f}M{a:.1f},{yc - 4:.1f}V{yc + 4:.1f}M{b:.1f},{yc - 4:.1f}'
                f'V{yc + 4:.1f}" class="ci">{tip}</path>'
            )
        parts.append(
            f'<text x="{scale(vhi) + 4:.1f}" y="{y + bar_h - 4}" class="val">{html_text(fmt_number(v, digits))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
