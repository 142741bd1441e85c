"""Audit outputs: ``audit.json``, the paper-layout tables (Markdown + CSV), SVG plots, one HTML page.

Everything is written from the ``audit.json`` record alone (:func:`write_outputs`), so the report
command can rebuild or embed the same tables and plots from a saved audit: :func:`tables_markdown`,
:func:`plots_svg` and :func:`html_section` take the record and return strings. SVGs are drawn by
hand (no plotting library, no fonts or scripts fetched); every string that comes from data is
escaped.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from safetylens.audit.lexical import PAPER_AXES
from safetylens.util import atomic_write_text, csv_cell

TOP_TERMS = 5
MIN_LANGUAGE_SHARE = 0.005  # % (the paper's Table 10 lists languages with at least 0.005%)


def _fmt(est: dict[str, Any] | None, digits: int = 2) -> str:
    if est is None:
        return "n/a"
    v, lo, hi = est["value"], est["ci_low"], est["ci_high"]
    if est.get("method") == "exact":
        return f"{v:.{digits}f}"
    return f"{v:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def _val(est: dict[str, Any] | None) -> float | None:
    return None if est is None else float(est["value"])


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def clean(cell: str) -> str:
        return str(cell).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(clean(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    # Terms, languages and labels come from the audited corpus: formula-like text is neutralised.
    w.writerow([csv_cell(h) for h in header])
    w.writerows([csv_cell(c) for c in row] for row in rows)
    return buf.getvalue()


def _est_cols(est: dict[str, Any] | None) -> list[Any]:
    if est is None:
        return ["", "", "", ""]
    return [round(est["value"], 6), round(est["ci_low"], 6), round(est["ci_high"], 6), est["n"]]


def _ci_note(section: dict[str, Any] | None) -> str:
    if section is None:
        return ""
    if section.get("exact"):
        return f"n = {section['n']:,} documents (all documents: exact values)."
    return f"n = {section['n']:,} sampled documents; 95% Wilson intervals in brackets."


# ------------------------------------------------------------------------------------------- tables


def table_9a(rec: dict[str, Any]) -> tuple[str, str] | None:
    """Pronouns in the layout of P Table 9a: (Markdown, CSV)."""
    sec = rec.get("pronouns")
    if sec is None:
        return None
    ref = rec["reference"]["table_9a"]
    rows = sec["rows"]
    md_rows = []
    for left, right in (("she", "first"), ("he", "second"), ("unspecified", "third")):
        md_rows.append(
            [
                rows[left]["label"],
                _fmt(rows[left]["documents"]),
                f"{ref[left]:.2f}",
                rows[right]["label"],
                _fmt(rows[right]["documents"]),
                f"{ref[right]:.2f}",
            ]
        )
    md_rows.append(
        [
            rows["gendered"]["label"],
            _fmt(rows["gendered"]["documents"]),
            f"{ref['gendered']:.2f}",
            rows["any"]["label"],
            _fmt(rows["any"]["documents"]),
            f"{ref['any']:.2f}",
        ]
    )
    md = "### Table 9a: pronouns (% of documents)\n\n" + _md_table(
        ["Gender pronouns", "% Doc", "Paper", "Grammatical person", "% Doc", "Paper"], md_rows
    )
    md += "\n" + _ci_note(sec) + "\n"
    csv_rows = [[r, rows[r]["label"], *_est_cols(rows[r]["documents"]), ref.get(r, "")] for r in rows]
    return md, _csv(["row", "label", "percent", "ci_low", "ci_high", "n", "paper"], csv_rows)


def table_9b(rec: dict[str, Any], top: int = TOP_TERMS) -> tuple[str, str] | None:
    """Identity terms in the layout of P Table 9b: (Markdown, CSV)."""
    sec = rec.get("identity")
    if sec is None:
        return None
    ref = rec["reference"]["table_9b"]
    axes = sec["axes"]
    header: list[str] = []
    for ax in axes:
        header += [f"{ax['label']} ({_fmt(ax['documents'])}%)", "% Doc"]
    body: list[list[str]] = []
    for i in range(top):
        row: list[str] = []
        for ax in axes:
            if i < len(ax["terms"]):
                t = ax["terms"][i]
                row += [t["term"], _fmt(t["share"], 1)]
            else:
                row += ["", ""]
        body.append(row)
    md = "### Table 9b: identity terms (HolisticBias descriptors)\n\n"
    md += (
        "Axis header: % of all documents mentioning the axis. Term rows: % of the documents that mention "
        "the axis which mention the term.\n\n"
    )
    md += _md_table(header, body)
    md += "\n" + _ci_note(sec) + "\n"
    paper_axes = [a for a in PAPER_AXES if a in ref and any(ax["axis"] == a for ax in axes)]
    if paper_axes:
        labels = {ax["axis"]: ax["label"] for ax in axes}
        pheader: list[str] = []
        for a in paper_axes:
            pheader += [f"{labels[a]} ({ref[a]['documents']:.2f}%)", "% Doc"]
        pbody = []
        for i in range(TOP_TERMS):
            prow: list[str] = []
            for a in paper_axes:
                t = ref[a]["top"][i]
                prow += [t["term"], f"{t['share']:.1f}"]
            pbody.append(prow)
        md += "\nPaper (Table 9b):\n\n" + _md_table(pheader, pbody)
    csv_rows: list[list[Any]] = []
    for ax in axes:
        paper_share = {t["term"]: t["share"] for t in ref.get(ax["axis"], {}).get("top", [])}
        csv_rows.append(
            [
                ax["axis"],
                "",
                "(axis)",
                ax["documents_count"],
                *_est_cols(ax["documents"]),
                ref.get(ax["axis"], {}).get("documents", ""),
            ]
        )
        for rank, t in enumerate(ax["terms"], start=1):
            csv_rows.append(
                [ax["axis"], rank, t["term"], t["documents"], *_est_cols(t["share"]), paper_share.get(t["term"], "")]
            )
    return md, _csv(["axis", "rank", "term", "documents", "percent", "ci_low", "ci_high", "n", "paper"], csv_rows)


def table_10(rec: dict[str, Any], min_share: float = MIN_LANGUAGE_SHARE) -> tuple[str, str] | None:
    """Languages in the layout of P Table 10: (Markdown, CSV)."""
    sec = rec.get("language")
    if sec is None:
        return None
    ref = rec["reference"]["table_10"]
    shown = [x for x in sec["languages"] if x["share"] is not None and x["share"]["value"] >= min_share]
    rows = [[x["code"], _fmt(x["share"]), f"{ref[x['code']]:.2f}" if x["code"] in ref else ""] for x in shown]
    md = "### Table 10: languages (fastText lid.176, threshold {:.2f})\n\n".format(sec["threshold"])
    md += _md_table(["Language", "% Doc", "Paper"], rows)
    hidden = len(sec["languages"]) - len(shown)
    md += "\n" + _ci_note(sec)
    if hidden:
        md += f" {hidden} languages below {min_share}% are in the CSV."
    md += "\n"
    csv_rows = [[x["code"], x["documents"], *_est_cols(x["share"]), ref.get(x["code"], "")] for x in sec["languages"]]
    return md, _csv(["language", "documents", "percent", "ci_low", "ci_high", "n", "paper"], csv_rows)


def table_pii(rec: dict[str, Any]) -> tuple[str, str] | None:
    """Personal information per type: (Markdown, CSV)."""
    sec = rec.get("pii")
    if sec is None:
        return None
    rows = []
    csv_rows: list[list[Any]] = []
    for t, v in sec["types"].items():
        kinds = ", ".join(f"{k} {c:,}" for k, c in sec["kinds"].get(t, {}).items())
        rows.append(
            [t, v["placeholder"], _fmt(v["documents"], 3), f"{v['documents_count']:,}", f"{v['spans']:,}", kinds]
        )
        csv_rows.append([t, v["placeholder"], v["documents_count"], v["spans"], *_est_cols(v["documents"])])
    rows.append(["any", "", _fmt(sec["any"], 3), "", "", ""])
    csv_rows.append(["any", "", "", "", *_est_cols(sec["any"])])
    md = "### Personal information (% of documents with at least one)\n\n"
    md += _md_table(["Type", "Placeholder", "% Doc", "Documents", "Occurrences", "Kinds (documents)"], rows)
    md += "\n" + _ci_note(sec) + "\n"
    red = rec.get("redaction")
    if red is not None:
        md += "\n### Redacted copy\n\n"
        md += f"{red['documents']:,} documents written, {red['documents_changed']:,} changed.\n\n"
        md += _md_table(
            ["Type", "Placeholder", "Replacements", "Documents"],
            [
                [t, red["placeholders"][t], f"{n:,}", f"{red['documents_by_type'][t]:,}"]
                for t, n in red["replacements"].items()
            ],
        )
    return md, _csv(["type", "placeholder", "documents", "occurrences", "percent", "ci_low", "ci_high", "n"], csv_rows)


def table_toxicity(rec: dict[str, Any]) -> tuple[str, str] | None:
    """Document toxicity summary: (Markdown, CSV)."""
    sec = rec.get("toxicity")
    if sec is None:
        return None
    ref = rec["reference"]["toxicity"]
    clf = sec.get("classifier") or {}
    rows = [
        ["Classifier", str(clf.get("id", "")), str(ref["classifier"])],
        ["Sample of the corpus", f"{sec['sample']:.4g}", f"{ref['sample']:.2g}"],
        ["Documents scored", f"{sec['documents_scored']:,}", ""],
        ["Lines scored", f"{sec['lines_scored']:,}", ""],
        ["Mean document score", _fmt(sec["mean"], 4), ""],
        [
            f"% documents >= {sec['threshold']}",
            _fmt(sec["at_or_above_threshold"], 3),
            f"about {ref['share_at_or_above_threshold']}",
        ],
    ]
    md = "### Document toxicity (Fig 13)\n\n" + _md_table(["", "This corpus", "Paper"], rows)
    notes = []
    if sec["english_only"]:
        notes.append(f"English documents only ({sec['skipped_other_language']:,} others in the sample not scored)")
    if sec["skipped_no_lines"]:
        notes.append(f"{sec['skipped_no_lines']:,} empty documents not scored")
    if notes:
        md += "\n" + "; ".join(notes) + ".\n"
    h = sec["histogram"]
    csv_rows = [[h["edges"][i], h["edges"][i + 1], c] for i, c in enumerate(h["counts"])]
    return md, _csv(["score_from", "score_to", "documents"], csv_rows)


TABLES = {
    "table9a_pronouns": table_9a,
    "table9b_identity": table_9b,
    "table10_languages": table_10,
    "pii": table_pii,
    "toxicity": table_toxicity,
}


def tables_markdown(rec: dict[str, Any]) -> str:
    """Every table of the audit as one Markdown document."""
    parts = [f"# Corpus audit\n\n{_summary_line(rec)}\n"]
    for fn in TABLES.values():
        out = fn(rec)
        if out is not None:
            parts.append(out[0])
    return "\n".join(parts)


def _summary_line(rec: dict[str, Any]) -> str:
    c = rec["corpus"]
    s = rec["settings"]
    line = (
        f"{c['documents']:,} documents read, {c['documents_sampled']:,} analysed "
        f"(sample {s['sample']:g}, seed {s['seed']})"
    )
    if c["invalid_documents"]:
        line += f"; {c['invalid_documents']:,} invalid records skipped"
    return line + "."


# --------------------------------------------------------------------------------------------- plots

_W = 640
_FONT = "font-family='DejaVu Sans, Arial, sans-serif'"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def hbar_svg(
    title: str,
    rows: Sequence[tuple[str, float | None, float | None, float | None, float | None]],
    unit: str = "%",
    log: bool = False,
    ref_label: str = "paper",
) -> str:
    """A horizontal bar chart with interval whiskers and optional reference markers.

    Args:
        title: Chart title.
        rows: ``(label, value, ci_low, ci_high, reference)``; None hides that part.
        unit: Unit shown after values.
        log: Logarithmic value axis (for shares spanning orders of magnitude).
        ref_label: Legend text for the reference markers.
    """
    label_w, bar_h, top = 210, 18, 34
    plot_w = _W - label_w - 70
    h = top + len(rows) * (bar_h + 6) + 30
    vals = [v for r in rows for v in (r[1], r[3], r[4]) if v is not None and v > 0]
    vmax = max(vals) if vals else 1.0
    if log:
        vmin = min(vals) if vals else 0.01
        lo_exp = math.floor(math.log10(max(vmin, 1e-6)))
        hi_exp = math.ceil(math.log10(vmax)) if vmax > 0 else 0
        hi_exp = max(hi_exp, lo_exp + 1)

        def x(v: float) -> float:
            v = max(v, 10.0**lo_exp)
            return label_w + plot_w * (math.log10(v) - lo_exp) / (hi_exp - lo_exp)

        ticks = [10.0**k for k in range(lo_exp, hi_exp + 1)]
    else:
        step = 10 ** math.floor(math.log10(vmax)) if vmax > 0 else 1
        top_v = math.ceil(vmax / step) * step

        def x(v: float) -> float:
            return label_w + plot_w * max(0.0, v) / top_v

        ticks = [top_v * k / 4 for k in range(5)]
    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{h}' viewBox='0 0 {_W} {h}' role='img' "
        f"aria-label='{_e(title)}' {_FONT} font-size='11'>",
        f"<text x='8' y='18' font-size='13' font-weight='bold'>{_e(title)}</text>",
    ]
    axis_y = top + len(rows) * (bar_h + 6)
    for t in ticks:
        tx = x(t)
        out.append(f"<line x1='{tx:.1f}' y1='{top - 4}' x2='{tx:.1f}' y2='{axis_y}' stroke='#ddd'/>")
        out.append(
            f"<text x='{tx:.1f}' y='{axis_y + 14}' text-anchor='middle' fill='#555'>{_e(f'{t:g}')}{_e(unit)}</text>"
        )
    has_ref = False
    for i, (label, v, lo, hi, ref) in enumerate(rows):
        y = top + i * (bar_h + 6)
        out.append(f"<text x='{label_w - 6}' y='{y + bar_h - 5}' text-anchor='end'>{_e(label)}</text>")
        if v is not None:
            out.append(
                f"<rect x='{label_w}' y='{y}' width='{max(0.5, x(v) - label_w):.1f}' height='{bar_h}' fill='#4C78A8'>"
                f"<title>{_e(label)}: {_e(f'{v:.3g}')}{_e(unit)}</title></rect>"
            )
            # The value sits right of everything drawn on the row (bar, whisker, reference marker).
            right = max(x(v), x(hi) if hi is not None else 0.0, x(ref) + 5 if ref is not None else 0.0)
            out.append(f"<text x='{right + 5:.1f}' y='{y + bar_h - 5}' fill='#222'>{_e(f'{v:.3g}')}</text>")
        if lo is not None and hi is not None and hi > lo:
            cy = y + bar_h / 2
            out.append(
                f"<line x1='{x(lo):.1f}' y1='{cy}' x2='{x(hi):.1f}' y2='{cy}' stroke='#111' stroke-width='1.5'/>"
            )
            for end in (lo, hi):
                out.append(f"<line x1='{x(end):.1f}' y1='{cy - 4}' x2='{x(end):.1f}' y2='{cy + 4}' stroke='#111'/>")
        if ref is not None:
            has_ref = True
            rx, cy = x(ref), y + bar_h / 2
            out.append(
                f"<path d='M{rx:.1f},{cy - 6} L{rx + 5:.1f},{cy} L{rx:.1f},{cy + 6} L{rx - 5:.1f},{cy} Z' "
                "fill='#E45756'>"
                f"<title>{_e(ref_label)}: {_e(f'{ref:g}')}{_e(unit)}</title></path>"
            )
    if has_ref:
        out.append(
            f"<path d='M{_W - 120},{12} l5,6 l-5,6 l-5,-6 Z' fill='#E45756'/>"
            f"<text x='{_W - 110}' y='{22}'>{_e(ref_label)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


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
        f"aria-label='{_e(title)}' {_FONT} font-size='11'>",
        f"<text x='8' y='18' font-size='13' font-weight='bold'>{_e(title)}</text>",
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
            f"fill='#4C78A8'><title>{_e(f'{edges[i]:.2f}-{edges[i + 1]:.2f}')}: {c} documents</title></rect>"
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


def plots_svg(rec: dict[str, Any]) -> dict[str, str]:
    """SVG plots of the audit, by file stem."""
    plots: dict[str, str] = {}
    ref = rec["reference"]
    if rec.get("pronouns"):
        rows = rec["pronouns"]["rows"]
        plots["pronouns"] = hbar_svg(
            "Pronouns: % of documents (Table 9a)",
            [(r, _val(v["documents"]), *_lohi(v["documents"]), ref["table_9a"].get(r)) for r, v in rows.items()],
        )
    if rec.get("identity"):
        axes = rec["identity"]["axes"]
        plots["identity"] = hbar_svg(
            "Identity axes: % of documents (Table 9b)",
            [
                (
                    ax["label"],
                    _val(ax["documents"]),
                    *_lohi(ax["documents"]),
                    ref["table_9b"].get(ax["axis"], {}).get("documents"),
                )
                for ax in axes
            ],
        )
    if rec.get("language"):
        langs = rec["language"]["languages"][:15]
        plots["languages"] = hbar_svg(
            "Languages: % of documents (Table 10, top 15)",
            [(x["code"], _val(x["share"]), *_lohi(x["share"]), ref["table_10"].get(x["code"])) for x in langs],
            log=True,
        )
    if rec.get("pii"):
        types = rec["pii"]["types"]
        plots["pii"] = hbar_svg(
            "Personal information: % of documents",
            [(t, _val(v["documents"]), *_lohi(v["documents"]), None) for t, v in types.items()]
            + [("any", _val(rec["pii"]["any"]), *_lohi(rec["pii"]["any"]), None)],
        )
    tox = rec.get("toxicity")
    if tox and tox["documents_scored"]:
        plots["toxicity"] = histogram_svg(
            f"Document toxicity (n = {tox['documents_scored']:,})",
            tox["histogram"]["edges"],
            tox["histogram"]["counts"],
            threshold=tox["threshold"],
        )
    return plots


def _lohi(est: dict[str, Any] | None) -> tuple[float | None, float | None]:
    if est is None or est.get("method") == "exact":
        return None, None
    return float(est["ci_low"]), float(est["ci_high"])


# ---------------------------------------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.6em}h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}
th{background:#f4f4f4}.note{color:#555;font-size:.9em}.num{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f4f4f4;padding:0 .2em}
"""


