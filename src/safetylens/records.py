"""Typed run records: what a run directory's data files hold.

A run writes three kinds of record (see :mod:`safetylens.runs`):

- :class:`GenerationRecord`: one line of ``generations.jsonl``, a finished sample (its prompt and
  the model's answer, or the log-likelihoods of its continuations);
- :class:`SampleScore`: one line of ``scores.jsonl``, the scoring pass's values for one sample;
- :class:`RunResults`: ``results.json``, the manifest followed by every benchmark's
  :class:`BenchmarkResult`.

Every record carries a ``schema_version``. Files written before records were versioned have the
same shape without it; they read as version :data:`LEGACY_SCHEMA` and are migrated on load, so old
run directories keep loading. A file written by a newer safetylens (a higher version) is refused
with a clear message instead of being misread.

The on-disk JSON shape is unchanged from the untyped records: a score line is flat (``id``,
``benchmark`` and the benchmark's own values side by side), and :meth:`SampleScore.from_json` /
:meth:`SampleScore.to_json` translate between that and the typed form.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from safetylens.errors import DataError
from safetylens.spec import Manifest
from safetylens.stats.ci import Estimate
from safetylens.tables import PaperTable

RECORD_SCHEMA = 1
"""Version of the generation and score record format written by this safetylens."""
RESULTS_SCHEMA = 1
"""Version of the ``results.json`` format written by this safetylens."""
LEGACY_SCHEMA = 0
"""The version of records written before records carried one (same shape, no ``schema_version``)."""

_MISSING: Any = object()
MetaT = TypeVar("MetaT", bound=BaseModel)


def _check_version(obj: Mapping[str, Any], current: int, what: str) -> int:
    """The record's schema version (legacy when absent); refuses versions newer than ``current``."""
    version = obj.get("schema_version", LEGACY_SCHEMA)
    if not isinstance(version, int) or isinstance(version, bool) or version < LEGACY_SCHEMA:
        raise DataError(f"{what}: invalid schema_version {version!r}")
    if version > current:
        raise DataError(
            f"{what}: schema_version {version} was written by a newer safetylens (this one reads up to {current})",
            hint="upgrade safetylens to read this run",
        )
    return version


