r"""Markdown, CSV and LaTeX renderings of report tables and the methodology section.

- Markdown: measured cells as ``value [low, high] (n=N)``; the paper's rows after a separator row.
- CSV: one file per table in wide form, with ``<column>``, ``<column>_ci_low``, ``<column>_ci_high``
  and ``<column>_n`` columns, a ``kind`` column (``measured`` / ``reference``), and on every row its
  ``scorer``, ``scorer_status`` (paper / unverified / not-paper / n/a), ``subset`` ("" for the whole
  data set) and ``note`` (the caveat and the row's note); text cells are protected against formula
  injection.
- LaTeX: a booktabs ``tabular`` per table, the CI in a second line (``\makecell``), a
  ``\midrule`` and an italic caption row before the paper's rows, and the table's notes under it.

Markdown and LaTeX print :meth:`~safetylens.report.tables.ReportTable.notes_under` under each
table and mark the measured rows whose caveat warns (‡), as the HTML page does.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence

from safetylens.report.escape import csv_text, latex_text, md_code_block, md_text
from safetylens.report.methodology import Grid, KeyValues, Section, Verbatim
from safetylens.report.tables import CAVEAT_MARK, UNCERTAIN_MARK, ReportRow, ReportTable, TableNote, cell_parts
from safetylens.stats.ci import Estimate

REFERENCE_CAPTION = "Llama 2 paper (published, not measured here)"


def reference_caption(table: ReportTable) -> str:
    """The separator above a table's published rows, naming whose numbers they are."""
    source = table.reference_source
    if source == "the Llama 2 paper":
        return REFERENCE_CAPTION
    return f"{source[:1].upper()}{source[1:]} (published, not measured here)"


# ------------------------------------------------------------------------------------ Markdown


def md_cell(cell: object, digits: int, uncertain: str | None = None) -> str:
    """A Markdown table cell."""
    value, ci, n = cell_parts(cell, digits)  # type: ignore[arg-type]
    if isinstance(cell, Estimate):
        return md_text(value) + (f" {md_text(ci)}" if ci else "") + f" (n={n})"
    return md_text(value) + (f" {UNCERTAIN_MARK}" if uncertain else "")


def md_row_label(row: ReportRow) -> str:
    """A row label, marked when the row's caveat warns."""
    return md_text(row.label) + (f" {CAVEAT_MARK}" if row.marked else "")


def md_note(note: TableNote) -> str:
    """A note under a table, with the mark it explains."""
    return (f"{note.mark} " if note.mark else "") + md_text(note.text)


def table_markdown(table: ReportTable) -> str:
    """A table in GitHub-flavoured Markdown."""
    cols = table.columns
    lines = [
        f"**{md_text(table.title)}** (`{table.id}`)",
        "",
        "| row | " + " | ".join(md_text(table.label(c)) for c in cols) + " |",
        "|---|" + "---:|" * len(cols),
    ]
    for r in table.measured:
        lines.append(f"| {md_row_label(r)} | " + " | ".join(md_cell(r.cells.get(c), table.digits) for c in cols) + " |")
    if table.reference:
        lines.append(f"| ***{md_text(reference_caption(table))}*** |" + " |" * len(cols))
        for r in table.reference:
            lines.append(
                f"| {md_row_label(r)} | "
                + " | ".join(md_cell(r.cells.get(c), table.digits, r.uncertain.get(c)) for c in cols)
                + " |"
            )
    notes = table.notes_under()
    if notes:
        lines.append("")
        lines += [f"- {md_note(n)}" for n in notes]
    return "\n".join(lines) + "\n"


def section_markdown(section: Section) -> str:
    """A methodology section in Markdown."""
    level = "#" * min(max(section.level, 2), 6)
    out = [f"{level} {md_text(section.title)}", ""]
    for b in section.blocks:
        if isinstance(b, KeyValues):
            out += [f"*{md_text(b.caption)}*", "", "| setting | value |", "|---|---|"]
            out += [f"| {md_text(k)} | {md_text(v)} |" for k, v in b.rows]
        elif isinstance(b, Grid):
            out += [f"*{md_text(b.caption)}*", ""]
            out.append("| " + " | ".join(md_text(h) for h in b.header) + " |")
            out.append("|" + "---|" * len(b.header))
            out += ["| " + " | ".join(md_text(c) for c in row) + " |" for row in b.rows]
        elif isinstance(b, Verbatim):
            out += [f"*{md_text(b.caption)}*", "", md_code_block(b.text)]
        out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------- CSV


def _num(x: float) -> str:
    return "" if math.isnan(x) else repr(float(x))


