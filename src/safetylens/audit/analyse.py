r"""Per-document analysers, the mergeable accumulator, and the shard worker every engine runs.

:func:`analyse_document` is the per-document function (personal information, pronouns, identity
terms, language). :func:`process_shard` streams one shard's documents through it, scores the
toxicity sample in fixed batches, writes a redacted part when asked, and returns a
:class:`Partial`: integer counts only (toxicity sums in fixed point), so merging partials is exact,
associative and commutative, and the result does not depend on how shards were spread over
processes or machines.

Sampling is decided per document by a hash of ``(seed, document key)``: a document is in the
sample when ``u < sample`` and in the toxicity sample when ``u < min(sample, toxicity_sample)``
(so the toxicity sample is nested in the main one), where ``u`` is the first 64 bits of
``blake2b(f"{seed}\\x1f{key}")`` read as a fraction of 2**64.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from safetylens.audit import pii
from safetylens.audit.language import UNKNOWN, LanguageIdentifier
from safetylens.audit.lexical import IdentityLexicon, pronoun_categories, tokens
from safetylens.audit.readers import Document, ReaderOptions, Shard, iter_documents
from safetylens.errors import BackendUnavailable, ConfigError, SafetylensError
from safetylens.scorers.base import TextClassifier

ANALYSES: tuple[str, ...] = ("pii", "pronouns", "identity", "language", "toxicity")
"""The analyses an audit can run."""

FIXED_POINT = 2**52
"""Toxicity scores are summed as integers in units of 2**-52, so sums are exact and order-free."""

ClassifierSource = str | Callable[[], TextClassifier]


def unit_interval(seed: int, key: str) -> float:
    """The document's sampling number in [0, 1), from ``(seed, key)`` only."""
    digest = hashlib.blake2b(f"{seed}\x1f{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class AuditSettings:
    """Everything that determines an audit's numbers (recorded in ``audit.json``).

    Attributes:
        sample: Fraction of documents analysed (1.0 = all: exact counts).
        seed: Sampling seed.
        toxicity_sample: Fraction of the corpus scored for toxicity (the paper: 10%); nested in ``sample``.
        analyses: Which analyses run (see :data:`ANALYSES`).
        pii_types: Personal-information types detected.
        reader: How documents are read.
        language_threshold: Minimum fastText probability; below it a document is ``unknown``.
        toxicity_threshold: Document score at or above which a document counts as toxic (paper: 0.5).
        toxicity_english_only: Score only documents identified as English (the paper: "the English portion").
        toxicity_bins: Histogram bins over [0, 1].
        toxicity_batch_docs: Documents whose lines are scored in one classifier call (fixed, so
            batches, and thus floating-point results, are the same under every engine).
        shard_bytes: Target shard size.
        redact_dir: Where a redacted copy is written (None: no copy).
    """

    sample: float = 1.0
    seed: int = 0
    toxicity_sample: float = 0.1
    analyses: tuple[str, ...] = ("pii", "pronouns", "identity", "language")
    pii_types: tuple[str, ...] = pii.PII_TYPES
    reader: ReaderOptions = field(default_factory=ReaderOptions)
    language_threshold: float = 0.5
    toxicity_threshold: float = 0.5
    toxicity_english_only: bool = True
    toxicity_bins: int = 20
    toxicity_batch_docs: int = 64
    shard_bytes: int = 32 * 1024 * 1024
    redact_dir: str | None = None

    def validate(self) -> None:
        """Check values and combinations.

        Raises:
            ConfigError: A value is out of range or options contradict each other.
        """
        if not 0.0 < self.sample <= 1.0:
            raise ConfigError(f"--sample must be in (0, 1], got {self.sample}")
        if not 0.0 < self.toxicity_sample <= 1.0:
            raise ConfigError(f"--toxicity-sample must be in (0, 1], got {self.toxicity_sample}")
        unknown = [a for a in self.analyses if a not in ANALYSES]
        if unknown:
            raise ConfigError(f"unknown analyses: {', '.join(unknown)}", hint=f"known: {', '.join(ANALYSES)}")
        bad = [t for t in self.pii_types if t not in pii.PII_TYPES]
        if bad:
            raise ConfigError(f"unknown PII types: {', '.join(bad)}", hint=f"known: {', '.join(pii.PII_TYPES)}")
        if "toxicity" in self.analyses and self.toxicity_english_only and "language" not in self.analyses:
            raise ConfigError(
                "toxicity on the English portion needs language identification",
                hint="keep the language analysis, or score every language with --toxicity-all-languages",
            )
        if not 0.0 <= self.toxicity_threshold <= 1.0:
            raise ConfigError(f"toxicity threshold must be in [0, 1], got {self.toxicity_threshold}")
        if self.toxicity_bins < 1 or self.toxicity_batch_docs < 1:
            raise ConfigError("toxicity bins and batch size must be positive")
        if not self.analyses and self.redact_dir is None:
            raise ConfigError("nothing to do: every analysis is off and no redacted copy is asked for")

    def public(self) -> dict[str, Any]:
        """JSON-able form for the audit record."""
        return {
            "sample": self.sample,
            "seed": self.seed,
            "toxicity_sample": min(self.sample, self.toxicity_sample),
            "analyses": list(self.analyses),
            "pii_types": list(self.pii_types),
            "text_field": self.reader.text_field,
            "id_field": self.reader.id_field,
            "on_error": self.reader.on_error,
            "language_threshold": self.language_threshold,
            "toxicity_threshold": self.toxicity_threshold,
            "toxicity_english_only": self.toxicity_english_only,
            "toxicity_bins": self.toxicity_bins,
            "toxicity_batch_docs": self.toxicity_batch_docs,
            "shard_bytes": self.shard_bytes,
            "redact": self.redact_dir is not None,
        }


@dataclass
class AuditJob:
    """What a worker needs: settings plus the (unloaded, picklable) analysers.

    Attributes:
        settings: The audit settings.
        lexicon: HolisticBias lexicon (None when the identity analysis is off).
        language: Language identifier (None when off); loads its model lazily in each process.
        classifier: Toxicity classifier source: a name for :func:`resolve_classifier`, or a
            picklable zero-argument callable returning a TextClassifier (None when off).
        token: Identifies the job so each process loads its models once.
    """

    settings: AuditSettings
    lexicon: IdentityLexicon | None = None
    language: LanguageIdentifier | None = None
    classifier: ClassifierSource | None = None
    token: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass
class Partial:
    """Mergeable counts of an audit (or of one shard of it). All fields are integers."""

    documents_read: int = 0
    documents_invalid: int = 0
    documents_sampled: int = 0
    documents_replaced_bytes: int = 0
    characters_sampled: int = 0
    empty_sampled: int = 0
    pii_docs: Counter[str] = field(default_factory=Counter)
    pii_spans: Counter[str] = field(default_factory=Counter)
    pii_kind_docs: Counter[str] = field(default_factory=Counter)
    pii_any_docs: int = 0
    redact_docs: int = 0
    redact_changed: int = 0
    redact_spans: Counter[str] = field(default_factory=Counter)
    redact_type_docs: Counter[str] = field(default_factory=Counter)
    pronoun_docs: Counter[str] = field(default_factory=Counter)
    identity_axis_docs: Counter[str] = field(default_factory=Counter)
    identity_term_docs: Counter[str] = field(default_factory=Counter)
    language_docs: Counter[str] = field(default_factory=Counter)
    tox_sampled: int = 0
    tox_docs: int = 0
    tox_lines: int = 0
    tox_no_lines: int = 0
    tox_other_language: int = 0
    tox_at_or_above: int = 0
    tox_sum: int = 0
    tox_sumsq: int = 0
    tox_hist: list[int] = field(default_factory=list)

    def merge(self, other: Partial) -> Partial:
        """Add another partial's counts into this one (exact); returns self."""
        for name, value in other.__dict__.items():
            mine = getattr(self, name)
            if isinstance(value, Counter):
                mine.update(value)
            elif isinstance(value, list):
                if len(mine) < len(value):
                    mine.extend([0] * (len(value) - len(mine)))
                for i, v in enumerate(value):
                    mine[i] += v
            else:
                setattr(self, name, mine + value)
        return self

    def canonical(self) -> dict[str, Any]:
        """A plain, sorted form (for equality checks and hashing)."""
        out: dict[str, Any] = {}
        for name, value in sorted(self.__dict__.items()):
            out[name] = dict(sorted(value.items())) if isinstance(value, Counter) else value
        return out


@dataclass
class ShardResult:
    """What a shard worker returns.

    Attributes:
        index: The shard's index.
        partial: Its counts.
        nbytes: Input bytes it covered (progress).
        classifier_record: The toxicity classifier's manifest record (when it was used).
        error: ``(class name, message, hint)`` of a user error raised while processing, else None.
        cpu_seconds: CPU time the worker spent on the shard (its process only).
    """

    index: int
    partial: Partial
    nbytes: int = 0
    classifier_record: dict[str, Any] | None = None
    error: tuple[str, str, str | None] | None = None
    cpu_seconds: float = 0.0


# ---------------------------------------------------------------------------------------- analysers


@dataclass
class DocFeatures:
    """What the cheap analysers found in one document."""

    spans: list[pii.Span] | None = None
    pronouns: set[str] | None = None
    identity: set[tuple[str, str]] | None = None
    language: str | None = None


def analyse_document(
    text: str,
    *,
    settings: AuditSettings,
    lexicon: IdentityLexicon | None = None,
    language: LanguageIdentifier | None = None,
    spans: list[pii.Span] | None = None,
) -> DocFeatures:
    """Run the per-document analysers on one text.

    Args:
        text: The document.
        settings: Which analyses run.
        lexicon: Identity-term lexicon (needed for ``identity``).
        language: Language identifier (needed for ``language``).
        spans: Already detected PII spans (reused instead of detecting again).
    """
    feats = DocFeatures()
    wanted = settings.analyses
    if "pii" in wanted:
        feats.spans = spans if spans is not None else pii.detect(text, settings.pii_types)
    if "pronouns" in wanted or "identity" in wanted:
        toks = tokens(text)
        tset = set(toks)
        if "pronouns" in wanted:
            feats.pronouns = pronoun_categories(tset)
        if "identity" in wanted and lexicon is not None:
            feats.identity = lexicon.match(toks, tset)
    if "language" in wanted and language is not None:
        feats.language = language.identify(text)
    return feats


def document_lines(text: str) -> list[str]:
    """The non-empty lines of a document (the units the toxicity classifier scores)."""
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def resolve_classifier(source: ClassifierSource) -> TextClassifier:
    """Load a toxicity classifier.

    Args:
        source: ``probe:PATH`` (a linear-probe JSON file on the packaged sentence encoder), a name
            known to ``safetylens.scorers.toxicity.load_classifier``, or a zero-argument callable.

    Raises:
        BackendUnavailable: The toxicity scorers are not installed.
        SafetylensError: The classifier cannot be loaded (fail closed: no classifier, no number).
    """
    if callable(source):
        return source()
    if source.startswith("probe:"):
        return ProbeFile(source.removeprefix("probe:"))()
    try:
        from safetylens.scorers.toxicity import load_classifier
    except ImportError as exc:
        raise BackendUnavailable(
            f"toxicity classifier {source!r} is not available: safetylens.scorers.toxicity is not installed",
            hint="use --classifier probe:PATH with a trained linear-probe file",
        ) from exc
    import inspect

    kwargs: dict[str, Any] = {}
    if source == "offline" and "encoder" in inspect.signature(load_classifier).parameters:
        # One torch thread per worker and no shared embedding cache: every engine then computes
        # every line in the same batches, so the numbers are identical across engines and runs.
        from safetylens.scorers.embeddings import SentenceEncoder

        kwargs["encoder"] = SentenceEncoder(threads=1)
    clf: TextClassifier = load_classifier(source, **kwargs)
    return clf


@dataclass(frozen=True)
class ProbeFile:
    """A picklable classifier factory: a linear-probe JSON file on the packaged sentence encoder.

    Attributes:
        path: The probe file (``safetylens.scorers.probe.LinearProbe`` format).
        threads: Torch threads of the encoder (1 per worker keeps results identical across engines).
    """

    path: str
    threads: int = 1

    def __call__(self) -> TextClassifier:
        """Load the probe and its encoder."""
        from safetylens.scorers.embeddings import SentenceEncoder
        from safetylens.scorers.probe import LinearProbe, ProbeClassifier

        probe = LinearProbe.load(Path(self.path))
        return ProbeClassifier(probe, SentenceEncoder(threads=self.threads))


# ------------------------------------------------------------------------------------- worker context


@dataclass
class _Context:
    job: AuditJob
    classifier: TextClassifier | None = None


_CONTEXTS: dict[str, _Context] = {}


def _context(job: AuditJob) -> _Context:
    ctx = _CONTEXTS.get(job.token)
    if ctx is None:
        _CONTEXTS.clear()  # one job per process at a time; drop models of finished jobs
        ctx = _Context(job)
        _CONTEXTS[job.token] = ctx
    return ctx


def _classifier(ctx: _Context) -> TextClassifier:
    if ctx.classifier is None:
        assert ctx.job.classifier is not None
        ctx.classifier = resolve_classifier(ctx.job.classifier)
        single_thread_torch()
    return ctx.classifier


def single_thread_torch() -> int | None:
    """Run torch on one thread in this process (each worker is one core); returns the previous count."""
    if "torch" not in sys.modules:
        return None
    import torch

    previous = int(torch.get_num_threads())
    torch.set_num_threads(1)
    return previous


# ------------------------------------------------------------------------------------------ redaction


def _set_field(record: dict[str, Any], path: str, value: str) -> None:
    parts = path.split(".")
    cur = record
    for p in parts[:-1]:
        cur = cur[p]
    cur[parts[-1]] = value


class _PartWriter:
    """Writes the redacted copy of one shard (a part file, or text files directly)."""

    def __init__(self, out_dir: Path, shard: Shard, text_field: str) -> None:
        self.out_dir = out_dir
        self.shard = shard
        self.text_field = text_field
        self.parts_dir = out_dir / ".parts"
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.parts_dir / f"{shard.index:08d}.part"
        self._tmp = self.path.with_suffix(".tmp")
        self._fh: Any = None
        self._rows: list[dict[str, Any]] = []
        self._pq_writer: Any = None
        if shard.format == "jsonl":
            self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()
        elif shard.format == "jsonl.gz":
            self._fh = gzip.open(self._tmp, "wb")  # noqa: SIM115 - concatenated gzip members form one file

    def write(self, doc: Document, spans: Sequence[pii.Span]) -> None:
        fmt = self.shard.format
        if fmt == "text":
            src = self.shard.sources[doc.source]
            target = self.out_dir / src.rel
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_text(pii.redact(doc.text, spans), encoding="utf-8")
            os.replace(tmp, target)
            return
        if fmt == "parquet":
            rec = dict(doc.record) if doc.record is not None else {}
            if spans and doc.error is None:
                _set_field(rec, self.text_field, pii.redact(doc.text, spans))
            elif doc.error is not None:
                for k, v in rec.items():
                    if isinstance(v, str):
                        rec[k] = pii.redact(v, pii.detect(v))
            self._rows.append(rec)
            if len(self._rows) >= 4096:
                self._flush_parquet()
            return
        if doc.error is not None:
            # An invalid line is kept, redacted as plain text: nothing is lost, nothing leaks.
            raw = (doc.raw or b"").decode("utf-8", errors="replace")
            line = pii.redact(raw, pii.detect(raw)).encode("utf-8")
        elif spans:
            rec = doc.record
            _set_field(rec, self.text_field, pii.redact(doc.text, spans))
            line = json.dumps(rec, ensure_ascii=False).encode("utf-8")
        else:
            line = doc.raw or b""
        self._fh.write(line + b"\n")

    def _flush_parquet(self) -> None:
        if not self._rows:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pq.ParquetFile(self.shard.sources[0].path).schema_arrow
        table = pa.Table.from_pylist(self._rows, schema=schema)
        if self._pq_writer is None:
            self._pq_writer = pq.ParquetWriter(str(self._tmp), schema)
        self._pq_writer.write_table(table)
        self._rows.clear()

    def close(self) -> None:
        if self.shard.format == "parquet":
            self._flush_parquet()
            if self._pq_writer is None:
                import pyarrow.parquet as pq

                schema = pq.ParquetFile(self.shard.sources[0].path).schema_arrow
                self._pq_writer = pq.ParquetWriter(str(self._tmp), schema)
            self._pq_writer.close()
            os.replace(self._tmp, self.path)
        elif self._fh is not None:
            self._fh.close()
            os.replace(self._tmp, self.path)

    def abort(self) -> None:
        try:
            if self._fh is not None:
                self._fh.close()
            if self._pq_writer is not None:
                self._pq_writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------ the worker


def _score_batch(ctx: _Context, batch: list[list[str]], part: Partial, settings: AuditSettings) -> None:
    """Score the lines of a batch of documents and add the document means to ``part``."""
    if not batch:
        return
    unique: dict[str, int] = {}
    for lines in batch:
        for ln in lines:
            unique.setdefault(ln, len(unique))
    probs = _classifier(ctx).predict_proba(list(unique))
    bins = settings.toxicity_bins
    if len(part.tox_hist) < bins:
        part.tox_hist.extend([0] * (bins - len(part.tox_hist)))
    for lines in batch:
        score = math.fsum(float(probs[unique[ln]]) for ln in lines) / len(lines)
        score = min(1.0, max(0.0, score))
        part.tox_docs += 1
        part.tox_lines += len(lines)
        if score >= settings.toxicity_threshold:
            part.tox_at_or_above += 1
        part.tox_sum += round(score * FIXED_POINT)
        part.tox_sumsq += round(score * score * FIXED_POINT)
        part.tox_hist[min(bins - 1, int(score * bins))] += 1


def process_shard(job: AuditJob, shard: Shard) -> ShardResult:
    """Audit one shard: the function every engine (in-process, process pool, Dask) runs.

    User errors are returned in :attr:`ShardResult.error` (with their hint) rather than raised, so
    they survive the trip back from another process or machine.
    """
    t0 = time.process_time()
    try:
        result = _process_shard(job, shard)
    except SafetylensError as exc:
        result = ShardResult(shard.index, Partial(), shard.nbytes, error=(type(exc).__name__, exc.message, exc.hint))
    result.cpu_seconds = time.process_time() - t0
    return result


def _process_shard(job: AuditJob, shard: Shard) -> ShardResult:
    ctx = _context(job)
    job = ctx.job  # this process' copy, whose language model is already loaded after the first shard
    s = job.settings
    part = Partial(tox_hist=[0] * s.toxicity_bins)
    writer = _PartWriter(Path(s.redact_dir), shard, s.reader.text_field) if s.redact_dir else None
    tox_on = "toxicity" in s.analyses and job.classifier is not None
    tox_fraction = min(s.sample, s.toxicity_sample)
    want_pii = "pii" in s.analyses
    pending: list[list[str]] = []
    used_classifier = False
    try:
        for doc in iter_documents(shard, s.reader):
            part.documents_read += 1
            if doc.error is not None:
                part.documents_invalid += 1
                if writer is not None:
                    writer.write(doc, ())
                continue
            if doc.replaced:
                part.documents_replaced_bytes += 1
            u = unit_interval(s.seed, doc.key)
            sampled = u < s.sample
            spans: list[pii.Span] | None = None
            if writer is not None or (want_pii and sampled):
                spans = pii.detect(doc.text, s.pii_types)
            if writer is not None:
                assert spans is not None
                writer.write(doc, spans)
                part.redact_docs += 1
                if spans:
                    part.redact_changed += 1
                    types = Counter(sp.type for sp in spans)
                    part.redact_spans.update(types)
                    part.redact_type_docs.update(types.keys())
            if not sampled:
                continue
            part.documents_sampled += 1
            part.characters_sampled += len(doc.text)
            if not doc.text.strip():
                part.empty_sampled += 1
            feats = analyse_document(doc.text, settings=s, lexicon=job.lexicon, language=job.language, spans=spans)
            _count(part, feats)
            if tox_on and u < tox_fraction:
                part.tox_sampled += 1
                if s.toxicity_english_only and feats.language != "en":
                    part.tox_other_language += 1
                    continue
                lines = document_lines(doc.text)
                if not lines:
                    part.tox_no_lines += 1
                    continue
                pending.append(lines)
                if len(pending) >= s.toxicity_batch_docs:
                    _score_batch(ctx, pending, part, s)
                    used_classifier = True
                    pending = []
        if pending:
            _score_batch(ctx, pending, part, s)
            used_classifier = True
        if writer is not None:
            writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    record = None
    if used_classifier and ctx.classifier is not None:
        record = ctx.classifier.record.model_dump(mode="json")
    return ShardResult(shard.index, part, shard.nbytes, classifier_record=record)


def _count(part: Partial, feats: DocFeatures) -> None:
    if feats.spans is not None:
        types = Counter(sp.type for sp in feats.spans)
        part.pii_spans.update(types)
        part.pii_docs.update(types.keys())
        part.pii_kind_docs.update({f"{sp.type}:{sp.kind}" for sp in feats.spans if sp.kind})
        if types:
            part.pii_any_docs += 1
    if feats.pronouns is not None:
        part.pronoun_docs.update(feats.pronouns)
    if feats.identity is not None:
        part.identity_axis_docs.update({axis for axis, _ in feats.identity})
        part.identity_term_docs.update(f"{axis}\t{term}" for axis, term in feats.identity)
    if feats.language is not None:
        part.language_docs[feats.language or UNKNOWN] += 1


Engine = Literal["local", "dask"]
