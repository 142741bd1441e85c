"""Audit outputs: ``audit.json``, the paper-layout tables (Markdown + CSV), SVG plots, one HTML page.

Everything is written from the audit record alone (:func:`write_outputs`), so the report command
can rebuild or embed the same tables and plots from a saved audit: :func:`tables_markdown`,
:func:`plots_svg` and :func:`html_section` take the record (an :class:`AuditResult`, or the
``audit.json`` document as a dict) and return strings. Escaping, HTML tables, bar plots and the
page style are the report's (:mod:`safetylens.report.escape`, :mod:`safetylens.report.html`,
:mod:`safetylens.report.svg`), so every string that comes from data is escaped by the same code
as in reports; only the log-scale toxicity histogram is drawn here.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetylens.audit.lexical import PAPER_AXES
from safetylens.audit.result import AuditResult
from safetylens.report.escape import csv_text, html_text, md_text
from safetylens.report.html import CSP, CSS, section_html
from safetylens.report.methodology import Block, Grid, KeyValues, Section
from safetylens.report.svg import Series, grouped_plot
from safetylens.report.tables import cell_parts
from safetylens.stats.ci import Estimate
from safetylens.util import atomic_write_text

TOP_TERMS = 5
MIN_LANGUAGE_SHARE = 0.005  # % (the paper's Table 10 lists languages with at least 0.005%)

Record = AuditResult | Mapping[str, Any]
"""What the renderers take: a result, or the ``audit.json`` document it validates."""


@dataclass(frozen=True)
class Num:
    """Text this module formatted from numbers: printed as it is, with no Markdown escaping."""

    text: str

    def __str__(self) -> str:
        return self.text


Cell = str | Num | tuple[str | Num, ...]
"""A table cell: ``str`` is text from data (escaped in every format), :class:`Num` a formatted number,
a tuple the concatenation of its parts."""


def _plain(cell: Cell) -> str:
    """The cell's text (each format escapes it)."""
    return "".join(str(p) for p in cell) if isinstance(cell, tuple) else str(cell)


def _md_cell(cell: Cell) -> str:
    """The cell as Markdown: text from data escaped, numbers as formatted."""
    if isinstance(cell, tuple):
        return "".join(_md_cell(p) for p in cell)
    return cell.text if isinstance(cell, Num) else md_text(cell)


@dataclass(frozen=True)
class Table:
    """A grid of cells with an optional caption shown above it."""

    header: list[Cell]
    rows: list[list[Cell]]
    caption: str = ""


@dataclass(frozen=True)
class TableSection:
    """One table of the audit in every format: its tables, notes under the first one, and the CSV.

    Attributes:
        title: Heading.
        tables: The measured table first, then any further ones (the paper's, the redacted copy).
        notes: Sentences shown under the first table.
        csv: The table's CSV (numbers unrounded, with intervals and n).
    """

    title: str
    tables: list[Table]
    notes: list[str] = field(default_factory=list)
    csv: str = ""


def _fmt(est: Estimate | None, digits: int = 2) -> str:
    if est is None:
        return "n/a"
    value, ci, _ = cell_parts(est, digits)
    if est.method == "exact" or ci is None:
        return value
    return f"{value} {ci}"


def _num(est: Estimate | None, digits: int = 2) -> Num:
    return Num(_fmt(est, digits))


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    # Terms, languages and labels come from the audited corpus: formula-like text is neutralised.
    w.writerow([csv_text(h) for h in header])
    w.writerows([csv_text(c) if isinstance(c, str) else c for c in row] for row in rows)
    return buf.getvalue()


def _est_cols(est: Estimate | None) -> list[Any]:
    if est is None:
        return ["", "", "", ""]
    return [round(est.value, 6), round(est.ci_low, 6), round(est.ci_high, 6), est.n]


def _ci_note(n: int, exact: bool) -> str:
    if exact:
        return f"n = {n:,} documents (all documents: exact values)."
    return f"n = {n:,} sampled documents; 95% Wilson intervals in brackets."


