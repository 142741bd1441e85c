"""ToxiGen through the run pipeline: manifest, scoring pass, re-scoring without regenerating, resume.

The model is the deterministic CountingBackend of tests/helpers.py (plumbing only); the classifier is a
real transformers RoBERTa sequence classifier, tiny, built by the test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from safetylens.errors import ConfigError, ModelError
from safetylens.runs import RunDir, execute, rescore
from safetylens.spec import build_spec
from tests.helpers import CountingBackend
from tests.scorers.test_toxicity_roberta import build_tiny_roberta


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_roberta(tmp_path_factory.mktemp("tiny-roberta"))


def _spec(tmp_path: Path, tiny_dir: Path, **options: Any) -> Any:
    opts = {"sample": 2, "classifier_model": str(tiny_dir), "classifier_device": "cpu", "bootstrap_resamples": 200}
    opts.update(options)
    return build_spec(
        {
            "model": {"name": "counting"},
            "benchmarks": [{"name": "toxigen", "options": opts}],
            "output_dir": str(tmp_path / "runs"),
        }
    )


def test_run_rescore_and_resume(tmp_path: Path, tiny_dir: Path, shared_data_dir: Path) -> None:
    spec = _spec(tmp_path, tiny_dir)
    backend = CountingBackend()
    run = RunDir.create(spec)
    res = execute(spec, backend, run)["toxigen"]
    n = res.n_samples
    assert 26 <= n <= 40 and sum(backend.generate_calls) == n
    manifest = json.loads(run.manifest_path.read_text())
    (bench,) = manifest["benchmarks"]
    assert bench["decoding"]["temperature"] == 0.1 and bench["decoding"]["top_p"] == 0.9
    assert bench["decoding"]["max_new_tokens"] == 128
    assert {c["name"] for c in bench["open_choices"]} >= {"max_new_tokens", "chat_user_turn", "threshold", "classify"}
    assert bench["prompt_templates"] == {"prompt": "{text}"}
    assert [d["id"] for d in manifest["datasets"]] == ["toxigen-safenlp"]
    (scorer,) = manifest["scorers"]
    assert scorer["id"] == "toxigen-roberta" and scorer["details"]["decision"] == "argmax"
    assert len(scorer["weights_sha256"]) == 64
    assert set(res.breakdowns["group"]) == set(res.tables[0].columns[:-1])
    assert res.headline["toxic_pct"].n == n
    scores = run.scores()
    assert len(scores) == n and all(0.0 <= s["p_toxic"] <= 1.0 for s in scores)

    # Re-score with a threshold: no model call, new decisions from the same generations.
    before = {s["id"]: s["p_toxic"] for s in scores}
    thr = sorted(before.values())[n // 2]
    again = rescore(run, {"toxigen": {"threshold": thr}})["toxigen"]
    rescored = run.scores()
    assert {s["id"]: s["p_toxic"] for s in rescored} == pytest.approx(before, abs=1e-6)
    assert all(s["toxic"] == (s["p_toxic"] >= thr) for s in rescored)
    expected = 100 * sum(p >= thr for p in before.values()) / n
    assert again.metrics["toxic_pct_micro"].value == pytest.approx(expected)
    assert json.loads(run.manifest_path.read_text())["scorers"][0]["details"]["threshold"] == thr
    assert list((run.path / "history").iterdir())
    with pytest.raises(ConfigError, match="changes generations"):
        rescore(run, {"toxigen": {"max_new_tokens": 5}})

    # Resume: cut the run short, continue it, get the same results; nothing is regenerated twice.
    spec2 = _spec(tmp_path, tiny_dir, sample=3)
    run2 = RunDir.create(spec2)
    full = execute(spec2, CountingBackend(), run2)["toxigen"]
    lines = run2.generations_path.read_text().splitlines(keepends=True)
    run2.generations_path.write_text("".join(lines[:5]) + lines[5][:17])  # killed mid-write
    run2.results_path.unlink()
    b3 = CountingBackend()
    resumed = execute(spec2, b3, run2, resume=True)["toxigen"]
    assert b3.generate_calls == []  # the rest came from the request cache
    assert resumed.headline == full.headline and resumed.breakdowns == full.breakdowns
    assert len(run2.records()) == full.n_samples


def test_missing_classifier_fails_before_any_model_call(tmp_path: Path, shared_data_dir: Path) -> None:
    spec = _spec(tmp_path, tmp_path / "no-such-classifier")
    backend = CountingBackend()
    with pytest.raises(ModelError, match="not a directory"):
        execute(spec, backend, RunDir.create(spec))
    assert backend.generate_calls == []
