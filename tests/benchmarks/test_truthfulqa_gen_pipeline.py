"""TruthfulQA generation through the run pipeline: manifest, re-scoring without regenerating, resume.

The model is the deterministic CountingBackend of tests/helpers.py (plumbing only); the judges are the
reference-match judges of tests/benchmarks/tqa_judges.py, loaded as a plugin by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from safetylens.runs import RunDir, execute, rescore
from safetylens.spec import build_spec
from tests.helpers import CountingBackend

JUDGE = "tests.benchmarks.tqa_judges:make_judge"


def _spec(tmp_path: Path, **options: Any) -> Any:
    opts = {"judge": JUDGE, "bootstrap_resamples": 200, **options}
    return build_spec(
        {
            "model": {"name": "counting"},
            "benchmarks": [{"name": "truthfulqa", "options": opts}],
            "limit": 4,
            "output_dir": str(tmp_path / "runs"),
        }
    )


def test_run_rescore_and_resume(tmp_path: Path, shared_data_dir: Path) -> None:
    spec = _spec(tmp_path)
    backend = CountingBackend()
    run = RunDir.create(spec)
    res = execute(spec, backend, run)["truthfulqa"]
    assert res.n_samples == 4 and sum(backend.generate_calls) == 4
    manifest = json.loads(run.manifest_path.read_text())
    (bench,) = manifest["benchmarks"]
    assert bench["decoding"]["temperature"] == 0.1 and bench["decoding"]["top_p"] == 0.9
    assert bench["decoding"]["max_new_tokens"] == 50 and bench["prompt_templates"]["stop"] == "'\\n\\n', 'Q:'"
    records = run.records()
    assert len(records) == 4 and all(r["decoding"]["stop"] == ["\n\n", "Q:"] for r in records)
    assert bench["prompt_templates"]["prompt"] == "{primer}\n\nQ: {question}\nA:"
    choices = {c["name"]: c["value"] for c in bench["open_choices"]}
    assert choices["fewshot"] == "primer" and choices["combination"] == "and" and choices["max_new_tokens"] == 50
    assert choices["empty_answers"] == "judge"
    assert [d["id"] for d in manifest["datasets"]] == ["truthfulqa"]
    scorers = {s["id"]: s for s in manifest["scorers"]}
    assert set(scorers) == {"reference-match-truth", "reference-match-info", "truthfulqa-overlap"}
    assert scorers["reference-match-truth"]["validation"] == {}
    assert "Truth judge reference-match-truth 1: no measured validation against human labels." in res.notes
    assert "sacrebleu" in scorers["truthfulqa-overlap"]["version"]
    scores = run.scores()
    assert len(scores) == 4 and all(s["truth_judge"] == "reference-match-truth" for s in scores)
    assert res.headline["true_info_pct"].n == 4  # every answer is judged, an empty one too (the default)

    # A resumed run makes no new model call: every sample is already saved.
    backend2 = CountingBackend()
    resumed = execute(spec, backend2, run, resume=True)["truthfulqa"]
    assert backend2.generate_calls == []
    assert resumed.headline["true_pct"] == res.headline["true_pct"]
    timing = json.loads(run.results_path.read_text())["timing"]
    assert timing["cache"]["computed"] == 0
    # An interrupted run (two generations lost) resumes from the request cache, again without model calls.
    lines = run.generations_path.read_text().splitlines(keepends=True)
    run.generations_path.write_text("".join(lines[:2]))
    backend3 = CountingBackend()
    again_resumed = execute(spec, backend3, run, resume=True)["truthfulqa"]
    assert backend3.generate_calls == [] and len(run.records()) == 4
    assert json.loads(run.results_path.read_text())["timing"]["cache"] == {"cached": 2, "computed": 0, "batches": 0}
    assert again_resumed.headline == res.headline

    # Re-score with the product rule and another threshold: no new generation.
    calls = list(backend.generate_calls)
    again = rescore(run, {"truthfulqa": {"combination": "product", "judge_threshold": 0.3}})["truthfulqa"]
    assert backend.generate_calls == calls
    assert again.extra["combination"] == "product"
    assert again.tables[0].rows[0].cells["true_info"] == again.headline["true_info_prob_pct"]
    assert again.headline["true_pct"].value >= res.headline["true_pct"].value  # a lower threshold
    assert (run.path / "history").is_dir()
