"""Build a report from run directories and write it in the requested formats."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetylens.errors import ConfigError
from safetylens.report.formats import section_markdown, table_csv, table_markdown, tables_latex
from safetylens.report.html import render_html
from safetylens.report.human import HumanSection, human_section, load_human
from safetylens.report.load import LoadedRun, load_runs
from safetylens.report.methodology import Section, methodology
from safetylens.report.tables import ReportTable, breakdown_tables, check_reference, metric_tables, paper_tables
from safetylens.spec import utc_now
from safetylens.util import atomic_write_text

FORMATS = ("html", "md", "csv", "tex")


@dataclass
class BenchmarkPart:
    """What the report shows for one benchmark."""

    name: str
    paper: list[ReportTable] = field(default_factory=list)
    metrics: list[ReportTable] = field(default_factory=list)
    breakdowns: list[ReportTable] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    """A report, ready to be rendered."""

    title: str
    generated: str
    runs: list[LoadedRun]
    benchmarks: list[BenchmarkPart]
    human: list[HumanSection]
    methodology: list[Section]
    reference: str | None

    def all_tables(self) -> list[ReportTable]:
        """Every table, in page order."""
        out = [t for b in self.benchmarks for t in (*b.paper, *b.metrics, *b.breakdowns)]
        return out + [t for h in self.human for t in h.tables]


def build_report(
    runs: Sequence[LoadedRun],
    *,
    reference: str | None = None,
    human: Sequence[dict[str, Any]] = (),
    title: str = "safetylens report",
) -> Report:
    """Assemble tables, notes, the human-evaluation and methodology sections.

    Args:
        runs: Loaded runs (one measured row each).
        reference: ``"llama2"`` to add the paper's rows.
        human: Study results dicts (``safetylens human results --json``).
        title: Page title.
    """
    check_reference(reference)
    paper = paper_tables(runs, reference)
    metrics = metric_tables(runs)
    breakdowns = breakdown_tables(runs)
    parts: dict[str, BenchmarkPart] = {}
    for run in runs:
        for name, res in run.results.items():
            part = parts.setdefault(name, BenchmarkPart(name))
            prefix = f"{run.label}: " if len(runs) > 1 else ""
            part.notes += [prefix + n for n in res.notes]
    for t in paper:
        parts[t.benchmark].paper.append(t)
    for t in metrics:
        parts[t.benchmark].metrics.append(t)
    for t in breakdowns:
        parts[t.benchmark].breakdowns.append(t)
    return Report(
        title=title,
        generated=utc_now(),
        runs=list(runs),
        benchmarks=list(parts.values()),
        human=[human_section(h) for h in human],
        methodology=methodology(runs),
        reference=reference,
    )


def render_report_html(report: Report) -> str:
    """The report as one self-contained HTML page."""
    return render_html(
        title=report.title,
        generated=report.generated,
        runs_overview=[(r.label, r.run_id, r.manifest.model.model, ", ".join(r.results)) for r in report.runs],
        benchmarks=[(b.name, b.paper, b.metrics, b.breakdowns, b.notes) for b in report.benchmarks],
        human=report.human,
        methodology=report.methodology,
        reference=report.reference,
    )


def render_report_markdown(report: Report) -> str:
    """The report as Markdown (tables, notes, methodology)."""
    from safetylens.report.escape import md_text

    out = [f"# {md_text(report.title)}", "", f"Generated {md_text(report.generated)} by safetylens.", ""]
    out += ["## Runs", "", "| label | run | model | benchmarks |", "|---|---|---|---|"]
    out += [
        f"| {md_text(r.label)} | {md_text(r.run_id)} | {md_text(r.manifest.model.model)} | "
        f"{md_text(', '.join(r.results))} |"
        for r in report.runs
    ]
    out.append("")
    for b in report.benchmarks:
        out += [f"## {md_text(b.name)}", ""]
        for t in (*b.paper, *b.metrics, *b.breakdowns):
            out += [table_markdown(t), ""]
        if b.notes:
            out += ["Notes:", ""] + [f"- {md_text(n)}" for n in b.notes] + [""]
    for h in report.human:
        out += [f"## {md_text(h.title)}", ""]
        for t in h.tables:
            out += [table_markdown(t), ""]
        out += [f"- {md_text(n)}" for n in h.notes] + [""]
    out += ["## Methodology", ""]
    out += [section_markdown(s) for s in report.methodology]
    return "\n".join(out)


def parse_formats(text: str) -> list[str]:
    """Parse ``--format html,md`` into a list.

    Raises:
        ConfigError: An unknown format.
    """
    fmts = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = [f for f in fmts if f not in FORMATS]
    if bad or not fmts:
        what = ", ".join(bad) if bad else repr(text)
        raise ConfigError(f"unknown report format(s): {what}", hint=f"use {','.join(FORMATS)}")
    return list(dict.fromkeys(fmts))


def write_report(report: Report, out_dir: Path, formats: Sequence[str]) -> list[Path]:
    """Write the report's files into ``out_dir``; returns their paths.

    ``html`` -> ``report.html``; ``md`` -> ``report.md``; ``tex`` -> ``tables.tex``;
    ``csv`` -> ``csv/<table id>.csv`` (one file per table).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if "html" in formats:
        p = out_dir / "report.html"
        atomic_write_text(p, render_report_html(report))
        written.append(p)
    if "md" in formats:
        p = out_dir / "report.md"
        atomic_write_text(p, render_report_markdown(report))
        written.append(p)
    if "tex" in formats:
        p = out_dir / "tables.tex"
        atomic_write_text(p, tables_latex(report.all_tables()))
        written.append(p)
    if "csv" in formats:
        d = out_dir / "csv"
        d.mkdir(exist_ok=True)
        for t in report.all_tables():
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in t.id)
            p = d / f"{safe}.csv"
            atomic_write_text(p, table_csv(t))
            written.append(p)
    return written


def report_from_dirs(
    run_dirs: Sequence[Path],
    out_dir: Path,
    *,
    formats: Sequence[str] = ("html",),
    reference: str | None = None,
    human_files: Sequence[Path] = (),
    title: str = "safetylens report",
) -> list[Path]:
    """Load runs, build the report and write it (the ``safetylens report`` command)."""
    runs = load_runs(run_dirs)
    human = [load_human(p) for p in human_files]
    report = build_report(runs, reference=reference, human=human, title=title)
    return write_report(report, out_dir, formats)