def table_csv(table: ReportTable) -> str:
    """A table as CSV (wide form, CI and n columns for every column)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    header = ["table", "kind", "row", "run_id"]
    for c in table.columns:
        header += [c, f"{c}_ci_low", f"{c}_ci_high", f"{c}_n"]
    header += ["uncertain", "scorer", "scorer_status", "subset", "note"]
    w.writerow([csv_text(h) for h in header])
    for r in table.rows:
        row = [csv_text(table.id), r.kind, csv_text(r.label), csv_text(r.run_id or "")]
        for c in table.columns:
            cell = r.cells.get(c)
            if isinstance(cell, Estimate):
                row += [_num(cell.value), _num(cell.ci_low), _num(cell.ci_high), str(cell.n)]
            elif isinstance(cell, bool) or cell is None:
                row += ["" if cell is None else csv_text(cell), "", "", ""]
            elif isinstance(cell, int | float):
                row += [_num(float(cell)), "", "", ""]
            else:
                row += [csv_text(cell), "", "", ""]
        row.append(csv_text("; ".join(f"{k}: {v}" for k, v in r.uncertain.items())))
        caveat = r.caveat
        row += [
            csv_text(caveat.scorer if caveat else ""),
            caveat.scorer_status if caveat else "",
            csv_text(caveat.subset if caveat else ""),
            csv_text(r.full_note),
        ]
        w.writerow(row)
    return buf.getvalue()


# --------------------------------------------------------------------------------------- LaTeX

LATEX_PREAMBLE = r"""% safetylens report tables. Needs: \usepackage{booktabs,makecell}
"""


LATEX_MARKS = {CAVEAT_MARK: r"$^\ddagger$", UNCERTAIN_MARK: r"$^\dagger$"}
"""The marks of report tables in LaTeX (math-mode symbols: no text-encoding package needed)."""


def latex_row_label(row: ReportRow) -> str:
    """A row label, marked when the row's caveat warns."""
    return latex_text(row.label) + (LATEX_MARKS[CAVEAT_MARK] if row.marked else "")


def latex_cell(cell: object, digits: int, uncertain: str | None = None) -> str:
    """A LaTeX cell: measured estimates as value over a small CI line."""
    value, ci, _ = cell_parts(cell, digits)  # type: ignore[arg-type]
    if isinstance(cell, Estimate):
        if ci is None:
            return latex_text(value)
        return rf"\makecell{{{latex_text(value)}\\ {{\scriptsize {latex_text(ci)}}}}}"
    return latex_text(value) + (LATEX_MARKS[UNCERTAIN_MARK] if uncertain else "")


def table_latex(table: ReportTable) -> str:
    """A booktabs table (a ``table`` float with caption and label)."""
    cols = table.columns
    label = "tab:" + "".join(ch if ch.isalnum() or ch in "-:" else "-" for ch in table.id)
    lines = [
        r"\begin{table}[ht]",
        r"\centering\small",
        rf"\caption{{{latex_text(table.title)}}}",
        rf"\label{{{label}}}",
        r"\begin{tabular}{l" + "r" * len(cols) + "}",
        r"\toprule",
        "Model & " + " & ".join(latex_text(table.label(c)) for c in cols) + r" \\",
        r"\midrule",
    ]
    for r in table.measured:
        lines.append(
            latex_row_label(r) + " & " + " & ".join(latex_cell(r.cells.get(c), table.digits) for c in cols) + r" \\"
        )
    if table.reference:
        lines.append(r"\midrule")
        lines.append(rf"\multicolumn{{{len(cols) + 1}}}{{l}}{{\emph{{{latex_text(reference_caption(table))}}}}} \\")
        for r in table.reference:
            lines.append(
                latex_row_label(r)
                + " & "
                + " & ".join(latex_cell(r.cells.get(c), table.digits, r.uncertain.get(c)) for c in cols)
                + r" \\"
            )
    lines += [r"\bottomrule", r"\end{tabular}"]
    n_measured = {r.cells.get(c).n for r in table.measured for c in cols if isinstance(r.cells.get(c), Estimate)}  # type: ignore[union-attr]
    foot = "Measured cells: value and 95\\% confidence interval"
    if n_measured:
        foot += f" (n = {', '.join(str(n) for n in sorted(n_measured))})"
    lines.append(r"\par\footnotesize " + foot + ".")
    for note in table.notes_under():
        mark = LATEX_MARKS[note.mark] + "~" if note.mark else ""
        lines.append(r"\par\footnotesize " + mark + latex_text(note.text))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def tables_latex(tables: Sequence[ReportTable]) -> str:
    """All tables as one LaTeX fragment."""
    return LATEX_PREAMBLE + "\n".join(table_latex(t) for t in tables)
