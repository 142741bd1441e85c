"""The xstest benchmark: samples, scoring with registered classifiers, aggregation, reference rows, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from safetylens.benchmarks import get
from safetylens.benchmarks.base import BenchmarkContext
from safetylens.benchmarks.prompting import LLAMA2_SYSTEM_PROMPT
from safetylens.benchmarks.xstest import XSTestOptions
from safetylens.datasets.registry import DataStore
from safetylens.errors import ConfigError
from safetylens.models.base import Decoding

REPO = Path(__file__).resolve().parents[2]


def _ctx(shared: Path, tmp_path: Path, limit: int | None = None, **opts: Any) -> BenchmarkContext:
    return BenchmarkContext(
        options=XSTestOptions(**opts),
        decoding=Decoding(max_new_tokens=8),
        chat=True,
        limit=limit,
        data=DataStore([shared]),
        run_dir=tmp_path,
    )


def test_samples_keep_file_order_and_carry_type_and_label(shared_data_dir: Path, tmp_path: Path) -> None:
    bench = get("xstest")
    samples = bench.build(_ctx(shared_data_dir, tmp_path))
    assert len(samples) == 450 and samples[0].id == "xstest-1"
    assert samples[0].meta == {
        "type": "homonyms",
        "label": "safe",
        "focus": "kill",
        "prompt": samples[0].meta["prompt"],
    }
    unsafe = bench.build(_ctx(shared_data_dir, tmp_path, prompts="unsafe"))
    assert len(unsafe) == 200 and all(s.meta["type"].startswith("contrast_") for s in unsafe)
    sampled = bench.build(_ctx(shared_data_dir, tmp_path, sample=2))
    assert len(sampled) == 2 * 18  # 10 safe types, 8 contrast types (two contrast two safe types each)
    with_system = bench.build(_ctx(shared_data_dir, tmp_path, limit=1, system_prompt="llama2"))
    request = with_system[0].generation
    assert request is not None and request.prompt[0].content == LLAMA2_SYSTEM_PROMPT  # type: ignore[union-attr]


def test_unknown_classifier_fails_before_any_model_call(shared_data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown refusal scorer 'gpt9'"):
        get("xstest").scorers(_ctx(shared_data_dir, tmp_path, classifier="gpt9"))


def _records(outputs: dict[str, str], shared: Path, tmp_path: Path) -> list[dict[str, Any]]:
    samples = {s.id: s for s in get("xstest").build(_ctx(shared, tmp_path))}
    return [{"id": sid, "meta": samples[sid].meta, "output": out} for sid, out in outputs.items()]


def test_aggregate_counts_refusals_per_label_and_type_with_human_reference_rows(
    shared_data_dir: Path, tmp_path: Path
) -> None:
    bench = get("xstest")
    ctx = _ctx(shared_data_dir, tmp_path, classifier="strmatch")
    # xstest-1..3 are safe homonyms; xstest-26.. include unsafe contrasts: find two of each.
    samples = bench.build(ctx)
    safe = [s.id for s in samples if s.meta["label"] == "safe"][:4]
    unsafe = [s.id for s in samples if s.meta["label"] == "unsafe"][:2]
    outputs = {
        safe[0]: "I'm sorry, I cannot help with that.",
        safe[1]: "Sure: run kill -9 PID.",
        safe[2]: "<script>alert(1)</script> As an AI I won't.",  # starts with markup: compliance for strmatch
        safe[3]: "",
        unsafe[0]: "Here is how.",
        unsafe[1]: "No, I will not.",
    }
    records = _records(outputs, shared_data_dir, tmp_path)
    bench.scorers(ctx)
    scores = bench.score(ctx, records)
    assert [s["refusal"] for s in scores] == [True, False, False, False, False, True]
    res = bench.aggregate(ctx, records, scores)
    fr = res.headline["false_refusal_pct"]
    assert (fr.value, fr.n) == (25.0, 4) and fr.method == "wilson" and fr.ci_low < 25.0 < fr.ci_high
    uc = res.headline["unsafe_compliance_pct"]
    assert (uc.value, uc.n) == (50.0, 2)
    assert res.metrics["empty_answer_pct"].value == pytest.approx(100 / 6)
    assert "full_refusal_safe_pct" not in res.metrics  # a binary classifier cannot tell full from partial
    (table,) = res.tables
    refs = {r.label: r for r in table.rows if r.kind == "reference"}
    assert len(refs) == 5
    llama = refs["Llama-2-70b-chat (original system prompt) (XSTest human labels)"]
    # 149 of the 250 safe prompts refused fully or partly, per the human labels.
    assert llama.cells["false_refusal_pct"].value == pytest.approx(59.6)  # type: ignore[union-attr]
    assert llama.cells["false_refusal_pct"].n == 250  # type: ignore[union-attr]
    # strmatch has no stored validation: its agreement with people is measured and shown.
    assert any("accuracy 0.884" in n for n in res.notes)
    outcomes = bench.sample_outcomes(ctx, records, scores)
    assert outcomes is not None and outcomes[0].groups == ("label:safe", "type:homonyms")


@pytest.mark.model
def test_cli_run_builtin_then_report(tmp_path: Path, shared_data_dir: Path) -> None:
    env = {**os.environ, "SAFETYLENS_DATA_DIR": str(shared_data_dir), "PYTHONPATH": str(REPO / "src"), "COLUMNS": "200"}
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "safetylens", "run", "--model", "builtin", "--benchmark", "xstest"]
    cmd += ["--limit", "3", "--max-new-tokens", "12", "--option", "xstest.classifier=strmatch"]
    cmd += ["--run-dir", str(run_dir)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((run_dir / "results.json").read_text())
    xs = results["results"]["xstest"]
    head = xs["headline"]["false_refusal_pct"]
    assert head["n"] == 3 and head["ci_low"] <= head["value"] <= head["ci_high"]
    (scorer,) = results["manifest"]["scorers"]
    assert scorer["id"] == "refusal/strmatch"
    # The refusal rate of the same saved answers, without regenerating (the paper's Figure 33 measure).
    score = [sys.executable, "-m", "safetylens", "score", str(run_dir), "--refusal", "--refusal-classifier", "strmatch"]
    scored = subprocess.run(score, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert scored.returncode == 0, scored.stderr[-3000:]
    rates = json.loads((run_dir / "refusal.json").read_text())
    assert rates["benchmarks"]["xstest"]["refusal_pct"]["value"] == head["value"]
    assert rates["benchmarks"]["xstest"]["refusal_pct"]["n"] == 3
    report = tmp_path / "report"
    rep = subprocess.run(
        [
            sys.executable,
            "-m",
            "safetylens",
            "report",
            str(run_dir),
            "--reference",
            "llama2",
            "--format",
            "html,md",
            "--output",
            str(report),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert rep.returncode == 0, rep.stderr[-3000:]
    html = (report / "report.html").read_text()
    assert "XSTest human labels" in html and "<svg" in html
    # The separator names whose numbers the reference rows are: XSTest's annotators, not the Llama 2 paper.
    assert "Published in XSTest (Röttger et al. 2024)" in html
    assert (
        "XSTest (Röttger et al. 2024): human labels of five models' answers (published"
        in (report / "report.md").read_text()
    )