# ------------------------------------------------------------------------------------------- tables


def table_9a(rec: AuditResult) -> TableSection | None:
    """Pronouns in the layout of P Table 9a."""
    sec = rec.pronouns
    if sec is None:
        return None
    ref = rec.reference.table_9a
    rows = sec.rows
    body: list[list[Cell]] = []
    for left, right in (("she", "first"), ("he", "second"), ("unspecified", "third"), ("gendered", "any")):
        body.append(
            [
                rows[left].label,
                _num(rows[left].documents),
                Num(f"{ref[left]:.2f}"),
                rows[right].label,
                _num(rows[right].documents),
                Num(f"{ref[right]:.2f}"),
            ]
        )
    header: list[Cell] = ["Gender pronouns", "% Doc", "Paper", "Grammatical person", "% Doc", "Paper"]
    csv_rows = [[r, v.label, *_est_cols(v.documents), ref.get(r, "")] for r, v in rows.items()]
    return TableSection(
        "Table 9a: pronouns (% of documents)",
        [Table(header, body)],
        [_ci_note(sec.n, sec.exact)],
        _csv(["row", "label", "percent", "ci_low", "ci_high", "n", "paper"], csv_rows),
    )


def _paper_9b(rec: AuditResult) -> Table | None:
    """The paper's Table 9b, for the axes this audit reports."""
    assert rec.identity is not None
    ref = rec.reference.table_9b
    labels = {ax.axis: ax.label for ax in rec.identity.axes}
    paper_axes = [a for a in PAPER_AXES if a in ref and a in labels]
    if not paper_axes:
        return None
    header: list[Cell] = []
    for a in paper_axes:
        header += [(labels[a], Num(f" ({ref[a].documents:.2f}%)")), "% Doc"]
    body: list[list[Cell]] = []
    for i in range(TOP_TERMS):
        row: list[Cell] = []
        for a in paper_axes:
            t = ref[a].top[i]
            row += [t.term, Num(f"{t.share:.1f}")]
        body.append(row)
    return Table(header, body, "Paper (Table 9b):")


def table_9b(rec: AuditResult, top: int = TOP_TERMS) -> TableSection | None:
    """Identity terms in the layout of P Table 9b."""
    sec = rec.identity
    if sec is None:
        return None
    ref = rec.reference.table_9b
    header: list[Cell] = []
    for ax in sec.axes:
        header += [(ax.label, Num(f" ({_fmt(ax.documents)}%)")), "% Doc"]
    body: list[list[Cell]] = []
    for i in range(top):
        row: list[Cell] = []
        for ax in sec.axes:
            row += [ax.terms[i].term, _num(ax.terms[i].share, 1)] if i < len(ax.terms) else ["", ""]
        body.append(row)
    intro = (
        "Axis header: % of all documents mentioning the axis. Term rows: % of the documents that mention "
        "the axis which mention the term."
    )
    tables = [Table(header, body, intro)]
    paper = _paper_9b(rec)
    if paper is not None:
        tables.append(paper)
    csv_rows: list[list[Any]] = []
    for ax in sec.axes:
        paper_axis = ref.get(ax.axis)
        paper_share = {t.term: t.share for t in paper_axis.top} if paper_axis else {}
        csv_rows.append(
            [
                ax.axis,
                "",
                "(axis)",
                ax.documents_count,
                *_est_cols(ax.documents),
                paper_axis.documents if paper_axis else "",
            ]
        )
        for rank, t in enumerate(ax.terms, start=1):
            csv_rows.append([ax.axis, rank, t.term, t.documents, *_est_cols(t.share), paper_share.get(t.term, "")])
    return TableSection(
        "Table 9b: identity terms (HolisticBias descriptors)",
        tables,
        [_ci_note(sec.n, sec.exact)],
        _csv(["axis", "rank", "term", "documents", "percent", "ci_low", "ci_high", "n", "paper"], csv_rows),
    )


