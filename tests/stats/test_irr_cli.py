"""``safetylens irr``: table and JSON output against published values, and error handling."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from irr_vectors import CUSTOM_WEIGHTS, RAW_4RATERS_CSV
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def dataset_a(tmp_path: Path) -> Path:
    p = tmp_path / "cac_raw4raters.csv"
    p.write_text(RAW_4RATERS_CSV)
    return p


def test_json_reproduces_irrcac(dataset_a: Path) -> None:
    result = runner.invoke(app, ["irr", str(dataset_a), "--json", "--categories", "1,2,3,4,5"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["n_subjects"] == 12 and payload["n_raters"] == 4 and payload["n_ratings"] == 41
    assert payload["categories"] == [1, 2, 3, 4, 5] and payload["weights"] == "identity"
    coef = payload["coefficients"]
    assert set(coef) == {
        "percent_agreement",
        "gwet",
        "fleiss",
        "krippendorff",
        "conger",
        "brennan_prediger",
        "krippendorff_ordinal",
    }
    for method in coef.values():
        assert {"coefficient", "pa", "pe", "se", "ci_low", "ci_high", "p_value"} <= set(method)
    # kgwet/irrCAC README values (human-eval.md §1.6).
    assert coef["gwet"]["coefficient"] == pytest.approx(0.77544, abs=5e-6)
    assert coef["gwet"]["se"] == pytest.approx(0.14295, abs=5e-6)
    assert coef["gwet"]["p_value"] == pytest.approx(0.0001043605, abs=5e-11)
    assert coef["gwet"]["ci_low"] == pytest.approx(0.461, abs=5e-4)
    assert coef["gwet"]["ci_high"] == 1.0
    assert coef["fleiss"]["pe"] == pytest.approx(0.2387153, abs=5e-8)
    assert coef["krippendorff"]["ci_low"] == pytest.approx(0.423, abs=5e-4)
    assert coef["conger"]["coefficient"] == pytest.approx(0.76282, abs=5e-6)
    assert coef["brennan_prediger"]["se"] == pytest.approx(0.14472, abs=5e-6)
    assert coef["percent_agreement"]["p_value"] == pytest.approx(2.172686e-05, abs=5e-12)
    assert coef["krippendorff_ordinal"]["coefficient"] == pytest.approx(0.815, abs=5e-4)


def test_json_python_convention_and_weights(dataset_a: Path) -> None:
    result = runner.invoke(
        app, ["irr", str(dataset_a), "--json", "-w", "quadratic", "-c", "1,2,3,4,5", "--convention", "python"]
    )
    assert result.exit_code == 0, result.output
    coef = json.loads(result.output)["coefficients"]
    assert coef["gwet"]["name"] == "Gwet's AC2" and coef["gwet"]["weights"] == "quadratic"
    assert coef["gwet"]["coefficient"] == pytest.approx(0.914, abs=5e-4)
    assert round(coef["gwet"]["p_value"], 6) == pytest.approx(3e-6)
    assert coef["krippendorff"]["ci_low"] == pytest.approx(0.561, abs=5e-4)
    assert coef["krippendorff"]["df"] == 10


def test_table_output(dataset_a: Path) -> None:
    result = runner.invoke(app, ["irr", str(dataset_a), "--weights", "quadratic", "--categories", "1,2,3,4,5"])
    assert result.exit_code == 0, result.output
    out = result.output
    flat = " ".join(out.split())  # the title may wrap on a narrow terminal
    assert "12 subjects, 4 raters, 41 ratings; weights quadratic; categories [1, 2, 3, 4, 5]" in flat
    for text in ("Gwet AC2", "0.9140", "0.1040", "0.685–1.000", "Fleiss", "0.8649", "Krippendorff", "0.8491"):
        assert text in out, text
    assert "one-sided" in out


def test_table_violation_flag_and_two_raters(tmp_path: Path) -> None:
    p = tmp_path / "two.csv"
    p.write_text("item,ann,bob\nq1,1,2\nq2,5,5\nq3,4,2\nq4,,3\nq5,3,3\nq6,1,1\n")
    result = runner.invoke(app, ["irr", str(p), "--categories", "1,2,3,4,5", "--violating", "1,2", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    coef = payload["coefficients"]
    assert {"cohen", "scott", "violation_ac1"} <= set(coef)
    assert coef["cohen"]["n_subjects"] == 5  # q4 has one rating
    # Violation flags on the 5 paired items: (1,1),(0,0),(0,1),(0,0),(1,1) plus q4 alone.
    assert coef["violation_ac1"]["pa"] == pytest.approx(4 / 5)
    table = runner.invoke(app, ["irr", str(p), "-c", "1,2,3,4,5", "--violating", "1,2"])
    assert "Cohen κ" in table.output and "Scott π" in table.output and "AC1 violation flag" in table.output


def test_text_labels_and_nan_as_null(tmp_path: Path) -> None:
    p = tmp_path / "labels.csv"
    p.write_text("id,r1,r2,r3\n1,safe,safe,safe\n2,safe,safe,\n3,safe,safe,safe\n")
    result = runner.invoke(app, ["irr", str(p), "--json", "--categories", "unsafe,safe"])
    assert result.exit_code == 0, result.output
    coef = json.loads(result.output)["coefficients"]
    assert coef["gwet"]["coefficient"] == 1.0
    assert coef["fleiss"]["coefficient"] is None  # undefined: every rating in one category
    assert "undefined" in coef["fleiss"]["note"]


def test_errors_in_process(tmp_path: Path, dataset_a: Path) -> None:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("id,a,b\n1,1,2\n2,1\n")
    result = runner.invoke(app, ["irr", str(ragged)])
    assert isinstance(result.exception, DataError) and "line 3" in str(result.exception)
    result = runner.invoke(app, ["irr", str(dataset_a), "--weights", "cubic"])
    assert isinstance(result.exception, ConfigError)
    result = runner.invoke(app, ["irr", str(dataset_a), "--categories", "1,2,3"])
    assert isinstance(result.exception, DataError) and "outside the declared categories" in str(result.exception)
    labels = tmp_path / "labels.csv"
    labels.write_text("id,r1,r2\n1,low,high\n2,high,high\n")
    result = runner.invoke(app, ["irr", str(labels), "--weights", "linear"])
    assert isinstance(result.exception, ConfigError) and "ordered categories" in str(result.exception)
    result = runner.invoke(app, ["irr", str(labels), "--categories", "1,2"])
    assert isinstance(result.exception, DataError) and "not a number" in str(result.exception)


def test_help_and_exit_code_via_console_script(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "COLUMNS": "120"}
    helped = subprocess.run(
        [sys.executable, "-m", "safetylens", "irr", "--help"], capture_output=True, text=True, env=env, timeout=120
    )
    assert helped.returncode == 0
    for text in ("--weights", "--categories", "--json", "unit, subject, item or id", "quadratic"):
        assert text in helped.stdout, text
    bad = tmp_path / "bad.csv"
    bad.write_text("id,only\n1,2\n")
    failed = subprocess.run(
        [sys.executable, "-m", "safetylens", "irr", str(bad)], capture_output=True, text=True, env=env, timeout=120
    )
    assert failed.returncode == 2
    assert "error:" in failed.stderr and "1 rater column" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_json_is_strict(dataset_a: Path) -> None:
    result = runner.invoke(app, ["irr", str(dataset_a), "--json", "--krippendorff-level", "none"])
    payload = json.loads(result.output, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert "krippendorff_ordinal" not in payload["coefficients"]
    assert all(
        v is None or (isinstance(v, (int, float)) and math.isfinite(v))
        for m in payload["coefficients"].values()
        for k, v in m.items()
        if k not in ("name", "weights", "note")
    )


def test_weights_file(tmp_path: Path, dataset_a: Path) -> None:
    wfile = tmp_path / "w.csv"
    wfile.write_text("\n".join(",".join(str(x) for x in row) for row in CUSTOM_WEIGHTS) + "\n")
    args = ["irr", str(dataset_a), "--weights-file", str(wfile), "-c", "1,2,3,4,5", "--json", "--convention", "python"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    gwet = json.loads(result.output)["coefficients"]["gwet"]
    # afergadis/irrCAC tests, custom matrix: AC2 .783, se .138, CI (.479, 1).
    assert gwet["weights"] == "custom"
    assert (round(gwet["coefficient"], 3), round(gwet["se"], 3), round(gwet["ci_low"], 3)) == (0.783, 0.138, 0.479)


@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [("--convention", "spss", "'r', 'python'"), ("--krippendorff-level", "cubic", "'interval', 'ratio', 'none'")],
)
def test_unknown_choices_are_usage_errors_that_list_the_choices(
    dataset_a: Path, option: str, value: str, choices: str
) -> None:
    result = runner.invoke(app, ["irr", str(dataset_a), option, value])
    assert result.exit_code == 2
    flat = " ".join(result.output.replace("│", " ").split())  # the error box may wrap the message
    assert f"'{value}' is not one of" in flat and choices in flat


def test_choices_ignore_case(dataset_a: Path) -> None:
    args = ["irr", str(dataset_a), "--json", "-c", "1,2,3,4,5"]
    upper = runner.invoke(app, [*args, "--convention", "PYTHON", "--krippendorff-level", "Interval"])
    lower = runner.invoke(app, [*args, "--convention", "python", "--krippendorff-level", "interval"])
    assert upper.exit_code == 0, upper.output
    assert json.loads(upper.output) == json.loads(lower.output)
    assert "krippendorff_interval" in json.loads(upper.output)["coefficients"]
