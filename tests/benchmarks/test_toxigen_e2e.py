"""End to end with the real built-in model: `safetylens run --model builtin -b toxigen --classifier offline`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safetylens.datasets.registry import DataStore
from safetylens.scorers.embeddings import EmbeddingCache, SentenceEncoder
from safetylens.scorers.toxicity import train_offline

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.model
def test_cli_run_builtin_with_offline_classifier(tmp_path: Path, shared_data_dir: Path) -> None:
    env = {
        **os.environ,
        "SAFETYLENS_DATA_DIR": str(shared_data_dir),
        "PYTHONPATH": str(REPO / "src"),
        "COLUMNS": "200",
    }
    # A small offline probe in a file of its own (the real one is trained once by
    # `safetylens classifiers train offline`); the model's conversion cache is the usual one.
    probe = tmp_path / "probe.json"
    enc = EmbeddingCache(SentenceEncoder(threads=2, batch_size=32), tmp_path / "emb.sqlite")
    train_offline(DataStore(), max_per_file=10, validation_sample=3, encoder=enc, out_path=probe)
    cmd = [
        sys.executable,
        "-m",
        "safetylens",
        "run",
        "--model",
        "builtin",
        "--benchmark",
        "toxigen",
        "--sample",
        "1",
        "--classifier",
        "offline",
        "--option",
        f"toxigen.classifier_model={probe}",
        "--max-new-tokens",
        "12",
        "--output",
        str(tmp_path / "runs"),
    ]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    tox = results["results"]["toxigen"]
    assert set(tox["breakdowns"]["group"]) == {
        "asian",
        "mexican",
        "muslim",
        "physical_disability",
        "jewish",
        "middle_eastern",
        "chinese",
        "mental_disability",
        "latino",
        "native_american",
        "women",
        "black",
        "lgbtq",
    }
    head = tox["headline"]["toxic_pct"]
    assert head["ci_low"] <= head["value"] <= head["ci_high"] and head["n"] == tox["n_samples"]
    manifest = results["manifest"]
    (scorer,) = manifest["scorers"]
    assert scorer["id"] == "offline-toxicity" and scorer["validation"]["toxigen_human"]["overall"]["auc"] > 0.5
    assert scorer["details"]["training"]["sources"]["safenlp/implicitHate.json"]["sha256"]
    assert manifest["benchmarks"][0]["chat"] is True  # SmolLM2-Instruct has a chat template
    records = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert len(records) == tox["n_samples"] and all(isinstance(r["output"], str) for r in records)
    assert any("NOT the paper's classifier" in n for n in tox["notes"])
    assert "toxic_pct" in out.stdout and "asian" in out.stdout