def table_10(rec: AuditResult, min_share: float = MIN_LANGUAGE_SHARE) -> TableSection | None:
    """Languages in the layout of P Table 10."""
    sec = rec.language
    if sec is None:
        return None
    ref = rec.reference.table_10
    shown = [x for x in sec.languages if x.share is not None and x.share.value >= min_share]
    body: list[list[Cell]] = [
        [x.code, _num(x.share), Num(f"{ref[x.code]:.2f}" if x.code in ref else "")] for x in shown
    ]
    note = _ci_note(sec.n, sec.exact)
    hidden = len(sec.languages) - len(shown)
    if hidden:
        note += f" {hidden} languages below {min_share}% are in the CSV."
    csv_rows = [[x.code, x.documents, *_est_cols(x.share), ref.get(x.code, "")] for x in sec.languages]
    return TableSection(
        f"Table 10: languages (fastText lid.176, threshold {sec.threshold:.2f})",
        [Table(["Language", "% Doc", "Paper"], body)],
        [note],
        _csv(["language", "documents", "percent", "ci_low", "ci_high", "n", "paper"], csv_rows),
    )


def table_pii(rec: AuditResult) -> TableSection | None:
    """Personal information per type, and the redacted copy when one was written."""
    sec = rec.pii
    if sec is None:
        return None
    body: list[list[Cell]] = []
    csv_rows: list[list[Any]] = []
    for t, v in sec.types.items():
        kinds = ", ".join(f"{k} {c:,}" for k, c in sec.kinds.get(t, {}).items())
        body.append([t, v.placeholder, _num(v.documents, 3), Num(f"{v.documents_count:,}"), Num(f"{v.spans:,}"), kinds])
        csv_rows.append([t, v.placeholder, v.documents_count, v.spans, *_est_cols(v.documents)])
    body.append(["any", "", _num(sec.any, 3), "", "", ""])
    csv_rows.append(["any", "", "", "", *_est_cols(sec.any)])
    header: list[Cell] = ["Type", "Placeholder", "% Doc", "Documents", "Occurrences", "Kinds (documents)"]
    tables = [Table(header, body)]
    red = rec.redaction
    if red is not None:
        tables.append(
            Table(
                ["Type", "Placeholder", "Replacements", "Documents"],
                [
                    [t, red.placeholders[t], Num(f"{n:,}"), Num(f"{red.documents_by_type[t]:,}")]
                    for t, n in red.replacements.items()
                ],
                f"Redacted copy: {red.documents:,} documents written, {red.documents_changed:,} changed.",
            )
        )
    return TableSection(
        "Personal information (% of documents with at least one)",
        tables,
        [_ci_note(sec.n, sec.exact)],
        _csv(["type", "placeholder", "documents", "occurrences", "percent", "ci_low", "ci_high", "n"], csv_rows),
    )


def table_toxicity(rec: AuditResult) -> TableSection | None:
    """Document toxicity summary."""
    sec = rec.toxicity
    if sec is None:
        return None
    ref = rec.reference.toxicity
    clf = sec.classifier or {}
    body: list[list[Cell]] = [
        ["Classifier", str(clf.get("id", "")), ref.classifier],
        ["Sample of the corpus", Num(f"{sec.sample:.4g}"), Num(f"{ref.sample:.2g}")],
        ["Documents scored", Num(f"{sec.documents_scored:,}"), ""],
        ["Lines scored", Num(f"{sec.lines_scored:,}"), ""],
        ["Mean document score", _num(sec.mean, 4), ""],
        [
            Num(f"% documents >= {sec.threshold}"),
            _num(sec.at_or_above_threshold, 3),
            Num(f"about {ref.share_at_or_above_threshold}"),
        ],
    ]
    notes = []
    if sec.english_only:
        notes.append(f"English documents only ({sec.skipped_other_language:,} others in the sample not scored)")
    if sec.skipped_no_lines:
        notes.append(f"{sec.skipped_no_lines:,} empty documents not scored")
    h = sec.histogram
    csv_rows = [[h.edges[i], h.edges[i + 1], c] for i, c in enumerate(h.counts)]
    return TableSection(
        "Document toxicity (Fig 13)",
        [Table(["", "This corpus", "Paper"], body)],
        ["; ".join(notes) + "."] if notes else [],
        _csv(["score_from", "score_to", "documents"], csv_rows),
    )


