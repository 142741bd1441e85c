"""Hostile text (model outputs, labels, manifest fields) stays inert in every report format."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from safetylens.benchmarks.base import BenchmarkResult, PaperTable, TableRow
from safetylens.report.build import report_from_dirs
from safetylens.report.escape import csv_text, html_text, latex_text, md_code_block, md_text
from safetylens.stats.ci import proportion

from .conftest import tiny_run

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://evil","x")'
LATEX = r"\input{/etc/passwd} $x$ 100% & #1 _a ^b ~c {d}"
MD = "| cell | [link](http://evil) ![img](http://evil/x.png) **bold** `code`\nnew row"


def test_html_escaping() -> None:
    assert html_text(SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert html_text(IMG) == "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
    assert html_text("a\x00b\x1bc") == "abc"


def test_markdown_escaping() -> None:
    out = md_text(MD + SCRIPT)
    assert "\n" not in out and "<" not in out and "&lt;script&gt;" in out
    assert "\\|" in out and "\\[link\\]" in out and "!\\[img\\]" in out and "\\*\\*bold\\*\\*" in out
    assert "\\`code\\`" in out
    block = md_code_block("text with ``` fence\n```")
    assert block.startswith("````text\n") and block.endswith("\n````")


def test_latex_escaping() -> None:
    out = latex_text(LATEX)
    assert out == (
        r"\textbackslash{}input\{/etc/passwd\} \$x\$ 100\% \& \#1 \_a \textasciicircum{}b "
        r"\textasciitilde{}c \{d\}"
    )


@pytest.mark.parametrize("text", [FORMULA, "+1+2", "-2+3", "@SUM(A1)", "\tx", "|cmd", "%0A", "\uff1dSUM(A1)"])
def test_csv_formula_injection_is_neutralised(text: str) -> None:
    assert csv_text(text).startswith("'")


def test_csv_plain_text_is_unchanged() -> None:
    assert csv_text("Llama 2-Chat 7B") == "Llama 2-Chat 7B"


def test_hostile_run_stays_inert_in_every_format(tmp_path: Path) -> None:
    """A run whose label, table, notes, options and prompt templates are hostile."""
    path = tiny_run(tmp_path, label=SCRIPT + IMG + FORMULA)
    results_file = path / "results.json"
    data = json.loads(results_file.read_text())
    hostile = BenchmarkResult(
        benchmark="tiny-gen",
        n_samples=3,
        headline={"x": proportion(1, 3)},
        notes=[SCRIPT, LATEX, MD],
        tables=[
            PaperTable(
                id="evil-table",
                title=SCRIPT,
                columns=["c<1>", FORMULA],
                column_labels={"c<1>": IMG, FORMULA: LATEX},
                rows=[
                    TableRow(label=FORMULA, cells={"c<1>": proportion(1, 3), FORMULA: SCRIPT}, note=MD),
                    TableRow(label=SCRIPT, cells={"c<1>": 1.0, FORMULA: FORMULA}, kind="reference", note=IMG),
                ],
            )
        ],
    )
    data["results"]["tiny-gen"] = hostile.model_dump(mode="json")
    data["manifest"]["benchmarks"][0]["prompt_templates"] = {"evil": "</pre>" + SCRIPT + IMG}
    data["manifest"]["benchmarks"][0]["options"]["system_prompt"] = SCRIPT
    results_file.write_text(json.dumps(data))
    out = tmp_path / "report"
    report_from_dirs([path], out, formats=["html", "md", "csv", "tex"], reference="llama2")

    page = (out / "report.html").read_text()
    assert "<script" not in page.lower() and "<img" not in page.lower() and "onerror=alert(1)>" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "&lt;/pre&gt;" in page  # a template cannot close its <pre>

    md = (out / "report.md").read_text()
    outside_code = md.split("```")[0::2]
    assert not any("<script" in part or "<img" in part for part in outside_code)
    assert not any(re.search(r"(?<!\\)\]\(", part) for part in outside_code)  # no live link or image
    assert "\\[link\\](http://evil)" in md

    rows = list(csv.reader(io.StringIO((out / "csv" / "evil-table.csv").read_text())))
    assert rows[0][8] == "'" + FORMULA  # header cell
    assert rows[1][2] == SCRIPT + IMG + FORMULA and rows[2][8] == "'" + FORMULA
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "|", "%", "\t")) and not (
                cell.startswith("-") and not _is_number(cell)
            )

    tex = (out / "tables.tex").read_text()
    assert "\\input" not in tex and "\\textbackslash{}input" in tex
    assert "<script>" not in tex and "\\textless{}script\\textgreater{}" in tex


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
