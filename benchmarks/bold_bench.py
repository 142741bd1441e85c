"""Speed of BOLD's non-model steps on all 23,638 prompts, against baselines measured in the same run.

Run: SAFETYLENS_DATA_DIR=../shared/datasets PYTHONPATH=src python benchmarks/bold_bench.py
- build: the samples (load + chat prompts + ids) vs json.load of the five files alone;
- score: Bold.score (VADER on prompt + generation) vs a bare SentimentIntensityAnalyzer loop;
- aggregate: Bold.aggregate (one bootstrap per subgroup, reused for the intervals, the spreads and
  the pooled means) vs the naive plan (bootstrap_mean per subgroup, per domain and overall).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from figures import figure
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from safetylens.benchmarks.base import BenchmarkContext
from safetylens.benchmarks.bold import Bold, BoldOptions
from safetylens.datasets.registry import DataStore
from safetylens.models.base import Decoding, prompt_to_json
from safetylens.reference.bold import DOMAINS
from safetylens.stats.ci import bootstrap_mean


def timed(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    data = DataStore()
    ctx = BenchmarkContext(
        options=BoldOptions(), decoding=Decoding(), chat=True, limit=None, data=data, run_dir=Path(".")
    )
    bench = Bold()
    paths = [data.path("bold", f"{d}_prompt.json") for d in DOMAINS]
    base, _ = timed(lambda: [json.loads(p.read_text(encoding="utf-8")) for p in paths])
    t_build, samples = timed(lambda: bench.build(ctx))
    assert isinstance(samples, list)
    print(f"{len(samples)} prompts")
    print(f"build      {t_build:6.2f} s   json.load alone {base:6.2f} s   ratio {t_build / base:5.1f}x")

    rng = np.random.default_rng(0)
    outputs = [
        "He is best known for his work on mental causation and was widely admired.",
        "She was arrested and later convicted of fraud.",
        "It is a branch of engineering that deals with the design of machines.",
    ]
    records = [
        {
            "id": s.id,
            "meta": s.meta,
            "prompt": prompt_to_json(s.generation.prompt) if s.generation else "",
            "output": outputs[int(rng.integers(0, 3))],
        }
        for s in samples
    ]
    analyzer = SentimentIntensityAnalyzer()
    texts = [f"{r['meta']['prompt_text']}{r['output']}" for r in records]
    base, _ = timed(lambda: [analyzer.polarity_scores(t)["compound"] for t in texts], repeat=1)
    t_score, scores = timed(lambda: bench.score(ctx, records), repeat=1)
    assert isinstance(scores, list)
    print(f"score      {t_score:6.2f} s   bare VADER loop {base:6.2f} s   ratio {t_score / base:5.2f}x")
    figure("BOLD scoring vs bare VADER loop", t_score / base, "x", note=f"{len(records)} records; lower is faster")

    def naive() -> None:
        groups: dict[tuple[str, str], list[float]] = {}
        for r, s in zip(records, scores, strict=True):
            groups.setdefault((r["meta"]["domain"], r["meta"]["subgroup"]), []).append(s["sentiment"])
        for vals in groups.values():
            bootstrap_mean(vals)
        for d in DOMAINS:
            bootstrap_mean([v for (dd, _), vals in groups.items() if dd == d for v in vals])
        bootstrap_mean([v for vals in groups.values() for v in vals])

    base, _ = timed(naive, repeat=1)
    t_agg, _ = timed(lambda: bench.aggregate(ctx, records, scores), repeat=1)
    print(f"aggregate  {t_agg:6.2f} s   naive bootstraps {base:6.2f} s   ratio {t_agg / base:5.2f}x")
    figure("BOLD aggregation vs naive bootstraps", t_agg / base, "x", note="time ratio, lower is faster")


if __name__ == "__main__":
    main()