TABLES: dict[str, Callable[[AuditResult], TableSection | None]] = {
    "table9a_pronouns": table_9a,
    "table9b_identity": table_9b,
    "table10_languages": table_10,
    "pii": table_pii,
    "toxicity": table_toxicity,
}
"""Table builders by CSV file stem."""


def _md_grid(table: Table) -> str:
    head = "| " + " | ".join(_md_cell(h) for h in table.header) + " |"
    lines = [head, "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(lines) + "\n"


def section_markdown(section: TableSection) -> str:
    """One table section as Markdown: heading, first table, notes, further tables."""
    parts = [f"### {md_text(section.title)}\n"]
    for i, table in enumerate(section.tables):
        if table.caption:
            parts.append(md_text(table.caption) + "\n")
        parts.append(_md_grid(table))
        if i == 0 and section.notes:
            parts.append(" ".join(md_text(n) for n in section.notes) + "\n")
    return "\n".join(parts)


def tables_markdown(rec: Record) -> str:
    """Every table of the audit as one Markdown document."""
    result = AuditResult.from_record(rec)
    parts = [f"# Corpus audit\n\n{md_text(_summary_line(result))}\n"]
    for fn in TABLES.values():
        section = fn(result)
        if section is not None:
            parts.append(section_markdown(section))
    return "\n".join(parts)


def _summary_line(rec: AuditResult) -> str:
    c, s = rec.corpus, rec.settings
    line = f"{c.documents:,} documents read, {c.documents_sampled:,} analysed (sample {s.sample:g}, seed {s.seed})"
    if c.invalid_documents:
        line += f"; {c.invalid_documents:,} invalid records skipped"
    return line + "."


# --------------------------------------------------------------------------------------------- plots

_W = 640
_FONT = "font-family='DejaVu Sans, Arial, sans-serif'"


def _bars(
    title: str, rows: Sequence[tuple[str, str, Estimate | None, float | None]], plot_id: str, digits: int = 2
) -> str:
    """Bars of this corpus' estimates (with intervals) next to the paper's values, one block per row.

    Args:
        title: Plot title.
        rows: ``(key, label, estimate, paper value)``; None leaves that bar out.
        plot_id: ``data-plot`` attribute.
        digits: Decimals in hover titles.
    """
    measured = Series("this corpus", {k: est for k, _, est, _ in rows})
    series = [measured]
    if any(ref is not None for *_, ref in rows):
        series.append(Series("paper", {k: ref for k, _, _, ref in rows}))
    return grouped_plot(
        title, [(k, label) for k, label, _, _ in rows], series, digits=digits, unit="% of documents", plot_id=plot_id
    )


def histogram_svg(title: str, edges: Sequence[float], counts: Sequence[int], threshold: float | None = None) -> str:
    """A histogram with a logarithmic count axis and an optional threshold line."""
    left, top, plot_w, plot_h = 60, 34, _W - 90, 220
    h = top + plot_h + 46
    cmax = max([c for c in counts if c > 0], default=1)
    hi_exp = max(1, math.ceil(math.log10(cmax + 1)))

    def y(c: float) -> float:
        return top + plot_h - plot_h * (math.log10(c + 1) / hi_exp)

    lo_edge, hi_edge = edges[0], edges[-1]

    def x(v: float) -> float:
        return left + plot_w * (v - lo_edge) / (hi_edge - lo_edge)

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{h}' viewBox='0 0 {_W} {h}' role='img' "
        f"aria-label='{html_text(title)}' {_FONT} font-size='11'>",
        f"<text x='8' y='18' font-size='13' font-weight='bold'>{html_text(title)}</text>",
    ]
    for k in range(hi_exp + 1):
        ty = y(10**k - 1)
        out.append(f"<line x1='{left}' y1='{ty:.1f}' x2='{left + plot_w}' y2='{ty:.1f}' stroke='#eee'/>")
        out.append(
            f"<text x='{left - 6}' y='{ty + 4:.1f}' text-anchor='end' fill='#555'>"
            f"{10**k - 1 if k == 0 else f'1e{k}'}</text>"
        )
    for i, c in enumerate(counts):
        x0, x1 = x(edges[i]), x(edges[i + 1])
        out.append(
            f"<rect x='{x0 + 0.5:.1f}' y='{y(c):.1f}' width='{max(0.5, x1 - x0 - 1):.1f}' "
            f"height='{top + plot_h - y(c):.1f}' "
            f"fill='#4C78A8'><title>{html_text(f'{edges[i]:.2f}-{edges[i + 1]:.2f}')}: {c} documents</title></rect>"
        )
    for k in range(0, 11, 2):
        v = lo_edge + (hi_edge - lo_edge) * k / 10
        out.append(f"<text x='{x(v):.1f}' y='{top + plot_h + 14}' text-anchor='middle' fill='#555'>{v:.1f}</text>")
    out.append(
        f"<text x='{left + plot_w / 2}' y='{top + plot_h + 34}' text-anchor='middle'>document toxicity "
        "(mean of line probabilities)</text>"
    )
    out.append(
        f"<text x='14' y='{top + plot_h / 2}' transform='rotate(-90 14 {top + plot_h / 2})' text-anchor='middle'>"
        "documents (log scale)</text>"
    )
    if threshold is not None:
        tx = x(threshold)
        out.append(
            f"<line x1='{tx:.1f}' y1='{top}' x2='{tx:.1f}' y2='{top + plot_h}' stroke='#E45756' "
            "stroke-dasharray='4 3'/>"
        )
        out.append(f"<text x='{tx + 4:.1f}' y='{top + 10}' fill='#E45756'>threshold {threshold:g}</text>")
    out.append("</svg>")
    return "\n".join(out)