def _html_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _md_to_html_table(md: str) -> str:
    """Render the Markdown tables and paragraphs produced above as HTML (escaped)."""
    parts: list[str] = []
    lines = md.strip().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("### "):
            parts.append(f"<h3>{_e(line[4:])}</h3>")
            i += 1
        elif line.startswith("| "):
            block = []
            while i < len(lines) and lines[i].startswith("|"):
                block.append(lines[i])
                i += 1

            def cells(row: str) -> list[str]:
                inner = row.strip()[1:-1]
                return [c.strip().replace("\\|", "|") for c in _split_cells(inner)]

            parts.append(_html_table(cells(block[0]), [cells(r) for r in block[2:]]))
        elif line.strip():
            parts.append(f"<p class='note'>{_e(line)}</p>")
            i += 1
        else:
            i += 1
    return "\n".join(parts)


def _split_cells(inner: str) -> list[str]:
    cells, cur, esc = [], [], False
    for ch in inner:
        if esc:
            cur.append(ch)
            esc = False
        elif ch == "\\":
            cur.append(ch)
            esc = True
        elif ch == "|":
            cells.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    cells.append("".join(cur))
    return cells


def html_section(rec: dict[str, Any]) -> str:
    """The audit as an HTML fragment (headings, tables, inline SVG), for embedding in a report."""
    plots = plots_svg(rec)
    s = rec["settings"]
    out = [f"<p>{_e(_summary_line(rec))}</p>"]
    files = rec["inputs"]["files"]
    out.append(
        _html_table(
            ["Setting", "Value"],
            [
                [
                    "inputs",
                    ", ".join(f["rel"] for f in files[:8]) + (f" … ({len(files)} files)" if len(files) > 8 else ""),
                ],
                ["sample / seed", f"{s['sample']:g} / {s['seed']}"],
                ["toxicity sample", f"{s['toxicity_sample']:g}" if "toxicity" in s["analyses"] else "off"],
                ["analyses", ", ".join(s["analyses"])],
                ["text field", s["text_field"]],
                ["digest", rec.get("digest", "")],
            ],
        )
    )
    for key, title, plot in (
        ("pii", "Personal information", "pii"),
        ("table9a_pronouns", "Pronouns", "pronouns"),
        ("table9b_identity", "Identity terms", "identity"),
        ("toxicity", "Toxicity", "toxicity"),
        ("table10_languages", "Languages", "languages"),
    ):
        table = TABLES[key](rec)
        if table is None:
            continue
        out.append(f"<h2>{_e(title)}</h2>")
        out.append(_md_to_html_table(table[0]))
        if plot in plots:
            out.append(f"<figure>{plots[plot]}</figure>")
    out.append("<h2>Open choices</h2>")
    out.append(
        _html_table(
            ["Choice", "Value", "Reference", "What it controls"],
            [[c["name"], c["value"], c["reference"], c["description"]] for c in rec.get("open_choices", [])],
        )
    )
    ref = rec["reference"]
    out.append(f"<p class='note'>Paper numbers: {_e(ref['source'])}.</p>")
    return "\n".join(out)


