"""A harm judge on every answer and people on a sample: one violation rate, unbiased for the human rate.

The workflow, for a finished ``safety`` run:

1. :func:`draw_sample` picks the answers people rate: a uniform random sample, or one weighted toward
   the judge's uncertain answers (P(violation) near 1/2), with known inclusion probabilities. It writes
   the sampled records as a ``generations.jsonl`` that ``safetylens human import`` takes, and
   ``sample.json`` with each answer's inclusion probability.
2. People rate them in a safety study (three raters, majority vote); ``safetylens human results
   STUDY --json study.json`` exports their labels.
3. :func:`combine` puts the judge beside the people on the rated answers (Gwet's AC2 of the judge's
   rating against each answer's human ratings, the violation confusion matrix, both violation
   percentages) and estimates the violation rate of **all** the run's answers as people would have
   labelled them, from the judge on every answer and people on the sample: prediction-powered
   inference (:mod:`safetylens.stats.ppi`; PPI++ for a uniform sample, the Horvitz-Thompson version
   for a weighted one), next to people alone on the sample, so the cost of rating 200 answers instead
   of 2,000 is an interval width, stated.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from safetylens.errors import ConfigError, DataError
from safetylens.runs import RunDir
from safetylens.stats import ppi
from safetylens.stats.ci import proportion
from safetylens.stats.irr import gwet_ac
from safetylens.util import atomic_write_json, atomic_write_text

BENCHMARK = "safety"
SAMPLE_FILE = "sample.json"


def _judged(run: RunDir) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """The safety answers of a run, in file order, and the judge's score of each by id."""
    records = [r for r in run.records(repair=True) if r.get("benchmark") == BENCHMARK and "output" in r]
    if not records:
        raise ConfigError(f"{run.path} has no answers of the safety benchmark")
    scores = {s["id"]: s for s in run.scores() if "violation" in s and s.get("parsed", True)}
    missing = [r["id"] for r in records if r["id"] not in scores]
    if missing:
        raise DataError(
            f"{run.path}: {len(missing)} safety answers have no usable judge score (first: {missing[0]})",
            hint="score the run first: safetylens score RUN",
        )
    return records, scores


def draw_sample(run: RunDir, n: int, out_dir: Path, *, weighted: bool = False, seed: int = 0) -> dict[str, Any]:
    """Choose the answers people rate and write them for ``safetylens human import``.

    Args:
        run: A finished ``safety`` run.
        n: How many answers to rate (the expected number, for a weighted sample).
        out_dir: Where ``generations.jsonl``, ``manifest.json`` (a copy, so the import knows the model)
            and ``sample.json`` go.
        weighted: Weight toward the judge's uncertain answers (else uniform).
        seed: Seed of the draw.

    Returns:
        What ``sample.json`` holds: the design, the seed, the drawn ids, and every answer's inclusion
        probability.
    """
    records, scores = _judged(run)
    p = np.array([float(scores[r["id"]]["p_violation"]) for r in records])
    if weighted:
        inclusion = ppi.inclusion_probabilities(p, n)
        chosen = ppi.poisson_sample(inclusion, seed=seed)
    else:
        inclusion = np.full(len(records), min(1.0, n / len(records)))
        chosen = ppi.uniform_sample(len(records), min(n, len(records)), seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(records[i], ensure_ascii=False) for i in chosen]
    atomic_write_text(out_dir / "generations.jsonl", "\n".join(lines) + "\n")
    atomic_write_text(out_dir / "manifest.json", run.manifest_path.read_text(encoding="utf-8"))
    design = {
        "run": str(run.path),
        "design": "weighted toward uncertain answers (Poisson)" if weighted else "uniform without replacement",
        "seed": seed,
        "n_items": len(records),
        "drawn": [records[i]["id"] for i in chosen],
        # Every answer's probability, drawn or not: the weighted estimator's variance needs them all.
        "inclusion": {r["id"]: float(inclusion[i]) for i, r in enumerate(records)},
    }
    atomic_write_json(out_dir / SAMPLE_FILE, design)
    return design


