"""The self-contained HTML report: inline CSS and SVG, no script, no external resource.

Every piece of text that comes from a run (labels, notes, prompts, options, model names) goes
through :func:`~safetylens.report.escape.html_text`; the page also carries a Content-Security-Policy
that forbids scripts and every network load, so even a rendering bug could not execute injected
code or leak data.
"""

from __future__ import annotations

from collections.abc import Sequence

from safetylens.report.escape import html_text
from safetylens.report.human import HumanSection
from safetylens.report.methodology import Grid, KeyValues, Section, Verbatim
from safetylens.report.plots import table_plots
from safetylens.report.tables import CAVEAT_MARK, UNCERTAIN_MARK, ReportRow, ReportTable, TableNote, cell_parts
from safetylens.stats.ci import Estimate

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

CSS = """
:root { --fg:#1b1b1b; --muted:#666; --line:#d9d9d9; --ref:#f3f3f3; --accent:#1f77b4; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--fg);
  margin: 0 auto; max-width: 1280px; padding: 24px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 20px; margin-top: 36px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin-top: 26px; } h4 { font-size: 14px; margin-top: 18px; }
.muted, .sub { color: var(--muted); }
nav ul { columns: 2; padding-left: 18px; }
.tablewrap { overflow-x: auto; margin: 8px 0; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #fafafa; font-weight: 600; }
th.rowlabel, td.text { text-align: left; }
th.rowlabel { white-space: nowrap; }
thead th { position: sticky; top: 0; }
td.m .v { font-weight: 600; display: block; }
td.m .ci, td.m .n { display: block; font-size: 11px; color: var(--muted); white-space: nowrap; }
tbody.reference td, tbody.reference th { background: var(--ref); color: #333; }
tr.separator th { background: #e8e8e8; text-align: left; font-style: italic; border-top: 3px double #999; }
td.uncertain { text-decoration: underline dotted; }
sup.dagger { color: #b35900; } sup.caveat { color: #b30000; font-weight: 700; }
.kv th { text-align: left; width: 260px; } .kv td { text-align: left; word-break: break-all; }
table.grid th { text-align: left; }
table.grid td { text-align: left; max-width: 520px; word-break: break-word; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 8px; white-space: pre-wrap; word-break: break-word;
  max-height: 420px; overflow: auto; font-size: 12px; }
svg.plot { display: block; margin: 10px 0; max-width: 100%; height: auto; }
svg .grid { stroke: #e4e4e4; stroke-width: 1; } svg .zero { stroke: #333; stroke-width: 1.3; stroke-dasharray: 4 2; }
svg .tick, svg .legend, svg .val { font-size: 10px; fill: #555; } svg .cat { font-size: 11px; fill: #222; }
svg .cat.measured { font-weight: 700; } svg .ptitle { font-size: 13px; font-weight: 600; fill: #222; }
svg .ci { stroke: #111; stroke-width: 1.3; fill: none; } svg .refband { fill: #cfcfcf; opacity: .6; }
ul.notes { font-size: 12px; color: #444; }
details { margin: 8px 0; } summary { cursor: pointer; font-weight: 600; }
.badge { display: inline-block; padding: 0 6px; border-radius: 8px; background: #eef; font-size: 11px; }
"""


def _attr(text: str) -> str:
    return html_text(text)


def cell_html(cell: object, digits: int, measured: bool, uncertain: str | None = None) -> str:
    """One table cell: measured estimates show value, CI and n; reference values are plain."""
    if isinstance(cell, Estimate):
        value, ci, _ = cell_parts(cell, digits)
        unit = html_text(cell.unit) if cell.unit and cell.unit != "%" else ""
        title = f"{cell.level:.0%} CI {ci or 'undefined'}, n={cell.n}" + (f"; {cell.method}" if cell.method else "")
        return (
            f'<td class="m" title="{_attr(title)}"><span class="v">{html_text(value)}{unit}</span>'
            f'<span class="ci">{html_text(ci or "CI –")}</span><span class="n">n={cell.n}</span></td>'
        )
    value, _, _ = cell_parts(cell, digits)  # type: ignore[arg-type]
    if uncertain:
        return (
            f'<td class="uncertain" title="{_attr(uncertain)}">{html_text(value)}'
            f'<sup class="dagger">{UNCERTAIN_MARK}</sup></td>'
        )
    cls = "" if isinstance(cell, int | float) or cell is None else ' class="text"'
    return f"<td{cls}>{html_text(value)}</td>"


