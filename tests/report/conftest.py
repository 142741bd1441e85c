"""Builders for report, compare and replay tests: real run directories made by the real pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import tests.plugins.tinybench  # noqa: F401  (registers tiny-gen and tiny-ll)
from safetylens.benchmarks.base import BenchmarkContext, BenchmarkResult, get
from safetylens.datasets.registry import DataStore
from safetylens.models.base import Decoding, GenerationRequest, GenerationResult
from safetylens.report.load import LoadedRun, load_run
from safetylens.runs import RunDir, execute
from safetylens.spec import build_spec
from tests.helpers import CountingBackend


class ChattyBackend(CountingBackend):
    """A CountingBackend whose answers to odd-numbered prompts are padded: a different 'model'."""

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        out = super().generate(requests)
        return [
            replace(r, text=r.text + " and much more text") if len(self.render(q.prompt) or "") % 2 else r
            for q, r in zip(requests, out, strict=True)
        ]


def tiny_run(
    tmp_path: Path,
    *,
    backend: CountingBackend | None = None,
    n: int = 10,
    temperature: float = 0.0,
    label: str | None = None,
    out: str = "runs",
) -> Path:
    """A finished tiny-gen + tiny-ll run directory made with the real pipeline."""
    spec = build_spec(
        {
            "model": {"name": "counting"},
            "benchmarks": [{"name": "tiny-gen", "options": {"n": n}}, {"name": "tiny-ll", "options": {"n": 5}}],
            "decoding": {"temperature": temperature},
            "output_dir": str(tmp_path / out),
            "label": label,
        }
    )
    run = RunDir.create(spec)
    execute(spec, backend or CountingBackend(), run)
    return run.path


def with_results(run: LoadedRun, results: dict[str, BenchmarkResult], label: str | None = None) -> LoadedRun:
    """A loaded run whose results are replaced (for table-layout tests on fixed data)."""
    return LoadedRun(path=run.path, manifest=run.manifest, results=results, label=label or run.label)


GROUPS = ("asian", "mexican", "muslim", "women", "black")


def toxigen_result(seed_shift: int = 0) -> BenchmarkResult:
    """ToxiGen's real aggregation on fixed classified generations (5 groups, 20 sentences each)."""
    bench = get("toxigen")
    ctx = BenchmarkContext(
        options=bench.parse_options({}),
        decoding=Decoding(temperature=0.0, max_new_tokens=8),
        chat=False,
        limit=None,
        data=DataStore(),
        run_dir=Path("."),
    )
    records: list[dict[str, Any]] = []
    scores: list[dict[str, Any]] = []
    for gi, g in enumerate(GROUPS):
        for k in range(20):
            rid = f"{g}-{k}"
            toxic = (k + gi + seed_shift) % 5 == 0
            records.append({"id": rid, "meta": {"groups": [g], "label": "hate"}, "output": "x"})
            scores.append(
                {"id": rid, "toxic": toxic, "p_toxic": 0.9 if toxic else 0.1, "classifier": "fixed", "empty": False}
            )
    return bench.aggregate(ctx, records, scores)


def loaded(path: Path) -> LoadedRun:
    """Load a run directory."""
    return load_run(path)