def plots_svg(rec: Record) -> dict[str, str]:
    """SVG plots of the audit, by file stem (styled by the report's CSS, see :func:`standalone_svg`)."""
    result = AuditResult.from_record(rec)
    ref = result.reference
    plots: dict[str, str] = {}
    if result.pronouns:
        rows = result.pronouns.rows
        plots["pronouns"] = _bars(
            "Pronouns: % of documents (Table 9a)",
            [(r, v.label, v.documents, ref.table_9a.get(r)) for r, v in rows.items()],
            "pronouns",
        )
    if result.identity:
        plots["identity"] = _bars(
            "Identity axes: % of documents (Table 9b)",
            [
                (ax.axis, ax.label, ax.documents, p.documents if (p := ref.table_9b.get(ax.axis)) else None)
                for ax in result.identity.axes
            ],
            "identity",
        )
    if result.language:
        plots["languages"] = _bars(
            "Languages: % of documents (Table 10, top 15)",
            [(x.code, x.code, x.share, ref.table_10.get(x.code)) for x in result.language.languages[:15]],
            "languages",
            digits=3,
        )
    if result.pii:
        types = result.pii.types
        plots["pii"] = _bars(
            "Personal information: % of documents",
            [(t, t, v.documents, None) for t, v in types.items()] + [("any", "any", result.pii.any, None)],
            "pii",
            digits=3,
        )
    tox = result.toxicity
    if tox and tox.documents_scored:
        plots["toxicity"] = histogram_svg(
            f"Document toxicity (n = {tox.documents_scored:,})",
            tox.histogram.edges,
            tox.histogram.counts,
            threshold=tox.threshold,
        )
    return {k: v for k, v in plots.items() if v}


def standalone_svg(svg: str) -> str:
    """An SVG of :func:`plots_svg` as a file of its own, with the report's style inside it."""
    head, sep, rest = svg.partition(">")
    return f"{head}{sep}<style>{CSS}</style>{rest}\n"


# ---------------------------------------------------------------------------------------------- html