def row_label_html(row: ReportRow) -> str:
    """A row header cell; a row whose caveat warns is marked, with the caveat on hover."""
    mark = ""
    if row.marked and row.caveat is not None:
        mark = f'<sup class="caveat" title="{_attr(row.caveat.text)}">{CAVEAT_MARK}</sup>'
    return f'<th scope="row" class="rowlabel">{html_text(row.label)}{mark}</th>'


def note_html(note: TableNote) -> str:
    """A note under a table, with the mark it explains."""
    text = html_text(note.text)
    if note.mark == UNCERTAIN_MARK:
        text += " (hover for the alternative reading)"
    return f"<li>{html_text(note.mark + ' ') if note.mark else ''}{text}</li>"


def table_html(table: ReportTable, reference_caption: str | None = None) -> str:
    """A report table: measured rows, then a separator and the published rows."""
    if reference_caption is None:
        reference_caption = f"Published in {table.reference_source} (reference, not measured here)"
    head = "".join(f'<th scope="col">{html_text(table.label(c))}</th>' for c in table.columns)
    parts = [
        f'<div class="tablewrap"><table class="report" data-table="{_attr(table.id)}">',
        f'<thead><tr><th scope="col" class="rowlabel">row</th>{head}</tr></thead>',
        '<tbody class="measured">',
    ]
    for r in table.measured:
        cells = "".join(cell_html(r.cells.get(c), table.digits, True) for c in table.columns)
        parts.append(f'<tr class="measured">{row_label_html(r)}{cells}</tr>')
    parts.append("</tbody>")
    if table.reference:
        parts.append('<tbody class="reference">')
        parts.append(
            f'<tr class="separator"><th colspan="{len(table.columns) + 1}">{html_text(reference_caption)}</th></tr>'
        )
        for r in table.reference:
            cells = "".join(cell_html(r.cells.get(c), table.digits, False, r.uncertain.get(c)) for c in table.columns)
            parts.append(f'<tr class="reference">{row_label_html(r)}{cells}</tr>')
        parts.append("</tbody>")
    parts.append("</table></div>")
    notes = table.notes_under()
    if notes:
        parts.append('<ul class="notes">' + "".join(note_html(n) for n in notes) + "</ul>")
    return "".join(parts)


def _block_html(block: KeyValues | Grid | Verbatim) -> str:
    if isinstance(block, KeyValues):
        if not block.rows:
            return f"<h5>{html_text(block.caption)}</h5>"
        rows = "".join(f"<tr><th>{html_text(k)}</th><td>{html_text(v)}</td></tr>" for k, v in block.rows)
        return f'<h5>{html_text(block.caption)}</h5><div class="tablewrap"><table class="kv">{rows}</table></div>'
    if isinstance(block, Grid):
        head = "".join(f"<th>{html_text(h)}</th>" for h in block.header)
        rows = "".join("<tr>" + "".join(f"<td>{html_text(c)}</td>" for c in row) + "</tr>" for row in block.rows)
        return (
            f'<h5>{html_text(block.caption)}</h5><div class="tablewrap"><table class="grid">'
            f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        )
    pre = f"<pre>{html_text(block.text)}</pre>"
    if block.collapsed:
        return f"<details><summary>{html_text(block.caption)}</summary>{pre}</details>"
    return f"<h5>{html_text(block.caption)}</h5>{pre}"


def section_html(section: Section) -> str:
    """A methodology section."""
    level = min(max(section.level, 2), 5)
    body = "".join(_block_html(b) for b in section.blocks)
    return f"<section><h{level}>{html_text(section.title)}</h{level}>{body}</section>"


