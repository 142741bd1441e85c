"""What a benchmark is: options, samples, scoring and aggregation.

A benchmark turns data into :class:`Sample` objects (each a generation request or a set of
log-likelihood requests, plus metadata), scores the saved outputs in a separate pass (so changing
a classifier or judge never regenerates), and aggregates the scores into a
:class:`BenchmarkResult` whose every metric is an :class:`~safetylens.stats.ci.Estimate`.

Register a benchmark with :func:`register`; ``safetylens.benchmarks`` imports the built-in ones.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from safetylens.models.base import Decoding, GenerationRequest, LoglikelihoodRequest, Prompt
from safetylens.records import BenchmarkResult as BenchmarkResult
from safetylens.records import GenerationRecord, RecordLike, SampleScore, ScoreLike, as_records, as_scores
from safetylens.records import scores_by_id as scores_by_id
from safetylens.spec import OpenChoice, ScorerRecord
from safetylens.tables import PaperTable as PaperTable
from safetylens.tables import TableRow as TableRow

if TYPE_CHECKING:
    from safetylens.datasets.registry import DataStore


def open_choice(default: Any, reference: str, description: str, **kwargs: Any) -> Any:
    """Declare an option that settles a choice the paper leaves open.

    The option's value is listed under ``open_choices`` in every manifest and in the report's
    methodology section.

    Args:
        default: The documented default.
        reference: Where the open choice is described (e.g. ``"protocol.md §7.4"``).
        description: What the option controls.
        **kwargs: Passed to :func:`pydantic.Field`.
    """
    return Field(default, description=description, json_schema_extra={"open_choice": reference}, **kwargs)


def scoring_option(default: Any, description: str, **kwargs: Any) -> Any:
    """Declare an option that only affects scoring (classifier, judge, threshold, aggregation).

    Only such options may change when a finished run is re-scored with ``safetylens score``;
    every other option changes generations and therefore needs a new run.
    """
    return Field(default, description=description, json_schema_extra={"scoring": True}, **kwargs)


def scorer_option(kind: str, default: Any, description: str, **kwargs: Any) -> Any:
    """Declare the scoring option that names a scorer of ``kind`` in the scorer registry.

    The benchmark creates the scorer with ``safetylens.scorers.registry.create(kind, value, ...)``;
    marking the field lets tools and tests find every scorer a benchmark can be configured with.
    """
    return Field(default, description=description, json_schema_extra={"scoring": True, "scorer_kind": kind}, **kwargs)


def scoring_open_choice(default: Any, reference: str, description: str, **kwargs: Any) -> Any:
    """An option that is both a scoring option and an open protocol choice."""
    return Field(
        default, description=description, json_schema_extra={"scoring": True, "open_choice": reference}, **kwargs
    )


class BenchmarkOptions(BaseModel):
    """Base class of benchmark options (frozen, unknown keys rejected)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def open_choices(self) -> tuple[OpenChoice, ...]:
        """The options marked with :func:`open_choice`, with this instance's values."""
        out: list[OpenChoice] = []
        for name, info in type(self).model_fields.items():
            extra = info.json_schema_extra
            if isinstance(extra, dict) and "open_choice" in extra:
                out.append(
                    OpenChoice(
                        name=name,
                        value=_jsonable(getattr(self, name)),
                        default=_jsonable(info.default),
                        reference=str(extra["open_choice"]),
                        description=info.description or "",
                    )
                )
        return tuple(out)

    @classmethod
    def scoring_fields(cls) -> set[str]:
        """Names of the options that only affect scoring."""
        return {
            name
            for name, info in cls.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("scoring")
        }

    @classmethod
    def scorer_fields(cls) -> dict[str, str]:
        """The options declared with :func:`scorer_option`, each with the scorer kind it names."""
        return {
            name: str(info.json_schema_extra["scorer_kind"])
            for name, info in cls.model_fields.items()
            if isinstance(info.json_schema_extra, dict) and "scorer_kind" in info.json_schema_extra
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class Sample:
    """One unit of a benchmark.

    Attributes:
        id: Stable identifier, unique within the benchmark (the same item gets the same id in every run).
        meta: Metadata carried into generations.jsonl and used by scoring (group, category, references).
        generation: The generation request, for generation benchmarks.
        loglikelihood: The log-likelihood requests, for multiple-choice benchmarks.
    """

    id: str
    meta: dict[str, Any]
    generation: GenerationRequest | None = None
    loglikelihood: tuple[LoglikelihoodRequest, ...] = ()


@dataclass(frozen=True)
class SampleOutcome:
    """Per-sample values of a benchmark's metrics, for paired comparisons between runs.

    Attributes:
        id: The sample id (shared by runs on the same items).
        values: Metric name -> value (bool for binary outcomes such as "toxic", float otherwise).
        groups: Breakdown memberships as ``"breakdown:group"`` strings, e.g. ``("group:asian", "group:women")``.
    """

    id: str
    values: dict[str, float | bool]
    groups: tuple[str, ...] = ()


ProgressFactory = Callable[[str, int], Any]


@dataclass
class BenchmarkContext:
    """What a benchmark sees while it runs.

    Attributes:
        options: The validated options.
        decoding: Effective decoding for generation requests (before the benchmark adds stops).
        chat: Whether prompts are formatted as chats.
        limit: Keep only the first N samples.
        data: Verified data files.
        run_dir: The run directory (for benchmark-specific artefacts).
        seed: Run seed.
        render: Renders a prompt into the text the model sees (None when a server formats chats).
        progress: ``progress(description, total)`` returns a context manager yielding ``advance(n)``.
    """

    options: BenchmarkOptions
    decoding: Decoding
    chat: bool
    limit: int | None
    data: DataStore
    run_dir: Path
    seed: int = 0
    render: Callable[[Prompt], str | None] = lambda p: p if isinstance(p, str) else None
    progress: ProgressFactory | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def progress_for(self, description: str, total: int) -> Iterator[Callable[[int], None] | None]:
        """``advance(n)`` of a progress bar over ``total`` steps, or None when this run shows no progress.

        Scorers take ``progress=None`` to mean "report nothing", so a benchmark passes what this yields.
        """
        if self.progress is None:
            yield None
            return
        with self.progress(description, total) as advance:
            yield advance


class Benchmark(ABC):
    """A benchmark implementation. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    kind: ClassVar[Literal["generate", "loglikelihood"]] = "generate"
    Options: ClassVar[type[BenchmarkOptions]] = BenchmarkOptions
    default_max_new_tokens: ClassVar[int] = 256

    def parse_options(self, raw: dict[str, Any]) -> BenchmarkOptions:
        """Validate raw options (raises pydantic.ValidationError)."""
        return self.Options.model_validate(raw)

    @abstractmethod
    def datasets(self, options: BenchmarkOptions) -> list[str]:
        """Ids of the data sets this benchmark reads (verified before any model call)."""

    @abstractmethod
    def build(self, ctx: BenchmarkContext) -> list[Sample]:
        """Build the samples (apply ``ctx.limit`` and any sampling option)."""

    def prompt_templates(self, options: BenchmarkOptions, chat: bool) -> dict[str, str]:
        """Prompt templates shown verbatim in the manifest and the methodology section."""
        return {}

    def scorers(self, ctx: BenchmarkContext) -> list[ScorerRecord]:
        """Resolve and describe the scorers this run will use. Must fail (raise) if one is unavailable."""
        return []

    def score(self, ctx: BenchmarkContext, records: Sequence[RecordLike]) -> Sequence[ScoreLike]:
        """Score saved records; return one score per record (a :class:`SampleScore`, or its flat JSON form).

        Records arrive as :class:`GenerationRecord`; their JSON form (a dict) is also accepted, so
        benchmarks read them through :func:`safetylens.records.as_records`.
        """
        return []

    def sample_outcomes(
        self, ctx: BenchmarkContext, records: Sequence[RecordLike], scores: Sequence[ScoreLike]
    ) -> list[SampleOutcome] | None:
        """Per-sample metric values for paired comparisons (``safetylens compare``); None if unsupported."""
        return None

    def aggregate(
        self, ctx: BenchmarkContext, records: Sequence[RecordLike], scores: Sequence[ScoreLike]
    ) -> BenchmarkResult:
        """Aggregate records and scores into metrics with confidence intervals.

        Records and scores may arrive typed or in their JSON form (a plugin's, or an old run's); they
        are read into :class:`GenerationRecord` / :class:`SampleScore` once here, so a benchmark only
        implements :meth:`aggregate_records` (or overrides this method to take them as they come).
        """
        return self.aggregate_records(ctx, as_records(records, self.name), as_scores(scores, self.name))

    def aggregate_records(
        self, ctx: BenchmarkContext, records: Sequence[GenerationRecord], scores: Sequence[SampleScore]
    ) -> BenchmarkResult:
        """Aggregate typed records and scores (see :meth:`aggregate`).

        Raises:
            NotImplementedError: The benchmark overrides neither this nor :meth:`aggregate`.
        """
        raise NotImplementedError(f"{type(self).__name__} implements neither aggregate nor aggregate_records")


def context_scorer(ctx: BenchmarkContext, slot: str, kind: str, name: str, options: dict[str, Any]) -> Any:
    """The scorer a benchmark's options name, created through the scorer registry once per context.

    Scoring and aggregation ask for it several times in one run (and again on ``safetylens score``
    with other options); it is kept in ``ctx.extra[slot]`` with the name and options it was made with.
    """
    from safetylens.scorers import registry as scorer_registry

    key = (name, tuple(sorted((k, repr(v)) for k, v in options.items())))
    cached = ctx.extra.get(slot)
    if cached is not None and cached[0] == key:
        return cached[1]
    scorer = scorer_registry.create(kind, name, **options)
    ctx.extra[slot] = (key, scorer)
    return scorer


def context_scorer_record(ctx: BenchmarkContext, slot: str, scores: Sequence[SampleScore], field: str) -> ScorerRecord:
    """The record of the scorer in ``ctx.extra[slot]``, else one naming the ids saved with the scores.

    Aggregating saved scores again (``safetylens show``, replays) need not load the scorer; the record
    then says where its id came from.
    """
    cached = ctx.extra.get(slot)
    if cached is not None:
        rec: ScorerRecord = cached[1].record
        return rec
    ids = sorted({str(s.values.get(field, "unknown")) for s in scores}) or ["unknown"]
    return ScorerRecord(id=",".join(ids), version="unknown", description="read from scores.jsonl")


def score_answers(
    ctx: BenchmarkContext,
    benchmark: str,
    records: Sequence[GenerationRecord],
    what: str,
    run: Callable[[list[str], list[str], Callable[[int], None] | None], Sequence[Any]],
    values: Callable[[Any], dict[str, JsonValue]],
    scorer: tuple[str, str],
) -> list[SampleScore]:
    """Score each answer with a scorer that reads the answer and the prompt it answers.

    Benchmarks that classify or judge answers (refusal, harm) share this: every answer is passed with
    its ``meta["prompt"]`` in one call (with a progress bar), and each score holds the scorer's values,
    the scorer's id and whether the answer was empty.

    Args:
        ctx: The benchmark context (for progress).
        benchmark: The benchmark's name.
        records: The records to score.
        what: The progress bar's label after the benchmark name (e.g. ``"classify"``).
        run: ``run(answers, prompts, advance)`` returns one prediction per answer.
        values: A prediction's score values.
        scorer: The score field naming the scorer, and the scorer's id.
    """
    outputs = [r.completion for r in records]
    prompts = [str(r.meta.get("prompt", "")) for r in records]
    with ctx.progress_for(f"{benchmark} {what}", len(outputs)) as advance:
        preds = run(outputs, prompts, advance)
    field, scorer_id = scorer
    return [
        SampleScore(id=r.id, benchmark=benchmark, values={**values(p), field: scorer_id, "empty": not out.strip()})
        for r, p, out in zip(records, preds, outputs, strict=True)
    ]


def subset_note(sample: int | None, per: str, limit: int | None, seed: int, n: int) -> str | None:
    """The note a result carries when it rests on a stratified sample or the first ``limit`` items."""
    what = []
    if sample is not None:
        what.append(f"stratified sample of {sample} per {per} (seed {seed})")
    if limit is not None:
        what.append(f"first {limit} prompts")
    return f"subset: {', '.join(what)}; {n} answers, not comparable with full-set rows" if what else None


_REGISTRY: dict[str, type[Benchmark]] = {}


def register(cls: type[Benchmark]) -> type[Benchmark]:
    """Class decorator adding a benchmark to the registry under ``cls.name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"benchmark {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[Benchmark]]:
    """All registered benchmarks (importing the built-in ones first)."""
    import safetylens.benchmarks  # noqa: F401 - registers the built-ins

    return dict(_REGISTRY)


def get(name: str) -> Benchmark:
    """Instantiate a registered benchmark.

    Raises:
        ConfigError: Unknown name (the message lists the known ones).
    """
    from safetylens.errors import ConfigError

    reg = registry()
    if name not in reg:
        raise ConfigError(f"unknown benchmark {name!r}", hint=f"known benchmarks: {', '.join(sorted(reg))}")
    return reg[name]()
