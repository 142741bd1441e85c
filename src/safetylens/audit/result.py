"""The ``audit.json`` document as typed, frozen models (schema ``safetylens.audit/1``).

:func:`~safetylens.audit.aggregate.build_record` builds the document as a dict (its digest is the
hash of that dict); :class:`AuditResult` validates it, is what every reader uses, and writes it
back unchanged (:meth:`AuditResult.to_json`). Within a schema version keys may be added, never
renamed or removed, so every model keeps keys it does not know (``extra="allow"``) and a file
written by a newer minor revision still loads and is written back whole.

An estimate is a :class:`~safetylens.stats.ci.Estimate` (in percent for proportions); one over
zero documents is ``None``, and so is a section whose analysis did not run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from safetylens.errors import DataError
from safetylens.stats.ci import Estimate

SCHEMA_NAME = "safetylens.audit"
SCHEMA_VERSION = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_VERSION}"
"""The ``schema`` value this code writes."""

SUPPORTED_VERSIONS = (1,)
"""Schema versions this code reads."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class RecordSettings(_Section):
    """The audit's settings (:meth:`safetylens.audit.analyse.AuditSettings.public`)."""

    sample: float
    seed: int
    toxicity_sample: float
    analyses: tuple[str, ...]
    pii_types: tuple[str, ...]
    text_field: str
    id_field: str | None
    on_error: str
    language_threshold: float
    toxicity_threshold: float
    toxicity_english_only: bool
    toxicity_bins: int
    toxicity_batch_docs: int
    shard_bytes: int
    redact: bool


class OpenChoiceRecord(_Section):
    """A choice the paper leaves open, with the value this audit used (:class:`safetylens.spec.OpenChoice`)."""

    name: str
    value: Any
    default: Any
    reference: str
    description: str


class InputFile(_Section):
    """One input file: ``path`` as given, ``rel`` relative to its input (in the digest)."""

    path: str
    rel: str
    format: str
    bytes: int


class Inputs(_Section):
    """The input files and the files skipped inside input directories."""

    files: tuple[InputFile, ...]
    skipped_files: tuple[str, ...]


class Corpus(_Section):
    """Document counts of the whole corpus and of the analysed sample."""

    documents: int
    invalid_documents: int
    documents_sampled: int
    sample: float
    exact: bool
    characters_sampled: int
    empty_documents_sampled: int
    documents_with_replaced_bytes: int


class PiiType(_Section):
    """One kind of personal information: the documents with at least one, and its occurrences."""

    placeholder: str
    documents: Estimate | None
    documents_count: int
    spans: int


class Pii(_Section):
    """Personal information in the sample."""

    n: int
    exact: bool
    any: Estimate | None
    types: dict[str, PiiType]
    kinds: dict[str, dict[str, int]]


class Redaction(_Section):
    """The redacted copy of the full corpus (exact counts)."""

    documents: int
    documents_changed: int
    replacements: dict[str, int]
    documents_by_type: dict[str, int]
    placeholders: dict[str, str]
    files: tuple[str, ...]
    invalid_records_redacted_as_text: int
    directory: str


class PronounRow(_Section):
    """One row of Table 9a."""

    label: str
    documents: Estimate | None


class Pronouns(_Section):
    """Table 9a: documents mentioning each pronoun list."""

    n: int
    exact: bool
    rows: dict[str, PronounRow]


class IdentityTerm(_Section):
    """A descriptor: the documents mentioning it and its share of its axis' documents."""

    term: str
    documents: int
    share: Estimate | None


class IdentityAxis(_Section):
    """A HolisticBias axis with its terms by count, descending."""

    axis: str
    label: str
    n_terms: int
    documents: Estimate | None
    documents_count: int
    terms: tuple[IdentityTerm, ...]


class Identity(_Section):
    """Table 9b: identity terms by axis, with the lexicon used."""

    n: int
    exact: bool
    lexicon: dict[str, Any]
    axes: tuple[IdentityAxis, ...]


