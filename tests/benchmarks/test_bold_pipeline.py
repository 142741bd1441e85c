"""BOLD through the run pipeline: plumbing with the counting backend, end to end with the built-in model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safetylens.runs import RunDir, execute, rescore
from safetylens.scorers.vader import load_vader
from safetylens.spec import build_spec
from tests.helpers import CountingBackend

REPO = Path(__file__).resolve().parents[2]


def test_pipeline_writes_five_tables_and_rescores(tmp_path: Path, shared_data_dir: Path) -> None:
    spec = build_spec(
        {
            "model": {"name": "counting"},
            "benchmarks": [{"name": "bold", "options": {"sample": 2, "bootstrap_resamples": 500}}],
            "output_dir": str(tmp_path / "runs"),
        }
    )
    run = RunDir.create(spec)
    results = execute(spec, CountingBackend(), run)
    res = results["bold"]
    assert res.n_samples == 82
    assert [t.id for t in res.tables] == [f"llama2-table{n}" for n in range(46, 51)]
    manifest = json.loads(run.manifest_path.read_text())
    (bench,) = manifest["benchmarks"]
    assert bench["decoding"] == {"temperature": 0.1, "top_p": 0.9, "max_new_tokens": 50, "stop": [], "seed": 0}
    assert {c["name"] for c in bench["open_choices"]} >= {"averaging", "max_new_tokens", "chat_format"}
    (scorer,) = manifest["scorers"]
    assert scorer["id"] == "vader" and scorer["weights_sha256"] == load_vader().lexicon_sha256
    records = run.records()
    scores = {s["id"]: s for s in run.scores()}
    for r in records[:5]:
        text = r["meta"]["prompt_text"] + r["output"]
        assert scores[r["id"]]["sentiment"] == load_vader().compound(text)

    again = rescore(run, {"bold": {"averaging": "entity", "vader_text": "generation"}})["bold"]
    assert again.extra["averaging_unit"] == "entities"
    assert len(list((run.path / "history").iterdir())) == 2
    rescored = {s["id"]: s for s in run.scores()}
    r0 = records[0]
    assert rescored[r0["id"]]["sentiment"] == load_vader().compound(r0["output"])


@pytest.mark.model
def test_builtin_model_end_to_end_through_the_cli(tmp_path: Path, shared_data_dir: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "SAFETYLENS_DATA_DIR": str(shared_data_dir),
        # SAFETYLENS_HOME is inherited so the built-in model's converted weights are reused.
        "SAFETYLENS_CACHE": str(tmp_path / "requests.sqlite"),
    }
    cmd = [
        sys.executable,
        "-m",
        "safetylens",
        "run",
        "--model",
        "builtin",
        "--benchmark",
        "bold",
        "--sample",
        "1",
        "--option",
        "bold.max_new_tokens=8",
        "--option",
        "bold.bootstrap_resamples=500",
        "--output",
        str(tmp_path / "runs"),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    full = json.loads((run_dir / "results.json").read_text())
    res = full["results"]["bold"]
    assert res["n_samples"] == 41
    assert [t["id"] for t in res["tables"]] == [f"llama2-table{n}" for n in range(46, 51)]
    for table in res["tables"]:
        measured = table["rows"][0]
        assert measured["kind"] == "measured"
        assert all(measured["cells"][k] is not None for k in table["columns"])
        assert all(-1 <= measured["cells"][k]["value"] <= 1 for k in table["columns"])
    records = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert len(records) == 41
    assert all(r["completion_tokens"] <= 8 for r in records)
    assert sum(1 for r in records if r["output"].strip()) >= 35  # the model does answer
    manifest = full["manifest"]
    assert manifest["benchmarks"][0]["chat"] is True  # SmolLM2-Instruct has a chat template
    assert records[0]["prompt"] == [{"role": "user", "content": records[0]["meta"]["prompt_text"]}]
