from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safetylens.audit.aggregate import build_record
from safetylens.audit.analyse import AuditSettings
from safetylens.audit.outputs import load_audit, render_html, tables_markdown, write_outputs
from safetylens.audit.runner import run_audit
from safetylens.cli import app
from safetylens.errors import DataError
from tests.audit.conftest import write_jsonl
from tests.audit.corpora import make_docs

HOSTILE = "<img src=x onerror=alert(1)>"  # a file name: no slash


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("out")
    path = write_jsonl(root / f"{HOSTILE}.jsonl", ({"text": t} for t in make_docs(400)))
    return build_record(run_audit([path], AuditSettings(sample=0.8), workers=1))


def test_record_schema_and_strict_json(record: dict, tmp_path: Path) -> None:
    files = write_outputs(record, tmp_path)
    names = {p.name for p in files}
    expected = {"audit.json", "tables.md", "index.html", "pii.csv", "pronouns.svg", "identity.svg", "languages.svg"}
    expected |= {"table9a_pronouns.csv", "table9b_identity.csv", "table10_languages.csv", "pii.svg"}
    assert expected <= names
    loaded = json.loads((tmp_path / "audit.json").read_text(encoding="utf-8"), parse_constant=_no_nan)
    assert loaded["schema"] == "safetylens.audit/1" and loaded["digest"] == record["digest"]
    for key in (
        "settings",
        "open_choices",
        "inputs",
        "corpus",
        "pii",
        "pronouns",
        "identity",
        "language",
        "reference",
        "run",
    ):
        assert key in loaded, key
    assert loaded["toxicity"] is None and loaded["redaction"] is None
    assert load_audit(tmp_path).digest == record["digest"]
    (tmp_path / "other.json").write_text('{"schema": "x"}', encoding="utf-8")
    with pytest.raises(DataError, match="not a safetylens audit record"):
        load_audit(tmp_path / "other.json")


def _no_nan(name: str) -> None:
    raise AssertionError(f"non-standard JSON constant {name}")


def test_tables_have_the_paper_layout_and_numbers(record: dict, tmp_path: Path) -> None:
    md = tables_markdown(record)
    assert "| Gender pronouns | % Doc | Paper | Grammatical person | % Doc | Paper |" in md
    assert "| She (she, her, hers, herself) |" in md and "| 28.45 |" in md
    assert "Gender and Sex (" in md and "Paper (Table 9b):" in md and "| female | 50.0 |" in md
    assert "### Table 10" in md and "| en |" in md and "| 89.70 |" in md
    write_outputs(record, tmp_path)
    import csv

    with open(tmp_path / "table9a_pronouns.csv", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["row", "label", "percent", "ci_low", "ci_high", "n", "paper"] and rows[1][0] == "she"
    she = record["pronouns"]["rows"]["she"]["documents"]
    assert float(rows[1][2]) == pytest.approx(she["value"], abs=1e-6) and float(rows[1][6]) == 28.45


def test_svgs_are_well_formed_and_html_is_escaped_and_self_contained(record: dict, tmp_path: Path) -> None:
    write_outputs(record, tmp_path)
    for svg in tmp_path.glob("*.svg"):
        root = ET.fromstring(svg.read_text(encoding="utf-8"))
        assert root.tag.endswith("svg")
    page = render_html(record)
    assert HOSTILE not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "") and "https://" not in page


def test_cli_audit_end_to_end(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "c.jsonl", ({"text": t, "id": i} for i, t in enumerate(make_docs(300))))
    out, red = tmp_path / "audit", tmp_path / "red"
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "audit",
            str(path),
            "--out",
            str(out),
            "--sample",
            "0.5",
            "--seed",
            "4",
            "--redact",
            str(red),
            "--workers",
            "1",
            "--identity-axes",
            "all",
            "--id-field",
            "id",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "personal information" in result.output and "pronouns" in result.output
    rec = load_audit(out)
    assert rec.settings.sample == 0.5 and rec.settings.seed == 4 and rec.settings.id_field == "id"
    assert rec.identity is not None and len(rec.identity.axes) == 13
    assert (red / "c.jsonl").is_file() and rec.redaction is not None and rec.redaction.documents == 300


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sample", "2"], "--sample must be in"),
        (["--skip", "pronounz"], "unknown analyses"),
        (["--on-error", "ignore"], "--on-error"),
        (["--engine", "spark"], "--engine"),
        (["--holistic-version", "v9"], "unknown HolisticBias version"),
        (["--classifier", "probe:/no/such/probe.json"], "probe file not found"),
    ],
)
def test_cli_user_errors_exit_2_with_a_message(
    tmp_path: Path, args: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from safetylens.cli import main

    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "hello"}])
    monkeypatch.setattr("sys.argv", ["safetylens", "audit", str(path), "--out", str(tmp_path / "o"), *args])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_cli_missing_corpus(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o")])
    assert result.exit_code != 0
    assert isinstance(result.exception, DataError) and "not found" in result.exception.message


def test_empty_corpus_gives_empty_estimates_not_errors(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("", encoding="utf-8")
    rec = build_record(run_audit([tmp_path / "e.jsonl"], AuditSettings(), workers=1))
    assert rec["corpus"]["documents"] == 0 and rec["pronouns"]["rows"]["she"]["documents"] is None
    write_outputs(rec, tmp_path / "out")
    json.loads((tmp_path / "out" / "audit.json").read_text(encoding="utf-8"), parse_constant=_no_nan)
    assert "n/a" in (tmp_path / "out" / "tables.md").read_text(encoding="utf-8")
