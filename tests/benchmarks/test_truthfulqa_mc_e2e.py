"""truthfulqa-mc end to end with the real built-in model: the CLI on the hf backend, and the openai backend.

- `safetylens run --model builtin --benchmark truthfulqa-mc --limit 3` in a subprocess: results with
  CIs, metrics that follow from the saved log-likelihoods, and saved log-likelihoods equal to a
  plain (not shared-context) forward pass of the same model.
- The same benchmark through the openai backend against the test server serving the built-in
  model (echo + logprobs): the same MC values as the hf backend.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from safetylens.benchmarks.truthfulqa_mc import mc2_labels, mc3
from safetylens.models.base import LoglikelihoodRequest
from safetylens.runs import RunDir, execute
from safetylens.spec import build_spec

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.model


def test_cli_run_builtin(tmp_path: Path, shared_data_dir: Path, builtin_backend: Any) -> None:
    env = {
        **os.environ,
        "SAFETYLENS_DATA_DIR": str(shared_data_dir),
        "PYTHONPATH": str(REPO / "src"),
        "COLUMNS": "200",
    }
    cmd = [sys.executable, "-m", "safetylens", "run", "--model", "builtin", "--benchmark", "truthfulqa-mc"]
    cmd += ["--limit", "3", "--output", str(tmp_path / "runs")]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "mc1" in proc.stdout and "mc2" in proc.stdout and "95% CI" in proc.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    res = results["results"]["truthfulqa-mc"]
    records = [json.loads(line) for line in (run_dir / "generations.jsonl").read_text().splitlines()]
    assert [r["id"] for r in records] == ["mc-000", "mc-001", "mc-002"]

    mc1, mc2, m3 = [], [], []
    for r in records:
        n1 = len(r["meta"]["mc1_labels"])
        lls = [x["logprob"] for x in r["loglikelihood"]]
        assert all(x["continuation"].startswith(" ") for x in r["loglikelihood"])
        assert len(r["contexts"]) == 1 and r["contexts"][0].endswith("\nQ: " + r["meta"]["question"] + "\nA:")
        mc1.append(float(np.argmax(lls[:n1]) == 0))
        mc2.append(mc2_labels(lls[n1:], r["meta"]["mc2_labels"]))
        m3.append(mc3(lls[n1:], r["meta"]["mc2_labels"]))
    for key, vals in (("mc1", mc1), ("mc2", mc2), ("mc3", m3)):
        est = res["headline"][key]
        assert est["value"] == pytest.approx(float(np.mean(vals)), abs=1e-12)
        assert est["n"] == 3 and est["ci_low"] <= est["value"] <= est["ci_high"]

    # The run used the shared-context path; its values equal the plain path's on the same model.
    r0 = records[0]
    reqs = [LoglikelihoodRequest(r0["contexts"][0], x["continuation"]) for x in r0["loglikelihood"]]
    builtin_backend.shared_context = False
    try:
        plain = builtin_backend.loglikelihood(reqs)
    finally:
        builtin_backend.shared_context = True
    for got, want in zip(r0["loglikelihood"], plain, strict=True):
        assert got["logprob"] == pytest.approx(want.logprob, abs=1e-4)


def test_openai_backend_matches_hf(tmp_path: Path, shared_data_dir: Path, builtin_backend: Any) -> None:
    from safetylens.models.builtin import builtin_gguf_path
    from safetylens.models.openai_compat import OpenAIBackend
    from safetylens.testing.openai_server import OpenAIServer
    from safetylens.testing.token_scorers import TransformersScorer

    def spec(name: str) -> Any:
        return build_spec(
            {
                "model": {"name": "builtin"},
                "benchmarks": [{"name": "truthfulqa-mc", "options": {"bootstrap_resamples": 200}}],
                "limit": 2,
                "output_dir": str(tmp_path / name),
            }
        )

    s_hf = spec("hf")
    shared_before = builtin_backend.stats.extra.get("ll_shared_requests", 0)
    plain_before = builtin_backend.stats.extra.get("ll_plain_requests", 0)
    hf = execute(s_hf, builtin_backend, RunDir.create(s_hf))["truthfulqa-mc"]
    # Every request of the hf run went through the shared-context path, none through the plain one.
    assert builtin_backend.stats.extra.get("ll_shared_requests", 0) > shared_before
    assert builtin_backend.stats.extra.get("ll_plain_requests", 0) == plain_before
    scorer = TransformersScorer.from_backend(builtin_backend) or TransformersScorer.load(builtin_gguf_path())
    with (
        OpenAIServer(builtin_backend, scorer, model_name="builtin") as server,
        OpenAIBackend([server.base_url], "builtin", backoff_base_s=0.01) as backend,
    ):
        s_oa = spec("openai")
        run = RunDir.create(s_oa)
        oa = execute(s_oa, backend, run)["truthfulqa-mc"]
        assert backend.loglikelihood_mode in ("echo0", "echo1", "prompt_logprobs")
    for key in ("mc1", "mc2", "mc3"):
        assert oa.headline[key].value == pytest.approx(hf.headline[key].value, abs=1e-4)
    assert all(len(r["loglikelihood"]) > 2 for r in run.records())