def _human_items(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The study's decided safety items by the run's sample id (external ids are ``safety:<id>``)."""
    items = results.get("items")
    if not isinstance(items, list):
        raise DataError("the human results have no per-item list (export them with `safetylens human results --json`)")
    out: dict[str, dict[str, Any]] = {}
    for it in items:
        pid = str(it.get("prompt_id") or "")
        if not pid.startswith(f"{BENCHMARK}:") or it.get("label") not in ("violation", "no violation"):
            continue
        out[pid[len(BENCHMARK) + 1 :]] = it
    return out


def combine(run: RunDir, results: dict[str, Any], sample: dict[str, Any] | None = None) -> dict[str, Any]:
    """The judge beside people, and the combined violation rate (see the module docstring).

    Args:
        run: The ``safety`` run whose answers the judge scored.
        results: ``safetylens human results --json`` of the study that rated a sample of them.
        sample: ``sample.json`` from :func:`draw_sample` (None: the rated answers are taken as a
            uniform random sample, which is what makes the estimate unbiased; say so when citing it).

    Raises:
        DataError: No rated answer belongs to the run.
    """
    records, scores = _judged(run)
    human = _human_items(results)
    index = {r["id"]: i for i, r in enumerate(records)}
    rated = [sid for sid in human if sid in index]
    if not rated:
        raise DataError(
            "no rated item of the study is an answer of this run",
            hint="import the run's generations.jsonl (or draw_sample's) into the study",
        )
    judge_p = np.array([float(scores[r["id"]]["p_violation"]) for r in records])
    judge_v = np.array([bool(scores[r["id"]]["violation"]) for r in records])
    labelled = np.array(sorted(index[s] for s in rated))
    y = np.array([1.0 if human[records[i]["id"]]["label"] == "violation" else 0.0 for i in labelled])

    confusion = {
        "judge_violation_human_violation": int(sum(judge_v[i] and y[k] == 1 for k, i in enumerate(labelled))),
        "judge_violation_human_safe": int(sum(judge_v[i] and y[k] == 0 for k, i in enumerate(labelled))),
        "judge_safe_human_violation": int(sum((not judge_v[i]) and y[k] == 1 for k, i in enumerate(labelled))),
        "judge_safe_human_safe": int(sum((not judge_v[i]) and y[k] == 0 for k, i in enumerate(labelled))),
    }
    width = max(len(human[records[i]["id"]].get("ratings") or []) for i in labelled)
    table = []
    for i in labelled:
        ratings = [int(v) for v in human[records[i]["id"]].get("ratings") or []]
        table.append([int(scores[records[i]["id"]]["rating"]), *ratings, *([None] * (width - len(ratings)))])
    ac2 = gwet_ac(table, "quadratic", categories=[1, 2, 3, 4, 5]).to_estimate()
    n_items = len(records)
    if sample is None:
        combined = ppi.ppi_plusplus_rate(judge_p, labelled, y)
        design = "uniform (assumed: no sample.json given)"
    else:
        inclusion_by_id = sample.get("inclusion", {})
        drawn = set(sample.get("drawn", []))
        stray = [s for s in rated if s not in drawn]
        if stray:
            raise DataError(f"{len(stray)} rated answers were not drawn in sample.json (first: {stray[0]})")
        pi = np.array([float(inclusion_by_id.get(r["id"], 0.0)) for r in records])
        if sample.get("design", "").startswith("uniform"):
            combined = ppi.ppi_plusplus_rate(judge_p, labelled, y)
        else:
            combined = ppi.active_ppi_rate(judge_p, labelled, y, pi)
        design = str(sample.get("design"))
    return {
        "n_items": n_items,
        "n_rated": len(labelled),
        "design": design,
        "judge": scores[records[0]["id"]].get("judge"),
        "agreement": {
            "gwet_ac2_quadratic_judge_and_people": ac2.model_dump(mode="json"),
            "violation_confusion": confusion,
            "violation_accuracy": proportion(
                confusion["judge_violation_human_violation"] + confusion["judge_safe_human_safe"],
                len(labelled),
                percent=False,
            ).model_dump(mode="json"),
        },
        "on_rated_answers": {
            "people_violation_pct": proportion(int(y.sum()), len(y)).model_dump(mode="json"),
            "judge_violation_pct": proportion(int(judge_v[labelled].sum()), len(labelled)).model_dump(mode="json"),
        },
        "all_answers": {
            "judge_only_violation_pct": proportion(int(judge_v.sum()), n_items).model_dump(mode="json"),
            "combined_violation_pct": combined.model_dump(mode="json"),
            "people_only_violation_pct": ppi.human_only_rate(y, population_size=n_items).model_dump(mode="json"),
        },
    }