def _grid(table: Table, caption: str) -> Grid:
    return Grid(caption, [_plain(h) for h in table.header], [[_plain(c) for c in row] for row in table.rows])


def _section_html(section: TableSection, plot: str | None) -> str:
    """A table section as HTML: the report's grid tables, then the plot.

    The notes under the first table in Markdown are its caption here (the report's grids are
    captioned above), so every grid has a caption.
    """
    first, *more = section.tables
    caption = " ".join(n for n in (first.caption, *section.notes) if n) or "This corpus"
    grids: list[Block] = [_grid(first, caption), *(_grid(t, t.caption) for t in more)]
    out = [section_html(Section(section.title, grids, level=2))]
    if plot:
        out.append(f"<figure>{plot}</figure>")
    return "\n".join(out)


def _settings_rows(rec: AuditResult) -> list[tuple[str, str]]:
    s = rec.settings
    files = rec.inputs.files
    inputs = ", ".join(f.rel for f in files[:8]) + (f" … ({len(files)} files)" if len(files) > 8 else "")
    return [
        ("inputs", inputs),
        ("sample / seed", f"{s.sample:g} / {s.seed}"),
        ("toxicity sample", f"{s.toxicity_sample:g}" if "toxicity" in s.analyses else "off"),
        ("analyses", ", ".join(s.analyses)),
        ("text field", s.text_field),
        ("digest", rec.digest),
    ]


def html_section(rec: Record) -> str:
    """The audit as an HTML fragment (headings, tables, inline SVG), for embedding in a report."""
    result = AuditResult.from_record(rec)
    plots = plots_svg(result)
    out = [
        f"<p>{html_text(_summary_line(result))}</p>",
        section_html(Section("Settings", [KeyValues("Inputs and settings", _settings_rows(result))], level=2)),
    ]
    for key, plot in (
        ("pii", "pii"),
        ("table9a_pronouns", "pronouns"),
        ("table9b_identity", "identity"),
        ("toxicity", "toxicity"),
        ("table10_languages", "languages"),
    ):
        section = TABLES[key](result)
        if section is not None:
            out.append(_section_html(section, plots.get(plot)))
    choices = Grid(
        "The choices the paper leaves open, and the values this audit used",
        ["Choice", "Value", "Reference", "What it controls"],
        [[c.name, str(c.value), c.reference, c.description] for c in result.open_choices],
    )
    out.append(section_html(Section("Open choices", [choices], level=2)))
    out.append(f"<p class='note'>Paper numbers: {html_text(result.reference.source)}.</p>")
    return "\n".join(out)


def render_html(rec: Record) -> str:
    """A complete, self-contained HTML page (the report's style; no external resources, no scripts)."""
    result = AuditResult.from_record(rec)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        f"<title>Corpus audit</title><style>{CSS}</style></head><body>"
        f"<h1>Corpus audit</h1>\n{html_section(result)}\n"
        f"<p class='note'>safetylens audit, schema {html_text(result.schema_id)}, "
        f"created {html_text(result.created)}.</p>"
        "</body></html>\n"
    )


def write_outputs(rec: Record, out_dir: Path) -> list[Path]:
    """Write ``audit.json``, ``tables.md``, one CSV per table, SVG plots and ``index.html``.

    Returns:
        The files written.

    Raises:
        DataError: ``rec`` is not a valid audit record.
    """
    result = AuditResult.from_record(rec)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        path = out_dir / name
        atomic_write_text(path, text)
        written.append(path)

    put("audit.json", result.to_json())
    put("tables.md", tables_markdown(result))
    for stem, fn in TABLES.items():
        section = fn(result)
        if section is not None:
            put(f"{stem}.csv", section.csv)
    for stem, svg in plots_svg(result).items():
        put(f"{stem}.svg", standalone_svg(svg))
    put("index.html", render_html(result))
    return written


def load_audit(path: Path) -> AuditResult:
    """Read an ``audit.json`` (a file, or a directory that contains one), checking its schema.

    Raises:
        DataError: Missing, malformed or of an unknown schema.
    """
    return AuditResult.load(path)
