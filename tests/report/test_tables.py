"""Table layout, reference rows, CI rendering and plots of reports (fixed data through real aggregation)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest

from safetylens.benchmarks.base import BenchmarkResult, PaperTable, TableRow
from safetylens.errors import ConfigError
from safetylens.report.build import build_report, parse_formats, render_report_html, render_report_markdown
from safetylens.report.formats import table_csv, table_latex, table_markdown
from safetylens.report.html import table_html
from safetylens.report.load import LoadedRun
from safetylens.report.plots import plot_kind, table_plots
from safetylens.report.tables import metric_tables, paper_tables
from safetylens.stats.ci import Estimate, proportion

from .conftest import GROUPS, loaded, tiny_run, toxigen_result, with_results


@pytest.fixture
def two_runs(tmp_path: Path) -> list[LoadedRun]:
    base = loaded(tiny_run(tmp_path))
    a = with_results(base, {"toxigen": toxigen_result(0)}, label="model A")
    b = with_results(base, {"toxigen": toxigen_result(2)}, label="model B")
    return [a, b]


def tqa_like() -> BenchmarkResult:
    """A result shaped like TruthfulQA's (Table 44), as another benchmark would report it."""
    cells: dict[str, Estimate | float | str | None] = {
        "true_info": proportion(30, 80),
        "true": proportion(41, 80),
        "info": proportion(72, 80),
    }
    refs = [
        TableRow(label="Llama 2 7B", cells={"true_info": 33.29, "true": 39.53, "info": 93.02}, kind="reference"),
        TableRow(label="Llama 2-Chat 7B", cells={"true_info": 57.04, "true": 60.59, "info": 96.45}, kind="reference"),
        TableRow(label="ChatGPT", cells={"true_info": 78.46, "true": 79.92, "info": 98.53}, kind="reference"),
    ]
    table = PaperTable(
        id="llama2-table44",
        title="TruthfulQA",
        columns=["true_info", "true", "info"],
        column_labels={"true_info": "% (true + info)", "true": "% true", "info": "% info"},
        rows=[TableRow(label="this run", cells=cells), *refs],
    )
    return BenchmarkResult(
        benchmark="truthfulqa", n_samples=80, headline={"true_info_pct": cells["true_info"]}, tables=[table]
    )


def test_paper_table_has_one_measured_row_per_run_then_the_papers_rows(two_runs: list[LoadedRun]) -> None:
    (t,) = paper_tables(two_runs, reference="llama2")
    assert t.id == "llama2-table45"
    assert [r.label for r in t.measured] == ["model A", "model B"]
    assert all(r.kind == "measured" for r in t.measured) and len(t.reference) == 19
    assert t.reference[0].label == "MPT 7B (paper)" and t.reference[-1].label == "Llama 2-Chat 70B (paper)"
    assert t.columns[-1] == "mean" and t.label("physical_disability") == "Physical disability"
    # The paper's numbers are carried as published, with uncertain transcriptions marked per cell.
    assert t.reference[0].cells["lgbtq"] == 20.03 and "lgbtq" in t.reference[0].uncertain
    assert t.reference[-1].uncertain.keys() == {"women"}
    without = paper_tables(two_runs, reference=None)[0]
    assert without.reference == [] and len(without.measured) == 2


def test_unknown_reference_set_is_refused(two_runs: list[LoadedRun]) -> None:
    with pytest.raises(ConfigError, match="unknown reference 'gpt4'"):
        paper_tables(two_runs, reference="gpt4")


def test_html_cells_show_value_ci_and_n_and_separate_reference_rows(two_runs: list[LoadedRun]) -> None:
    (t,) = paper_tables(two_runs, reference="llama2")
    html = table_html(t)
    est = two_runs[0].results["toxigen"].breakdowns["group"]["asian"]["toxic_pct"]
    expected = (
        f'<span class="v">{est.value:.2f}</span><span class="ci">[{est.ci_low:.2f}, {est.ci_high:.2f}]</span>'
        f'<span class="n">n={est.n}</span>'
    )
    assert expected in html
    assert f"95% CI [{est.ci_low:.2f}, {est.ci_high:.2f}], n=20; wilson" in html  # hover title
    measured, reference = html.split('<tbody class="reference">')
    assert measured.count('<tr class="measured">') == 2 and "(paper)" not in measured
    assert "Published in the Llama 2 paper" in reference and reference.count('<tr class="reference">') == 19
    assert 'class="uncertain"' in reference and "†" in reference
    # Groups without samples stay empty instead of showing a made-up zero.
    assert t.measured[0].cells["jewish"] is None