class _JsonView:
    """Read-only mapping access to a record's JSON form, built on the record's ``keys`` and ``get``.

    Benchmarks, plugins and tools written against the untyped lines (``r["output"]``, ``"output" in
    r``, ``dict(r)``) keep working on typed records.
    """

    def keys(self) -> list[str]:
        """The keys of the JSON form."""
        raise NotImplementedError

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` in the JSON form, else ``default``."""
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.keys())

    def __getitem__(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING


class ContinuationLoglikelihood(BaseModel):
    """The log-likelihood of one continuation of a multiple-choice sample.

    Only ``logprob`` is needed to score a sample; the run pipeline always writes the other fields,
    and records built by hand or by other tools may leave them out.

    Attributes:
        logprob: Summed natural-log probability of the continuation's tokens.
        context_index: Index of the context in :attr:`GenerationRecord.contexts`.
        continuation: The continuation scored.
        is_greedy: Whether every continuation token is the argmax at its position.
        n_tokens: Number of continuation tokens.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    context_index: int | None = None
    continuation: str | None = None
    logprob: float
    is_greedy: bool | None = None
    n_tokens: int | None = None


class GenerationRecord(_JsonView, BaseModel):
    """One finished sample: a line of ``generations.jsonl``.

    Generation samples carry ``prompt``, ``decoding`` and the answer (``output`` and its counters);
    log-likelihood samples carry ``contexts`` and ``loglikelihood`` instead. ``meta`` is the
    benchmark's own metadata for the sample (group, category, references), which differs between
    benchmarks and so stays an open mapping.

    Attributes:
        schema_version: Record format version.
        benchmark: The benchmark that built the sample.
        id: The sample id, unique within the benchmark.
        meta: The benchmark's metadata for the sample.
        prompt: The prompt: raw text, or chat turns as ``{"role", "content"}`` dicts.
        decoding: The decoding parameters the answer was generated with.
        output: The model's answer (None for log-likelihood samples).
        finish_reason: Why generation stopped.
        rendered_prompt: The text the model saw, when the backend reports it.
        prompt_tokens: Prompt length in tokens, when reported.
        completion_tokens: Answer length in tokens, when reported.
        contexts: Distinct contexts of a log-likelihood sample, in request order.
        loglikelihood: One entry per continuation of a log-likelihood sample.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    schema_version: int = RECORD_SCHEMA
    benchmark: str
    id: str
    meta: dict[str, Any] = Field(default_factory=dict)
    prompt: str | list[dict[str, str]] | None = None
    decoding: dict[str, Any] | None = None
    output: str | None = None
    finish_reason: str | None = None
    rendered_prompt: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    contexts: list[str] | None = None
    loglikelihood: list[ContinuationLoglikelihood] | None = None

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], benchmark: str | None = None) -> GenerationRecord:
        """Read a record from its JSON form, migrating a legacy (unversioned) one.

        Args:
            obj: One parsed line of ``generations.jsonl``.
            benchmark: The benchmark to assume when the object names none (records built by hand).

        Raises:
            DataError: The object is not a valid record, or was written by a newer safetylens.
        """
        _check_version(obj, RECORD_SCHEMA, f"generation record {obj.get('id')!r}")
        data = {k: v for k, v in obj.items() if k != "schema_version"}
        if benchmark is not None:
            data.setdefault("benchmark", benchmark)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DataError(f"invalid generation record {obj.get('id')!r}: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to ``generations.jsonl`` (fields never set are left out)."""
        body = self.model_dump(mode="json", exclude_unset=True, exclude={"schema_version"})
        return {"schema_version": self.schema_version, **body}

    def meta_as(self, model: type[MetaT]) -> MetaT:
        """The record's ``meta`` read as a benchmark's typed metadata model.

        Raises:
            DataError: The metadata does not fit the model (a record of another benchmark or version).
        """
        try:
            return model.model_validate(self.meta)
        except ValidationError as exc:
            raise DataError(f"{self.benchmark}: record {self.id} has unexpected metadata: {exc}") from exc

    @property
    def is_generation(self) -> bool:
        """Whether the sample was answered by generation (it has an ``output``)."""
        return self.output is not None

    @property
    def completion(self) -> str:
        """The model's answer, or the empty string for a sample without one."""
        return self.output or ""

    @property
    def request_text(self) -> str:
        """What the model was asked: the last user turn of a chat, or the raw prompt of a base model."""
        if isinstance(self.prompt, str):
            return self.prompt
        if isinstance(self.prompt, list):
            users = [m.get("content", "") for m in self.prompt if m.get("role") == "user"]
            return users[-1] if users else ""
        return ""

    @property
    def logprobs(self) -> list[float]:
        """The continuations' log-likelihoods, in request order (empty for a generation sample)."""
        return [c.logprob for c in self.loglikelihood or ()]

    def keys(self) -> list[str]:
        """The keys of the record's JSON form."""
        return ["schema_version", *(k for k in type(self).model_fields if k in self.model_fields_set)]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` in the record's JSON form, else ``default``."""
        if key == "schema_version":
            return self.schema_version
        if key not in type(self).model_fields or key not in self.model_fields_set:
            return default
        if key == "loglikelihood" and self.loglikelihood is not None:
            return [c.model_dump(mode="json") for c in self.loglikelihood]
        return getattr(self, key)


