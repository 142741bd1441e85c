"""A harm judge on every answer and people on a sample: the sample, the agreement, the combined rate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from safetylens.cli import app
from safetylens.errors import DataError
from safetylens.judge_people import combine, draw_sample, rating_agreement, violation_confusion, violation_rates
from safetylens.runs import RunDir

N = 600


def _run(tmp_path: Path, seed: int = 0) -> tuple[RunDir, dict[str, int]]:
    """A safety run's files: N answers, a judge that over-flags, and the human truth for each answer."""
    rng = np.random.default_rng(seed)
    truth = rng.random(N) < 0.15
    # The judge sees the truth through noise and over-flags: biased, but informative.
    p = np.clip(0.5 * truth + 0.35 + rng.normal(0, 0.15, N), 0.01, 0.99)
    path = tmp_path / "run"
    path.mkdir()
    (path / "manifest.json").write_text(json.dumps({"model": {"model": "test-model"}}))
    gens, scores, human = [], [], {}
    for i in range(N):
        sid = f"sst-{i}"
        gens.append({"benchmark": "safety", "id": sid, "meta": {"prompt": "q"}, "prompt": "q", "output": f"a{i}"})
        rating = 1 if p[i] >= 0.5 else 4
        scores.append(
            {
                "id": sid,
                "benchmark": "safety",
                "violation": bool(p[i] >= 0.5),
                "p_violation": float(p[i]),
                "rating": rating,
                "parsed": True,
                "judge": "harm/test",
            }
        )
        human[sid] = int(truth[i])
    (path / "generations.jsonl").write_text("".join(json.dumps(g) + "\n" for g in gens))
    (path / "scores.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scores))
    return RunDir(path), human


def _results(ids: list[str], truth: dict[str, int]) -> dict[str, Any]:
    """What `safetylens human results --json` holds for a safety study that rated these answers."""
    items = []
    for k, sid in enumerate(ids):
        v = truth[sid]
        ratings = [1, 2, 2] if v else [4, 5, 4]
        items.append(
            {
                "item_id": k,
                "prompt_id": f"safety:{sid}",
                "ratings": ratings,
                "label": "violation" if v else "no violation",
                "source": "majority",
            }
        )
    items.append({"item_id": 99, "prompt_id": "other:x", "ratings": [1, 1, 1], "label": "violation"})
    return {"study": {"kind": "safety"}, "labels": items}


@pytest.mark.parametrize("weighted", [False, True])
def test_sample_then_combine_estimates_the_human_rate(tmp_path: Path, weighted: bool) -> None:
    run, truth = _run(tmp_path)
    design = draw_sample(run, 150, tmp_path / "sample", weighted=weighted, seed=3)
    drawn = design["drawn"]
    lines = (tmp_path / "sample" / "generations.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == drawn  # what `human import` reads
    assert (tmp_path / "sample" / "manifest.json").is_file()
    if not weighted:
        assert len(drawn) == 150 and set(design["inclusion"].values()) == {150 / N}
    assert len(design["inclusion"]) == N
    report = combine(run, _results(drawn, truth), design)
    true_rate = 100 * sum(truth.values()) / N
    est = report["all_answers"]["combined_violation_pct"]
    assert est["ci_low"] <= true_rate <= est["ci_high"]
    judge_only = report["all_answers"]["judge_only_violation_pct"]["value"]
    assert abs(judge_only - true_rate) > abs(est["value"] - true_rate)  # the people correct the judge's bias
    assert report["n_rated"] == len(drawn) and report["n_items"] == N
    c = report["agreement"]["violation_confusion"]
    assert sum(c.values()) == len(drawn)
    assert 0 < report["agreement"]["gwet_ac2_quadratic_judge_and_people"]["value"] <= 1


def test_cli_sample_and_combine(tmp_path: Path) -> None:
    run, truth = _run(tmp_path, seed=1)
    runner = CliRunner()
    out = runner.invoke(app, ["safety", "sample", str(run.path), "--n", "100", "--out", str(tmp_path / "s")])
    assert out.exit_code == 0, out.output
    sample = json.loads((tmp_path / "s" / "sample.json").read_text())
    (tmp_path / "study.json").write_text(json.dumps(_results(sample["drawn"], truth)))
    res = runner.invoke(
        app,
        [
            "safety",
            "combine",
            str(run.path),
            "--human",
            str(tmp_path / "study.json"),
            "--sample",
            str(tmp_path / "s" / "sample.json"),
            "--json",
            str(tmp_path / "out.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "judge + people" in res.output
    assert json.loads((tmp_path / "out.json").read_text())["n_rated"] == 100


def test_a_study_of_other_answers_is_refused(tmp_path: Path) -> None:
    run, _ = _run(tmp_path)
    with pytest.raises(DataError, match="no rated item of the study is an answer of this run"):
        combine(run, {"labels": [{"prompt_id": "safety:nope", "label": "violation", "ratings": [1]}]})


def test_results_without_labels_are_refused(tmp_path: Path) -> None:
    run, _ = _run(tmp_path)
    with pytest.raises(DataError, match="no per-item labels"):
        combine(run, {"items": []})


def test_the_sample_carries_its_scores_for_the_import(tmp_path: Path) -> None:
    run, _ = _run(tmp_path)
    design = draw_sample(run, 20, tmp_path / "s", seed=2)
    scores = [json.loads(x) for x in (tmp_path / "s" / "scores.jsonl").read_text().splitlines()]
    assert [s["id"] for s in scores] == design["drawn"]
    by_id = {s["id"]: s for s in run.scores()}
    assert all(s == {"benchmark": "safety", **by_id[s["id"]]} for s in scores)


def test_confusion_rates_and_agreement_by_hand() -> None:
    judge = [True, True, False, False, False, True]
    people = [True, False, True, False, False, True]
    assert violation_confusion(judge, people) == {
        "judge_violation_human_violation": 2,
        "judge_violation_human_safe": 1,
        "judge_safe_human_violation": 1,
        "judge_safe_human_safe": 2,
    }
    rates = violation_rates(judge, people)
    assert (rates["judge_violation_pct"].value, rates["people_violation_pct"].value) == (50.0, 50.0)
    assert rates["violation_accuracy"].value == pytest.approx(4 / 6) and rates["violation_accuracy"].unit == ""
    # Two raters, identity weights: pa = 2/3 agreeing pairs; pi = (1/2, 0, 0, 0, 1/2) over 1-5;
    # pe = sum(pi (1 - pi)) / (q - 1) = 0.5 / 4; AC1 = (pa - pe) / (1 - pe).
    res = rating_agreement([1, 5, 1], [[1], [5], [5]], "identity")
    pa, pe = 2 / 3, 0.5 / 4
    assert res.coefficient == pytest.approx((pa - pe) / (1 - pe))
    with pytest.raises(ValueError, match="2 judge flags against 1"):
        violation_confusion([True, False], [True])