def render_html(rec: dict[str, Any]) -> str:
    """A complete, self-contained HTML page (no external resources, no scripts)."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' "
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        f"<title>Corpus audit</title><style>{_CSS}</style></head><body>"
        f"<h1>Corpus audit</h1>\n{html_section(rec)}\n"
        f"<p class='note'>safetylens audit, schema {_e(rec['schema'])}, created {_e(rec.get('created', ''))}.</p>"
        "</body></html>\n"
    )


def write_outputs(rec: dict[str, Any], out_dir: Path) -> list[Path]:
    """Write ``audit.json``, ``tables.md``, one CSV per table, SVG plots and ``index.html``.

    Returns:
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    def put(name: str, text: str) -> None:
        path = out_dir / name
        atomic_write_text(path, text)
        written.append(path)

    put("audit.json", json.dumps(rec, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    put("tables.md", tables_markdown(rec))
    for stem, fn in TABLES.items():
        table = fn(rec)
        if table is not None:
            put(f"{stem}.csv", table[1])
    for stem, svg in plots_svg(rec).items():
        put(f"{stem}.svg", svg + "\n")
    put("index.html", render_html(rec))
    return written


def load_audit(path: Path) -> dict[str, Any]:
    """Read an ``audit.json`` (a file, or a directory that contains one), checking its schema.

    Raises:
        DataError: Missing, malformed or of an unknown schema.
    """
    from safetylens.audit.aggregate import SCHEMA
    from safetylens.errors import DataError

    if path.is_dir():
        path = path / "audit.json"
    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read audit record {path}: {exc}") from exc
    if not isinstance(rec, dict) or rec.get("schema") != SCHEMA:
        raise DataError(f"{path}: not a safetylens audit record (expected schema {SCHEMA})")
    return rec