class SampleScore(_JsonView, BaseModel):
    """The scoring pass's values for one sample: a line of ``scores.jsonl``.

    What a sample is scored on differs between benchmarks (toxic or not, a rating, MC1/MC2, ...),
    so those values form a typed-but-open mapping; the accessors :meth:`flag`, :meth:`number` and
    :meth:`text` read one with its type checked.

    Attributes:
        schema_version: Record format version.
        id: The sample id (that of its :class:`GenerationRecord`).
        benchmark: The benchmark that scored it.
        values: The benchmark's score values, by name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = RECORD_SCHEMA
    id: str
    benchmark: str
    values: dict[str, JsonValue] = Field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any], benchmark: str | None = None) -> SampleScore:
        """Read a score from its flat JSON form, migrating a legacy (unversioned) one.

        Args:
            obj: One parsed line of ``scores.jsonl``, or a score dict a benchmark returned.
            benchmark: The benchmark to assume when the object names none.

        Raises:
            DataError: The object has no id or benchmark, or was written by a newer safetylens.
        """
        _check_version(obj, RECORD_SCHEMA, f"score {obj.get('id')!r}")
        values = {k: v for k, v in obj.items() if k not in ("id", "benchmark", "schema_version")}
        try:
            return cls(id=obj["id"], benchmark=obj.get("benchmark", benchmark), values=values)
        except (KeyError, ValidationError) as exc:
            raise DataError(f"invalid score record {dict(obj)!r:.200}: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        """The flat JSON form written to ``scores.jsonl``."""
        return {"id": self.id, **self.values, "benchmark": self.benchmark, "schema_version": self.schema_version}

    def _value(self, name: str) -> JsonValue:
        if name not in self.values:
            raise DataError(f"{self.benchmark}: score of {self.id} has no {name!r}", hint="re-score the run")
        return self.values[name]

    def has(self, name: str) -> bool:
        """Whether the score holds ``name`` with a value (not None: e.g. a judge's verdict on a skipped answer)."""
        return self.values.get(name) is not None

    def flag(self, name: str, default: bool | None = None) -> bool:
        """A yes/no value (``toxic``, ``refusal``, ``violation``...).

        Args:
            name: The value's name.
            default: What a score without the value reads as (scores written before it existed);
                None makes a missing value an error.

        Raises:
            DataError: The score has no such value and no default is given.
        """
        if default is not None and name not in self.values:
            return default
        return bool(self._value(name))

    def number(self, name: str) -> float:
        """A numeric value (``p_toxic``, ``rating``, ``mc2``...).

        Raises:
            DataError: The score has no such value, or it is not a number.
        """
        value = self._value(name)
        if not isinstance(value, int | float):
            raise DataError(f"{self.benchmark}: score {name!r} of {self.id} is not a number: {value!r}")
        return float(value)

    def text(self, name: str) -> str:
        """A value read as text (a class label, a scorer id).

        Raises:
            DataError: The score has no such value.
        """
        return str(self._value(name))

    def keys(self) -> list[str]:
        """The keys of the flat JSON form."""
        return ["id", *self.values, "benchmark", "schema_version"]

    def get(self, key: str, default: Any = None) -> Any:
        """The value of ``key`` in the flat JSON form (``id``, ``benchmark`` or a score value), else ``default``."""
        if key in ("id", "benchmark", "schema_version"):
            return getattr(self, key)
        return self.values.get(key, default)


class BenchmarkResult(BaseModel):
    """Aggregated results of one benchmark in one run."""

    model_config = ConfigDict(frozen=True)

    benchmark: str
    n_samples: int
    headline: dict[str, Estimate] = Field(default_factory=dict, description="the metrics the paper headlines")
    metrics: dict[str, Estimate] = Field(default_factory=dict)
    breakdowns: dict[str, dict[str, dict[str, Estimate]]] = Field(
        default_factory=dict, description="breakdown name -> group -> metric -> estimate"
    )
    tables: list[PaperTable] = Field(default_factory=list)
    scorers: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)


class RunResults(BaseModel):
    """What ``results.json`` holds: the manifest, then every benchmark's result, then timings.

    Attributes:
        manifest: The manifest the numbers were computed with.
        results: Benchmark name -> result, in run order.
        timing: Wall-clock and cache figures of the pass that wrote the file.
        schema_version: Results format version.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    manifest: Manifest
    results: dict[str, BenchmarkResult]
    timing: dict[str, Any] = Field(default_factory=dict)
    schema_version: int = RESULTS_SCHEMA

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RunResults:
        """Read ``results.json``'s content, migrating a legacy (unversioned) file.

        Raises:
            DataError: The content is not valid results, or was written by a newer safetylens.
        """
        if not isinstance(obj, Mapping):
            raise DataError(f"results: expected a JSON object, got {type(obj).__name__}")
        _check_version(obj, RESULTS_SCHEMA, "results")
        data = {k: v for k, v in obj.items() if k != "schema_version"}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise DataError(f"invalid results: {exc}") from exc

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to ``results.json`` (the manifest first)."""
        return self.model_dump(mode="json")


RecordLike = GenerationRecord | Mapping[str, Any]
"""A generation record, or its JSON form (records built by hand, third-party code)."""
ScoreLike = SampleScore | Mapping[str, Any]
"""A sample score, or its flat JSON form (what a third-party benchmark's ``score`` may return)."""


def as_records(records: Iterable[RecordLike], benchmark: str | None = None) -> list[GenerationRecord]:
    """Typed records from records or their JSON forms (``benchmark`` fills a missing benchmark name).

    Raises:
        DataError: A JSON form is not a valid record.
    """
    return [r if isinstance(r, GenerationRecord) else GenerationRecord.from_json(r, benchmark) for r in records]


def as_scores(scores: Iterable[ScoreLike], benchmark: str | None = None) -> list[SampleScore]:
    """Typed scores from scores or their flat JSON forms (``benchmark`` fills a missing benchmark name).

    Raises:
        DataError: A JSON form has no id or no benchmark.
    """
    return [s if isinstance(s, SampleScore) else SampleScore.from_json(s, benchmark) for s in scores]


def scores_by_id(
    benchmark: str, records: Sequence[GenerationRecord], scores: Sequence[SampleScore], unit: str = "generations"
) -> dict[str, SampleScore]:
    """Index scores by sample id, checking that every record has one.

    Raises:
        DataError: A record has no score (a scoring pass was interrupted or a file was edited).
    """
    by_id = {s.id: s for s in scores}
    missing = [r.id for r in records if r.id not in by_id]
    if missing:
        raise DataError(f"{benchmark}: {len(missing)} {unit} have no score (first: {missing[0]})")
    return by_id
