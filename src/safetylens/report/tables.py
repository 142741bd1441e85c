"""Tables of a report: the paper's tables with one measured row per run, and metric tables.

Every benchmark describes its results in the paper's layout as
:class:`~safetylens.benchmarks.base.PaperTable` objects (measured rows, then the paper's reference
rows). The report merges the tables of several runs by table id, so a new benchmark appears in
reports without any change here: one measured row per run, the paper's rows after a visible
separator when ``--reference llama2`` is asked for.

Every row carries its :class:`~safetylens.report.caveats.Caveat` (scorer and subset status), and
:meth:`ReportTable.notes_under` is the one list of notes every format prints under a table, so
the formats cannot disagree about what a reader is told.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from safetylens.report.caveats import Caveat, measured_caveat, reference_caveat
from safetylens.report.load import LoadedRun
from safetylens.stats.ci import Estimate

Cell = Estimate | float | str | None

REFERENCES = ("llama2",)
"""Reference sets a report can add (the Llama 2 paper's published rows)."""

CAVEAT_MARK = "‡"
"""Marks a measured row whose caveat warns (not the paper's scorer, or a subset), and its note."""

UNCERTAIN_MARK = "†"
"""Marks a reference cell whose transcription of the paper is uncertain, and its note."""


@dataclass(frozen=True)
class TableNote:
    """A note under a table.

    Attributes:
        text: The note (plain text; each format escapes it).
        mark: The mark it explains (:data:`CAVEAT_MARK`, :data:`UNCERTAIN_MARK`) or "".
    """

    text: str
    mark: str = ""


@dataclass(frozen=True)
class ReportRow:
    """A row of a report table.

    Attributes:
        label: Row label (the run's label for measured rows).
        kind: ``measured`` (this tool's numbers, with CIs) or ``reference`` (published numbers).
        cells: Column key -> value.
        note: Free-text note (shown under the table).
        run_id: For measured rows, the run they come from.
        uncertain: Column key -> why a reference cell's transcription is uncertain.
        caveat: Scorer and subset status (None for rows that are neither measured by a benchmark
            nor the paper's, such as human-evaluation rows).
    """

    label: str
    kind: Literal["measured", "reference"]
    cells: dict[str, Cell]
    note: str = ""
    run_id: str | None = None
    uncertain: dict[str, str] = field(default_factory=dict)
    caveat: Caveat | None = None

    @property
    def marked(self) -> bool:
        """Whether the row's label carries :data:`CAVEAT_MARK`."""
        return self.kind == "measured" and self.caveat is not None and self.caveat.warns

    @property
    def full_note(self) -> str:
        """The measured row's caveat and the row's own note, in one text (the CSV ``note`` column)."""
        caveat = self.caveat.text if self.kind == "measured" and self.caveat is not None else ""
        return "; ".join(t for t in (caveat, self.note) if t)


@dataclass
class ReportTable:
    """A table as the report shows it.

    Attributes:
        id: Stable id (the paper table's, e.g. ``llama2-table45``, or ``<benchmark>-metrics``).
        benchmark: The benchmark it belongs to.
        title: Caption.
        columns: Column keys in display order.
        column_labels: Column key -> header text.
        measured: Measured rows (one or more per run).
        reference: The paper's rows (empty without ``--reference``).
        digits: Decimals shown.
        notes: Caption notes (one per run when runs disagree).
        reference_source: Whose published numbers the reference rows are.
    """

    id: str
    benchmark: str
    title: str
    columns: list[str]
    column_labels: dict[str, str]
    measured: list[ReportRow] = field(default_factory=list)
    reference: list[ReportRow] = field(default_factory=list)
    digits: int = 2
    notes: list[str] = field(default_factory=list)
    reference_source: str = "the Llama 2 paper"

    def label(self, key: str) -> str:
        """Header text of a column."""
        return self.column_labels.get(key, key)

    @property
    def rows(self) -> list[ReportRow]:
        """Measured rows, then reference rows."""
        return [*self.measured, *self.reference]

    def row_notes(self) -> list[str]:
        """Row notes, each text once with the rows it applies to (the paper's rows often share one)."""
        by_text: dict[str, list[str]] = {}
        for r in self.rows:
            if r.note:
                by_text.setdefault(r.note, []).append(r.label)
        return [f"{_who(labels)}: {text}" for text, labels in by_text.items()]

    def caveat_notes(self) -> list[TableNote]:
        """The measured rows' caveats, each once with the rows it applies to; warnings are marked."""
        by_caveat: dict[Caveat, list[str]] = {}
        for r in self.measured:
            if r.caveat is not None and r.caveat.text:
                by_caveat.setdefault(r.caveat, []).append(r.label)
        return [
            TableNote(f"{_who(labels)}: {c.text}", CAVEAT_MARK if c.warns else "") for c, labels in by_caveat.items()
        ]

    def notes_under(self) -> list[TableNote]:
        """Every note under the table, in the order and words every format prints them.

        The measured rows' caveats come first, then the caption notes, the rows' own notes and the
        explanation of :data:`UNCERTAIN_MARK`.
        """
        out = self.caveat_notes()
        out += [TableNote(n) for n in self.notes]
        out += [TableNote(n) for n in self.row_notes()]
        if any(r.uncertain for r in self.reference):
            out.append(TableNote("the transcriptions of the paper disagree on this cell", UNCERTAIN_MARK))
        return out


def _who(labels: Sequence[str]) -> str:
    """The rows a note applies to: their labels, or their count and the first and last."""
    return ", ".join(labels) if len(labels) <= 3 else f"{len(labels)} rows ({labels[0]} … {labels[-1]})"


def check_reference(reference: str | None) -> None:
    """Validate a ``--reference`` value.

    Raises:
        ConfigError: Unknown reference set.
    """
    from safetylens.errors import ConfigError

    if reference is not None and reference not in REFERENCES:
        raise ConfigError(f"unknown reference {reference!r}", hint=f"known: {', '.join(REFERENCES)}")


def paper_tables(runs: Sequence[LoadedRun], reference: str | None = None) -> list[ReportTable]:
    """Merge the paper-layout tables of several runs.

    Tables are keyed by id in order of first appearance. Each run contributes its measured rows
    (labelled with the run's label); reference rows come from the first run that has the table and
    are kept only when ``reference`` is given. Columns are the union over runs, in first-seen order.

    Args:
        runs: Loaded runs, in the order their rows should appear.
        reference: ``"llama2"`` to add the paper's rows, None for measured rows only.
    """
    check_reference(reference)
    out: dict[str, ReportTable] = {}
    raw_notes: dict[str, list[tuple[str, str]]] = {}
    for run in runs:
        for bench, res in run.results.items():
            for t in res.tables:
                table = out.get(t.id)
                if table is None:
                    table = ReportTable(
                        id=t.id,
                        benchmark=bench,
                        title=t.title,
                        columns=list(t.columns),
                        column_labels=dict(t.column_labels),
                        digits=t.digits,
                        reference_source=t.reference_source,
                    )
                    out[t.id] = table
                    if reference is not None:
                        ref_caveat = reference_caveat(bench)
                        table.reference = [
                            ReportRow(r.label, "reference", dict(r.cells), r.note, None, dict(r.uncertain), ref_caveat)
                            for r in t.rows
                            if r.kind == "reference"
                        ]
                else:
                    for c in t.columns:
                        if c not in table.columns:
                            table.columns.append(c)
                            table.column_labels.setdefault(c, t.column_labels.get(c, c))
                measured = [r for r in t.rows if r.kind == "measured"]
                caveat = measured_caveat(run, bench)
                for r in measured:
                    label = run.label if len(measured) == 1 else f"{run.label}: {r.label}"
                    table.measured.append(
                        ReportRow(label, "measured", dict(r.cells), r.note, run.run_id, caveat=caveat)
                    )
                if t.note:
                    raw_notes.setdefault(t.id, []).append((run.label, t.note))
    for tid, notes in raw_notes.items():
        distinct = list(dict.fromkeys(n for _, n in notes))
        out[tid].notes = distinct if len(distinct) == 1 else [f"{label}: {n}" for label, n in notes]
    return list(out.values())


def metric_tables(runs: Sequence[LoadedRun]) -> list[ReportTable]:
    """One table per benchmark: a row per run, a column per metric (headline metrics first)."""
    out: dict[str, ReportTable] = {}
    for run in runs:
        for bench, res in run.results.items():
            table = out.setdefault(
                bench,
                ReportTable(
                    id=f"{bench}-metrics",
                    benchmark=bench,
                    title=f"{bench}: headline and other metrics",
                    columns=[],
                    column_labels={},
                ),
            )
            cells: dict[str, Cell] = {}
            for key, est in {**res.headline, **res.metrics}.items():
                cells[key] = est
                if key not in table.columns:
                    table.columns.append(key)
            headline = set(res.headline)
            table.columns.sort(key=lambda c: 0 if c in headline else 1)
            table.measured.append(
                ReportRow(run.label, "measured", cells, "", run.run_id, caveat=measured_caveat(run, bench))
            )
    return [t for t in out.values() if t.columns]


def breakdown_tables(runs: Sequence[LoadedRun]) -> list[ReportTable]:
    """One table per benchmark and breakdown: a row per (run, group), a column per metric."""
    out: dict[tuple[str, str], ReportTable] = {}
    for run in runs:
        for bench, res in run.results.items():
            for bname, groups in res.breakdowns.items():
                if not groups:
                    continue
                table = out.setdefault(
                    (bench, bname),
                    ReportTable(
                        id=f"{bench}-by-{bname}",
                        benchmark=bench,
                        title=f"{bench} by {bname}",
                        columns=[],
                        column_labels={},
                    ),
                )
                caveat = measured_caveat(run, bench)
                for gname, metrics in groups.items():
                    for m in metrics:
                        if m not in table.columns:
                            table.columns.append(m)
                    label = gname if len(runs) == 1 else f"{run.label}: {gname}"
                    table.measured.append(ReportRow(label, "measured", dict(metrics), "", run.run_id, caveat=caveat))
    return list(out.values())


def fmt_number(value: float, digits: int) -> str:
    """A number with ``digits`` decimals; ``–`` for NaN (no observations)."""
    if math.isnan(value):
        return "–"
    return f"{value:.{digits}f}"


def cell_parts(cell: Cell, digits: int) -> tuple[str, str | None, int | None]:
    """Split a cell into (value text, CI text or None, n or None) for rendering."""
    if cell is None:
        return "", None, None
    if isinstance(cell, Estimate):
        ci = None
        if not (math.isnan(cell.ci_low) or math.isnan(cell.ci_high)):
            ci = f"[{fmt_number(cell.ci_low, digits)}, {fmt_number(cell.ci_high, digits)}]"
        return fmt_number(cell.value, digits), ci, cell.n
    if isinstance(cell, float | int):
        return fmt_number(float(cell), digits), None, None
    return str(cell), None, None