def test_markdown_csv_and_latex_carry_the_ci_and_n(two_runs: list[LoadedRun]) -> None:
    (t,) = paper_tables(two_runs, reference="llama2")
    est = two_runs[1].results["toxigen"].headline["toxic_pct"]
    md = table_markdown(t)
    assert f"{est.value:.2f} \\[{est.ci_low:.2f}, {est.ci_high:.2f}\\] (n=100)" in md
    assert "***Llama 2 paper (published, not measured here)***" in md
    rows = list(csv.DictReader(io.StringIO(table_csv(t))))
    assert [r["kind"] for r in rows] == ["measured"] * 2 + ["reference"] * 19
    b = rows[1]
    assert float(b["mean"]) == pytest.approx(est.value) and float(b["mean_ci_low"]) == pytest.approx(est.ci_low)
    assert b["mean_n"] == "100" and rows[2]["mean_n"] == "" and rows[2]["mean"] == "22.32"
    tex = table_latex(t)
    assert f"\\makecell{{{est.value:.2f}\\\\ {{\\scriptsize [{est.ci_low:.2f}, {est.ci_high:.2f}]}}}}" in tex
    assert "\\midrule\n\\multicolumn{15}{l}{\\emph{Llama 2 paper (published, not measured here)}}" in tex
    assert "$^\\dagger$" in tex


def test_new_benchmarks_appear_through_their_paper_tables(tmp_path: Path) -> None:
    base = loaded(tiny_run(tmp_path))
    run = with_results(base, {"truthfulqa": tqa_like(), **base.results}, label="m")
    tables = paper_tables([run], reference="llama2")
    assert [t.id for t in tables] == ["llama2-table44"]
    assert plot_kind(tables[0]) == "row-bars"
    plots = table_plots(tables[0])
    assert len(plots) == 3 and all(p.startswith("<svg") for p in plots)
    # One bar per row: the measured one coloured with a CI whisker, the paper's grey.
    assert plots[0].count('class="bar"') == 4 and plots[0].count('class="ci"') == 1
    metrics = {t.benchmark: t for t in metric_tables([run])}
    assert set(metrics) == {"truthfulqa", "tiny-gen", "tiny-ll"}
    assert metrics["tiny-gen"].columns[0] == "mean_chars"  # headline first


def test_plots_toxigen_bars_with_paper_range(two_runs: list[LoadedRun]) -> None:
    (t,) = paper_tables(two_runs, reference="llama2")
    (svg,) = table_plots(t)
    assert plot_kind(t) == "group-bars"
    # 5 measured groups + mean, two runs: 12 bars with CI whiskers; a grey band per column from the paper.
    assert svg.count('class="bar"') == 12 and svg.count('class="ci"') == 12
    assert svg.count('class="refband"') == 14
    assert re.search(r"<title>model A · Asian: [0-9.]+% \(95% CI [0-9.]+–[0-9.]+, n=20\)</title>", svg)


def test_full_report_renders_all_sections(two_runs: list[LoadedRun]) -> None:
    report = build_report(two_runs, reference="llama2")
    page = render_report_html(report)
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert 'data-table="llama2-table45"' in page and 'data-plot="llama2-table45"' in page
    assert 'id="methodology"' in page and "Choices the paper leaves open" in page
    md = render_report_markdown(report)
    assert "## Methodology" in md and "llama2-table45" in md
    for g in GROUPS:
        assert report.benchmarks[0].paper[0].measured[0].cells[g] is not None


def test_format_list_is_validated() -> None:
    assert parse_formats("html, md,csv,html") == ["html", "md", "csv"]
    with pytest.raises(ConfigError, match="pdf"):
        parse_formats("html,pdf")


def test_reference_rows_computed_with_an_interval_get_error_bars() -> None:
    from safetylens.report.svg import row_bars

    rows = [
        ("this run", proportion(3, 10), True),
        ("model A (human labels)", proportion(149, 250), False),  # computed: has an interval
        ("model B (paper)", 42.0, False),  # transcribed: no interval
    ]
    svg = row_bars("refusal on safe prompts", rows, unit="%")
    assert svg.count('class="bar"') == 3 and svg.count('class="ci"') == 2
