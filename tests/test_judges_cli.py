"""``safetylens judges list | train | check`` on a small subset of the TruthfulQA human labels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import ConfigError, ModelError


@pytest.mark.usefixtures("no_shipped_offline_scorers")
def test_judges_list_train_check(tmp_path: Path, shared_data_dir: Path) -> None:
    runner = CliRunner()
    env = {"SAFETYLENS_HOME": str(tmp_path), "SAFETYLENS_DATA_DIR": str(shared_data_dir), "COLUMNS": "250"}

    res = runner.invoke(app, ["judges", "list"], env=env)
    assert res.exit_code == 0, res.output
    assert "offline" in res.output and "not ready" in res.output and "safetylens judges train" in res.output

    res = runner.invoke(
        app, ["judges", "train", "--aspect", "truth", "--max-questions", "8", "--val-fraction", "0.25"], env=env
    )
    assert res.exit_code == 0, res.output
    assert "offline-truth-judge" in res.output and "Validation on held-out questions" in res.output
    path = tmp_path / "artifacts" / "judges" / "offline-truth-judge.json"
    stored = json.loads(path.read_text(encoding="utf-8"))
    assert stored["training"]["n_questions_used"] == 8 and stored["training"]["n_validation_questions"] == 2

    res = runner.invoke(app, ["judges", "list"], env=env)
    assert res.exit_code == 0, res.output
    assert "ready" in res.output and "accuracy" in res.output

    mtime = path.stat().st_mtime_ns
    res = runner.invoke(app, ["judges", "train", "--aspect", "truth", "--if-missing"], env=env)
    assert res.exit_code == 0, res.output
    assert "not retraining" in res.output and path.stat().st_mtime_ns == mtime

    res = runner.invoke(app, ["judges", "check", "offline", "--aspect", "truth", "--json"], env=env)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)["truth"]
    assert out["judge"]["id"] == "offline-truth-judge"
    assert out["accuracy"]["n"] == stored["training"]["n_validation"] and out["n_questions"] == 2
    assert out["accuracy"]["value"] == stored["validation"]["with_refs"]["accuracy"]["value"]

    res = runner.invoke(app, ["judges", "check", "offline", "--aspect", "truth"], env=env)
    assert res.exit_code == 0, res.output
    assert "Agreement with the TruthfulQA human labels" in res.output and "held-out questions" in res.output

    # The info judge was not trained: a clear error naming the command that trains it.
    res = runner.invoke(app, ["judges", "check", "offline", "--aspect", "info"], env=env)
    assert isinstance(res.exception, ModelError) and "safetylens judges train" in str(res.exception)
    res = runner.invoke(app, ["judges", "train", "hf-judge"], env=env)
    assert isinstance(res.exception, ConfigError) and "not trained by safetylens" in str(res.exception)
    res = runner.invoke(app, ["judges", "check", "hf-judge", "--aspect", "truth"], env=env)
    assert isinstance(res.exception, ConfigError) and "needs a judge model location" in str(res.exception)
    res = runner.invoke(app, ["judges", "check", "offline", "--aspect", "neither"], env=env)
    assert isinstance(res.exception, ConfigError)

    # `scorers` is the one group: it runs the same train and check, with the judges' options as --option.
    other = tmp_path / "via-scorers"
    options = ["-o", "aspect=truth", "-o", "max_questions=8", "-o", "val_fraction=0.25"]
    res = runner.invoke(app, ["scorers", "train", "truthfulqa-judge", *options, "--output", str(other)], env=env)
    assert res.exit_code == 0, res.output
    again = json.loads((other / "offline-truth-judge.json").read_text(encoding="utf-8"))
    assert again["weights_sha256"] == stored["weights_sha256"], "same recipe and data, same weights"
    res = runner.invoke(app, ["scorers", "check", "truthfulqa-judge", "-o", "aspect=truth", "--json"], env=env)
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["truth"]["accuracy"] == out["accuracy"]
    res = runner.invoke(app, ["scorers", "train", "truthfulqa-judge", "-o", "epochs=3"], env=env)
    assert isinstance(res.exception, ConfigError) and "takes no option 'epochs'" in str(res.exception)
    res = runner.invoke(app, ["scorers", "check", "refusal"], env=env)
    assert isinstance(res.exception, ConfigError) and "--data" in str(res.exception)