class Histogram(_Section):
    """Counts of documents per score bin (``len(edges) == len(counts) + 1``)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


class Toxicity(_Section):
    """Document toxicity (Fig 13)."""

    classifier: dict[str, Any] | None
    rule: str
    sample: float
    exact: bool
    threshold: float
    english_only: bool
    documents_in_sample: int
    documents_scored: int
    lines_scored: int
    skipped_other_language: int
    skipped_no_lines: int
    mean: Estimate | None
    at_or_above_threshold: Estimate | None
    at_or_above_threshold_count: int
    histogram: Histogram


class LanguageShare(_Section):
    """One language of Table 10 (``unknown``: below the threshold or empty)."""

    code: str
    documents: int
    share: Estimate | None


class Language(_Section):
    """Table 10: languages by count, descending."""

    identifier: dict[str, Any] | None
    threshold: float
    n: int
    exact: bool
    languages: tuple[LanguageShare, ...]


class PaperTerm(_Section):
    """A term of the paper's Table 9b with its share of the axis' documents."""

    term: str
    share: float


class PaperAxis(_Section):
    """An axis of the paper's Table 9b."""

    documents: float
    top: tuple[PaperTerm, ...]


class PaperToxicity(_Section):
    """The paper's toxicity setting and result."""

    classifier: str
    sample: float
    threshold: float
    share_at_or_above_threshold: float
    rule: str
    approximate: bool


class Reference(_Section):
    """The paper's numbers (:mod:`safetylens.reference.audit`)."""

    source: str
    table_9a: dict[str, float]
    table_9b: dict[str, PaperAxis]
    table_10: dict[str, float]
    table_10_complete: bool
    toxicity: PaperToxicity


class RunInfo(_Section):
    """How the audit ran (not in the digest)."""

    engine: str
    workers: int
    shards: int
    seconds: float
    documents_per_second: float
    bytes_read: int
    dask_scheduler: str | None
    worker_cpu_seconds: float


class AuditResult(_Section):
    """A corpus audit: the ``audit.json`` document.

    Attributes:
        schema_id: ``safetylens.audit/<version>`` (the ``schema`` key of the file).
        digest: sha256 of everything except ``created``, ``run``, ``software``, ``hardware``,
            input paths and the redaction directory: equal digests mean equal numbers and
            definitions.
        pii, redaction, pronouns, identity, toxicity, language: ``None`` when not run.
    """

    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)

    schema_id: str = Field(alias="schema")
    settings: RecordSettings
    open_choices: tuple[OpenChoiceRecord, ...]
    inputs: Inputs
    corpus: Corpus
    pii: Pii | None
    redaction: Redaction | None
    pronouns: Pronouns | None
    identity: Identity | None
    toxicity: Toxicity | None
    language: Language | None
    reference: Reference
    digest: str
    created: str
    run: RunInfo
    software: dict[str, Any]
    hardware: dict[str, Any]

    @field_validator("schema_id")
    @classmethod
    def _known_schema(cls, value: str) -> str:
        name, _, version = value.rpartition("/")
        if name != SCHEMA_NAME or not version.isdigit() or int(version) not in SUPPORTED_VERSIONS:
            raise ValueError(f"expected schema {SCHEMA}, got {value!r}")
        return value

    @property
    def schema_version(self) -> int:
        """The schema's version number (the part after ``/``)."""
        return int(self.schema_id.rpartition("/")[2])

    @classmethod
    def from_record(cls, record: AuditResult | Mapping[str, Any], where: str = "audit record") -> AuditResult:
        """Validate an ``audit.json`` document (a result passes through unchanged).

        Raises:
            DataError: Not an audit record of a supported schema, or a field is missing or malformed.
        """
        if isinstance(record, AuditResult):
            return record
        schema = record.get("schema") if isinstance(record, Mapping) else None
        if not isinstance(schema, str) or not schema.startswith(f"{SCHEMA_NAME}/"):
            raise DataError(f"{where}: not a safetylens audit record (expected schema {SCHEMA})")
        try:
            return cls.model_validate(dict(record))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(map(str, err["loc"])) or "(top level)"
            raise DataError(f"{where}: invalid audit record at {loc}: {err['msg']}") from exc

    @classmethod
    def load(cls, path: Path) -> AuditResult:
        """Read an ``audit.json`` (a file, or a directory that contains one).

        Raises:
            DataError: Missing, malformed or of an unknown schema.
        """
        if path.is_dir():
            path = path / "audit.json"
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"cannot read audit record {path}: {exc}") from exc
        return cls.from_record(rec, str(path))

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, keys in the order they were read or built."""
        out: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return out

    def to_json(self) -> str:
        """The ``audit.json`` text: indented, UTF-8, strict JSON (no NaN)."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
