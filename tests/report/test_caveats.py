"""Scorer and subset status travel with every measured row, in every export format."""

from __future__ import annotations

import csv
import html
import io
import re
from pathlib import Path

import pytest

from safetylens.datasets.registry import DataStore
from safetylens.report.build import build_report, report_from_dirs
from safetylens.report.escape import html_text, latex_text, md_text
from safetylens.report.formats import table_csv, table_latex, table_markdown
from safetylens.report.html import table_html
from safetylens.report.load import LoadedRun
from safetylens.report.tables import paper_tables
from safetylens.runs import RunDir, execute
from safetylens.spec import ResolvedBenchmark, ScorerRecord, build_spec
from tests.helpers import CountingBackend
from tests.scorers.test_toxicity_roberta import build_tiny_roberta

from .conftest import loaded, tiny_run, toxigen_result, with_results


@pytest.fixture(scope="module")
def subset_run(tmp_path_factory: pytest.TempPathFactory, shared_data_dir: Path) -> Path:
    """A real ToxiGen run on 2 sentences per group, labelled by a classifier that is not the paper's."""
    tiny = build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))
    spec = build_spec(
        {
            "model": {"name": "counting"},
            "benchmarks": [
                {
                    "name": "toxigen",
                    "options": {
                        "sample": 2,
                        "classifier": "toxigen-hatebert",
                        "classifier_model": str(tiny),
                        "classifier_tokenizer": str(tiny),
                        "classifier_device": "cpu",
                        "bootstrap_resamples": 200,
                    },
                }
            ],
            "output_dir": str(tmp_path_factory.mktemp("runs")),
            "use_cache": False,
            "label": "model A",
        }
    )
    run = RunDir.create(spec)
    execute(spec, CountingBackend(), run, data=DataStore([shared_data_dir]))
    return run.path


def _html_table(page: str, table_id: str) -> str:
    """The table and the notes under it."""
    start = page.index(f'data-table="{table_id}"')
    end = page.index("</ul>", page.index("</table>", start))
    return html.unescape(page[start:end])


def _md_table(md: str, table_id: str) -> str:
    (block,) = [b for b in md.split("\n**") if f"(`{table_id}`)" in b.split("\n", 1)[0]]
    return block


def _tex_table(tex: str, table_id: str) -> str:
    (block,) = [b for b in tex.split("\\begin{table}") if f"\\label{{tab:{table_id}}}" in b]
    return block


def test_every_format_carries_scorer_and_subset_status(subset_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    report_from_dirs([subset_run], out, formats=["html", "md", "csv", "tex"], reference="llama2")

    for table_id in ("llama2-table45", "toxigen-metrics"):
        page = _html_table((out / "report.html").read_text(), table_id)
        assert "NOT the paper's scorer" in page and "subset (stratified sample of 2 per group" in page
        assert re.search(r'>model A<sup class="caveat" title="[^"]*NOT the paper\'s scorer[^"]*">‡</sup>', page)

        md = _md_table((out / "report.md").read_text(), table_id)
        assert "NOT the paper's scorer" in md and "subset (stratified sample of 2 per group" in md
        assert "| model A ‡ |" in md

        tex = _tex_table((out / "tables.tex").read_text(), table_id)
        assert "NOT the paper's scorer" in tex and "subset (stratified sample of 2 per group" in tex
        assert "\nmodel A$^\\ddagger$ & " in tex  # the measured row, directly above the paper's rows

        rows = list(csv.DictReader(io.StringIO((out / "csv" / f"{table_id}.csv").read_text())))
        measured = [r for r in rows if r["kind"] == "measured"]
        assert len(measured) == 1
        (m,) = measured
        assert m["scorer"] == "toxigen-hatebert" and m["scorer_status"] == "not-paper"
        assert m["subset"].startswith("stratified sample of 2 per group; n = ")
        assert "NOT the paper's scorer" in m["note"] and "subset" in m["note"]
    # The paper's rows say what they were scored by, on the whole data set.
    rows = list(csv.DictReader(io.StringIO((out / "csv" / "llama2-table45.csv").read_text())))
    reference = [r for r in rows if r["kind"] == "reference"]
    assert len(reference) == 19
    assert all(r["scorer_status"] == "paper" and "tomh/toxigen_roberta" in r["scorer"] for r in reference)
    assert all(r["subset"] == "" for r in reference)


def test_all_formats_show_the_same_caveat_text(subset_run: Path) -> None:
    report = build_report([loaded(subset_run)], reference="llama2")
    tables = report.all_tables()
    assert len(tables) >= 3  # the paper's table, the metrics and the breakdowns
    for table in tables:
        texts = {r.caveat.text for r in table.measured if r.caveat is not None and r.caveat.warns}
        assert len(texts) == 1 and all(r.marked for r in table.measured)
        (text,) = texts
        assert html_text(text) in table_html(table)
        assert md_text(text) in table_markdown(table)
        assert latex_text(text) in table_latex(table)
        measured = [r for r in csv.DictReader(io.StringIO(table_csv(table))) if r["kind"] == "measured"]
        assert measured and all(text in m["note"] for m in measured)


def _with_scorers(run: LoadedRun, records: list[ScorerRecord], **spec: object) -> LoadedRun:
    manifest = run.manifest.model_copy(
        update={
            "scorers": tuple(records),
            "spec": run.manifest.spec.model_copy(update=spec),
            "benchmarks": (
                ResolvedBenchmark(name="toxigen", version="1", options={"sample": None}, decoding={}, chat=False),
            ),
        }
    )
    return LoadedRun(path=run.path, manifest=manifest, results=run.results, label=run.label)


@pytest.mark.parametrize(
    ("scorer", "details", "status"),
    [
        ("toxigen-roberta", {"paper_classifier": True}, "paper"),
        ("toxigen-roberta", {"paper_classifier": False}, "unverified"),  # loaded from elsewhere
        ("toxigen-hatebert", {"paper_classifier": False}, "not-paper"),
    ],
)
def test_scorer_status_follows_the_papers_scorer(
    tmp_path: Path, scorer: str, details: dict[str, bool], status: str
) -> None:
    base = loaded(tiny_run(tmp_path))
    res = toxigen_result().model_copy(update={"scorers": [scorer]})
    run = _with_scorers(
        with_results(base, {"toxigen": res}, label="m"), [ScorerRecord(id=scorer, version="1", details=details)]
    )
    (table,) = paper_tables([run], reference="llama2")
    caveat = table.measured[0].caveat
    assert caveat is not None and caveat.scorer == scorer and caveat.scorer_status == status
    assert caveat.subset == "" and caveat.warns == (status != "paper")
    assert ("‡" in table_markdown(table).split("\n")[4]) == caveat.warns
    if status == "paper":
        assert "the paper's scorer (ToxiGen RoBERTa" in caveat.text


def test_limit_is_a_subset_and_benchmarks_without_paper_numbers_have_no_scorer_status(tmp_path: Path) -> None:
    base = loaded(tiny_run(tmp_path))
    run = _with_scorers(base, [], limit=3)
    report = build_report([run])
    metrics = {t.benchmark: t for b in report.benchmarks for t in b.metrics}
    caveat = metrics["tiny-gen"].measured[0].caveat
    assert caveat is not None and caveat.scorer_status == "n/a" and caveat.subset.startswith("first 3 samples")
    assert caveat.text.startswith("subset (first 3 samples") and "scorer" not in caveat.text
    full = build_report([base])
    assert not any(r.caveat and r.caveat.warns for t in full.all_tables() for r in t.rows)
    assert all("‡" not in table_markdown(t) for t in full.all_tables())
