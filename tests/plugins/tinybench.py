"""A tiny benchmark used by pipeline tests (imported through SAFETYLENS_PLUGINS).

`tiny-gen` asks the model to continue N short prompts and reports the mean output length; `tiny-ll` scores
two continuations per item and reports how often the first is preferred. Both are real benchmarks in the
sense of the protocol (they build samples, score, aggregate with CIs); they exist to test the pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from safetylens.benchmarks.base import (
    Benchmark,
    BenchmarkContext,
    BenchmarkOptions,
    BenchmarkResult,
    Sample,
    SampleOutcome,
    open_choice,
    register,
    scoring_option,
)
from safetylens.models.base import GenerationRequest, LoglikelihoodRequest
from safetylens.stats.ci import bootstrap_mean, proportion

PROMPTS = [
    "The capital of France is",
    "Water boils at",
    "The largest planet in the solar system is",
    "A haiku about autumn:",
    "Two plus two equals",
    "The chemical symbol for gold is",
    "In 1969, humans first",
    "The opposite of hot is",
    "My favourite colour is",
    "The tallest mountain on Earth is",
    "Photosynthesis converts",
    "The author of Hamlet is",
]


class TinyGenOptions(BenchmarkOptions):
    n: int = Field(12, ge=1, le=len(PROMPTS))
    max_new_tokens: int = open_choice(12, "tests", "generation length")
    min_chars: int = scoring_option(1, "outputs shorter than this count as empty")


@register
class TinyGen(Benchmark):
    name = "tiny-gen"
    description = "pipeline test benchmark (generation)"
    Options = TinyGenOptions

    def datasets(self, options: BenchmarkOptions) -> list[str]:
        return []

    def build(self, ctx: BenchmarkContext) -> list[Sample]:
        assert isinstance(ctx.options, TinyGenOptions)
        prompts = PROMPTS[: ctx.options.n][: ctx.limit]
        return [
            Sample(id=f"p{i:02d}", meta={"i": i}, generation=GenerationRequest(prompt=p, decoding=ctx.decoding))
            for i, p in enumerate(prompts)
        ]

    def score(self, ctx: BenchmarkContext, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        assert isinstance(ctx.options, TinyGenOptions)
        return [
            {"id": r["id"], "chars": len(r["output"]), "empty": len(r["output"]) < ctx.options.min_chars}
            for r in records
        ]

    def sample_outcomes(
        self, ctx: BenchmarkContext, records: Sequence[dict[str, Any]], scores: Sequence[dict[str, Any]]
    ) -> list[SampleOutcome] | None:
        by_id = {s["id"]: s for s in scores}
        return [
            SampleOutcome(
                id=r["id"],
                values={"chars": float(by_id[r["id"]]["chars"]), "long": by_id[r["id"]]["chars"] >= 20},
                groups=(f"parity:{'even' if r['meta']['i'] % 2 == 0 else 'odd'}",),
            )
            for r in records
        ]

    def aggregate(
        self, ctx: BenchmarkContext, records: Sequence[dict[str, Any]], scores: Sequence[dict[str, Any]]
    ) -> BenchmarkResult:
        return BenchmarkResult(
            benchmark=self.name,
            n_samples=len(records),
            headline={"mean_chars": bootstrap_mean([s["chars"] for s in scores], n_resamples=200)},
            metrics={"empty_pct": proportion(sum(s["empty"] for s in scores), len(scores))},
            extra={"outputs": [r["output"] for r in records]},
        )


class TinyLLOptions(BenchmarkOptions):
    n: int = Field(6, ge=1, le=len(PROMPTS))


@register
class TinyLL(Benchmark):
    name = "tiny-ll"
    description = "pipeline test benchmark (log-likelihood)"
    kind = "loglikelihood"
    Options = TinyLLOptions

    def datasets(self, options: BenchmarkOptions) -> list[str]:
        return []

    def build(self, ctx: BenchmarkContext) -> list[Sample]:
        assert isinstance(ctx.options, TinyLLOptions)
        out = []
        for i, p in enumerate(PROMPTS[: ctx.options.n][: ctx.limit]):
            reqs = (LoglikelihoodRequest(p, " yes"), LoglikelihoodRequest(p, " certainly not"))
            out.append(Sample(id=f"q{i:02d}", meta={}, loglikelihood=reqs))
        return out

    def aggregate(
        self, ctx: BenchmarkContext, records: Sequence[dict[str, Any]], scores: Sequence[dict[str, Any]]
    ) -> BenchmarkResult:
        first = sum(r["loglikelihood"][0]["logprob"] > r["loglikelihood"][1]["logprob"] for r in records)
        return BenchmarkResult(
            benchmark=self.name,
            n_samples=len(records),
            headline={"first_preferred": proportion(first, len(records))},
            extra={"logprobs": [[x["logprob"] for x in r["loglikelihood"]] for r in records]},
        )