def render_html(
    *,
    title: str,
    generated: str,
    runs_overview: Sequence[tuple[str, str, str, str]],
    benchmarks: Sequence[tuple[str, list[ReportTable], list[ReportTable], list[ReportTable], list[str]]],
    human: Sequence[HumanSection],
    methodology: Sequence[Section],
    reference: str | None,
) -> str:
    """Assemble the page.

    Args:
        title: Page title.
        generated: Generation timestamp.
        runs_overview: (label, run id, model, benchmarks) per run.
        benchmarks: Per benchmark: (name, paper tables, metric tables, breakdown tables, notes).
        human: Human-evaluation sections.
        methodology: Methodology sections.
        reference: The reference set shown, or None.
    """
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_attr(CSP)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html_text(title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{html_text(title)}</h1>",
        f'<p class="sub">Generated {html_text(generated)} by safetylens. Every measured number shows its 95% '
        "confidence interval (second line) and the number of observations n; hover a cell for the interval "
        "method. "
        + (
            "Rows under the grey separator are published numbers, reproduced for comparison, not measured here: "
            "the Llama 2 paper's (Touvron et al., 2023) unless the separator names another source."
            if reference
            else "Add <code>--reference llama2</code> to show the paper's published rows."
        )
        + "</p></header>",
    ]
    toc = ['<nav><ul><li><a href="#runs">Runs</a></li>']
    toc += [f'<li><a href="#bench-{_attr(name)}">{html_text(name)}</a></li>' for name, *_ in benchmarks]
    if human:
        toc.append('<li><a href="#human">Human evaluation</a></li>')
    toc.append('<li><a href="#methodology">Methodology</a></li></ul></nav>')
    out.append("".join(toc))
    rows = "".join(
        f'<tr><th class="rowlabel">{html_text(a)}</th><td class="text">{html_text(b)}</td>'
        f'<td class="text">{html_text(c)}</td><td class="text">{html_text(d)}</td></tr>'
        for a, b, c, d in runs_overview
    )
    out.append(
        '<h2 id="runs">Runs</h2><div class="tablewrap"><table class="grid"><thead><tr><th>label</th><th>run</th>'
        f"<th>model</th><th>benchmarks</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
    for name, paper, metric, breakdown, notes in benchmarks:
        out.append(f'<h2 id="bench-{_attr(name)}">{html_text(name)}</h2>')
        for t in paper:
            out.append(f'<h3>{html_text(t.title)} <span class="badge">{html_text(t.id)}</span></h3>')
            out.extend(table_plots(t))
            out.append(table_html(t))
        for t in metric:
            out.append(f"<h3>{html_text(t.title)}</h3>")
            out.append(table_html(t))
        for t in breakdown:
            out.append(f"<details><summary>{html_text(t.title)}</summary>{table_html(t)}</details>")
        if notes:
            out.append(
                '<h4>Notes</h4><ul class="notes">' + "".join(f"<li>{html_text(n)}</li>" for n in notes) + "</ul>"
            )
    if human:
        out.append('<h2 id="human">Human evaluation</h2>')
        for h in human:
            out.append(f"<h3>{html_text(h.title)}</h3>")
            out.extend(h.plots)
            for t in h.tables:
                out.append(f"<h4>{html_text(t.title)}</h4>")
                out.append(table_html(t))
            if h.notes:
                out.append('<ul class="notes">' + "".join(f"<li>{html_text(n)}</li>" for n in h.notes) + "</ul>")
    out.append('<h2 id="methodology">Methodology</h2>')
    out.append(
        '<p class="sub">Generated from each run\'s manifest.json: what was run, on which data, with which prompts, '
        "decoding, scorers, software and hardware, and the value of every protocol choice the paper leaves open. "
        "Replay a run with <code>safetylens replay RUN_DIR</code>.</p>"
    )
    out.extend(section_html(s) for s in methodology)
    out.append("</body></html>")
    return "\n".join(out)
