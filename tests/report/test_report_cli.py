"""`safetylens report`: files per format, bad input refused with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import ConfigError

from .conftest import tiny_run


def test_report_writes_every_format(tmp_path: Path) -> None:
    a = tiny_run(tmp_path, out="a", label="model A")
    b = tiny_run(tmp_path, out="b", label="model A")  # same label, same benchmarks: run ids tell them apart
    out = tmp_path / "rep"
    res = CliRunner().invoke(
        app, ["report", str(a), str(b), "--format", "html,md,csv,tex", "--output", str(out), "--reference", "llama2"]
    )
    assert res.exit_code == 0, res.output
    assert (out / "report.html").is_file() and (out / "report.md").is_file() and (out / "tables.tex").is_file()
    assert sorted(p.name for p in (out / "csv").iterdir()) == ["tiny-gen-metrics.csv", "tiny-ll-metrics.csv"]
    page = (out / "report.html").read_text()
    assert f"model A [{a.name}]" in page and f"model A [{b.name}]" in page


def test_report_refuses_bad_input(tmp_path: Path) -> None:
    run = tiny_run(tmp_path)
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(run), "--format", "pdf"])
    assert isinstance(res.exception, ConfigError) and "unknown report format(s): pdf" in res.exception.message
    res = runner.invoke(app, ["report", str(run), "--reference", "llama3"])
    assert isinstance(res.exception, ConfigError) and "unknown reference 'llama3'" in res.exception.message
    (run / "results.json").unlink()
    res = runner.invoke(app, ["report", str(run)])
    assert isinstance(res.exception, ConfigError) and "not finished" in res.exception.message
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"hello": 1}))
    res = runner.invoke(app, ["report", str(tiny_run(tmp_path, out="x")), "--human", str(bad)])
    assert isinstance(res.exception, ConfigError) and "not a study results file" in res.exception.message
