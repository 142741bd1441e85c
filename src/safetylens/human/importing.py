"""Prompts and responses into a study: from run outputs, JSONL/CSV files, or a model backend.

Sources:

- a run's ``generations.jsonl`` (records ``{benchmark, id, meta, prompt, output, ...}``; the model
  name is read from the run's ``manifest.json`` unless given);
- JSONL or CSV files with one prompt (and optionally one response) per line, e.g. XSTest's
  ``completions_*.csv`` (``id, type, prompt, completion, ...``);
- generation for the study's prompts through any model backend (:func:`generate_responses`).

Each import runs in one transaction (all or nothing) and is idempotent: importing the same file
again adds nothing, while a prompt id that comes back with a different conversation, or a
(prompt, model) pair with a different response, is refused instead of silently overwritten.

Items are made as responses arrive: one per response in safety studies; one per pair of models
in pairwise studies (the configured pairs, or every pair present), with the side each model is
shown on (A or B) drawn per item from the study seed and stored.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import select

from safetylens.errors import DataError
from safetylens.human.assignment import ORDER_KEY_RANGE, invalidate_caches
from safetylens.human.db import Database, utcnow
from safetylens.human.models import Item, Prompt, Response, Study
from safetylens.human.scales import ATTACK_VECTORS, RISK_CATEGORIES
from safetylens.human.studies import audit, find_study, get_or_create_batch
from safetylens.util import chunks

Format = Literal["auto", "generations", "jsonl", "csv"]
ROLES = ("system", "user", "assistant")
MAX_TEXT = 200_000

_ID_FIELDS = ("id", "prompt_id", "external_id", "uid")
_PROMPT_FIELDS = ("conversation", "messages", "prompt", "question", "input")
_RESPONSE_FIELDS = ("response", "output", "completion", "answer", "generation")
_MODEL_FIELDS = ("model", "model_name")
_CATEGORY_FIELDS = ("risk_category", "category")
_VECTOR_FIELDS = ("attack_vector", "attack_vectors")

_CATEGORY_SYNONYMS = {
    "illicit and criminal activities": RISK_CATEGORIES[0],
    "illicit and criminal activity": RISK_CATEGORIES[0],
    "illicit & criminal activities": RISK_CATEGORIES[0],
    "criminal": RISK_CATEGORIES[0],
    "hateful and harmful activities": RISK_CATEGORIES[1],
    "hateful and harmful": RISK_CATEGORIES[1],
    "hateful & harmful activities": RISK_CATEGORIES[1],
    "unqualified advice": RISK_CATEGORIES[2],
}


@dataclass
class Record:
    """One prompt, optionally with one model's response, as read from a file.

    Attributes:
        external_id: The prompt's id in its source.
        conversation: Normalised messages ending in a user turn.
        response: The model's response to the last user turn, or None for a prompt alone.
        model: Which model wrote the response.
        risk_category: Normalised risk category (None when not given).
        attack_vectors: Attack vectors.
        meta: Other fields, kept for export.
    """

    external_id: str
    conversation: list[dict[str, str]]
    response: str | None = None
    model: str | None = None
    risk_category: str | None = None
    attack_vectors: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportSummary:
    """What an import changed."""

    records: int = 0
    prompts_added: int = 0
    responses_added: int = 0
    responses_unchanged: int = 0
    items_added: int = 0
    models: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "records": self.records,
            "prompts_added": self.prompts_added,
            "responses_added": self.responses_added,
            "responses_unchanged": self.responses_unchanged,
            "items_added": self.items_added,
            "models": sorted(self.models),
        }


def normalize_category(value: object) -> str | None:
    """Map a risk category to the paper's wording when it is one of the paper's, else keep it."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    return _CATEGORY_SYNONYMS.get(text.lower(), text[:100])


def normalize_vectors(value: object) -> list[str]:
    """Attack vectors from a list or a ``;``/``|``-separated string (paper names matched loosely)."""
    if value is None:
        return []
    parts: list[str] = []
    if isinstance(value, str):
        for sep in (";", "|"):
            value = value.replace(sep, "\n")
        parts = [p.strip() for p in value.split("\n")]
    elif isinstance(value, list):
        parts = [str(p).strip() for p in value]
    else:
        parts = [str(value).strip()]
    known = {v.lower(): v for v in ATTACK_VECTORS}
    out = []
    for p in parts:
        if p:
            out.append(known.get(p.lower(), p[:100]))
    return out


def normalize_conversation(prompt: object, where: str) -> list[dict[str, str]]:
    """A prompt as a list of ``{role, content}`` messages ending in a user turn.

    Raises:
        DataError: Not a string or a list of messages; unknown role; empty; ends with the model.
    """
    if isinstance(prompt, str):
        if not prompt.strip():
            raise DataError(f"{where}: empty prompt")
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list):
        messages = []
        for i, m in enumerate(prompt):
            if not isinstance(m, dict) or not isinstance(m.get("content"), str) or m.get("role") not in ROLES:
                raise DataError(
                    f"{where}: message {i} must be {{'role': one of {'/'.join(ROLES)}, 'content': text}}, "
                    f"got {m!r:.120}"
                )
            messages.append({"role": str(m["role"]), "content": str(m["content"])})
    else:
        raise DataError(f"{where}: the prompt must be text or a list of messages, got {type(prompt).__name__}")
    if not any(m["role"] == "user" for m in messages):
        raise DataError(f"{where}: the conversation has no user turn")
    if messages[-1]["role"] != "user":
        raise DataError(f"{where}: the conversation must end with a user turn (the response answers it)")
    if sum(len(m["content"]) for m in messages) > MAX_TEXT:
        raise DataError(f"{where}: conversation longer than {MAX_TEXT} characters")
    return messages


def _first(obj: dict[str, Any], names: Sequence[str], override: str | None = None) -> Any:
    if override:
        return obj.get(override)
    for n in names:
        if n in obj and obj[n] not in (None, ""):
            return obj[n]
    return None


@dataclass(frozen=True)
class FieldMap:
    """Which columns hold what, when they are not the usual names.

    Attributes:
        id: Column with the prompt id.
        prompt: Column with the prompt text or message list.
        response: Column with the response.
        model: Column with the model name.
        category: Column with the risk category (e.g. ``type`` for XSTest).
        vectors: Column with attack vectors.
    """

    id: str | None = None
    prompt: str | None = None
    response: str | None = None
    model: str | None = None
    category: str | None = None
    vectors: str | None = None


def _record_from_obj(
    obj: dict[str, Any], where: str, fields: FieldMap, default_model: str | None, default_category: str | None
) -> Record:
    raw_id = _first(obj, _ID_FIELDS, fields.id)
    if raw_id is None:
        raise DataError(f"{where}: no id field (looked for {fields.id or ', '.join(_ID_FIELDS)})")
    prompt = _first(obj, _PROMPT_FIELDS, fields.prompt)
    if prompt is None:
        raise DataError(f"{where}: no prompt field (looked for {fields.prompt or ', '.join(_PROMPT_FIELDS)})")
    if isinstance(prompt, str) and prompt.lstrip().startswith("[") and fields.prompt is None:
        # CSV cells may hold a JSON message list.
        try:
            decoded = json.loads(prompt)
            if isinstance(decoded, list) and decoded and isinstance(decoded[0], dict):
                prompt = decoded
        except json.JSONDecodeError:
            pass
    response = _first(obj, _RESPONSE_FIELDS, fields.response)
    if response is not None and not isinstance(response, str):
        raise DataError(f"{where}: the response must be text, got {type(response).__name__}")
    if response is not None and len(response) > MAX_TEXT:
        raise DataError(f"{where}: response longer than {MAX_TEXT} characters")
    model = _first(obj, _MODEL_FIELDS, fields.model) or default_model
    category = _first(obj, _CATEGORY_FIELDS, fields.category)
    used = {fields.id, fields.prompt, fields.response, fields.model, fields.category, fields.vectors}
    used |= set(_ID_FIELDS) | set(_PROMPT_FIELDS) | set(_RESPONSE_FIELDS) | set(_MODEL_FIELDS)
    used |= set(_CATEGORY_FIELDS) | set(_VECTOR_FIELDS)
    meta = {k: v for k, v in obj.items() if k not in used and k != "meta"}
    if isinstance(obj.get("meta"), dict):
        meta.update(obj["meta"])
    return Record(
        external_id=str(raw_id).strip()[:255],
        conversation=normalize_conversation(prompt, where),
        response=response,
        model=str(model)[:255] if model else None,
        risk_category=normalize_category(category if category is not None else default_category),
        attack_vectors=normalize_vectors(_first(obj, _VECTOR_FIELDS, fields.vectors)),
        meta=meta,
    )


def _run_model_name(path: Path) -> str | None:
    manifest = path.parent / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        name = data.get("model", {}).get("model")
        return str(name) if name else None
    except (OSError, ValueError, AttributeError):
        return None


def read_generations(path: Path, *, model: str | None = None, default_category: str | None = None) -> Iterator[Record]:
    """Records of a run's ``generations.jsonl``.

    The external id is ``<benchmark>:<id>``; the model name comes from ``model`` or the run's
    manifest. Records without an ``output`` (log-likelihood benchmarks) are skipped.

    Raises:
        DataError: Malformed lines or no model name.
    """
    from safetylens.util import read_jsonl

    name = model or _run_model_name(path)
    if not name:
        raise DataError(
            f"{path}: cannot tell which model wrote these generations (no manifest.json beside it)",
            hint="pass --model NAME",
        )
    for lineno, rec in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{lineno}"
        if not isinstance(rec, dict) or "id" not in rec or "benchmark" not in rec:
            raise DataError(f"{where}: not a generations.jsonl record (needs benchmark and id)")
        if "output" not in rec or "prompt" not in rec:
            continue
        meta = dict(rec.get("meta") or {})
        category = meta.pop("risk_category", None) or default_category
        vectors = meta.pop("attack_vector", None) or meta.pop("attack_vectors", None)
        yield Record(
            external_id=f"{rec['benchmark']}:{rec['id']}"[:255],
            conversation=normalize_conversation(rec["prompt"], where),
            response=str(rec["output"]),
            model=name,
            risk_category=normalize_category(category),
            attack_vectors=normalize_vectors(vectors),
            meta={"benchmark": rec["benchmark"], **meta},
        )


def read_jsonl_file(
    path: Path, *, model: str | None = None, fields: FieldMap | None = None, default_category: str | None = None
) -> Iterator[Record]:
    """Records of a JSONL file (one object per line).

    Raises:
        DataError: Malformed JSON or missing fields (with the line number).
    """
    from safetylens.util import read_jsonl

    for lineno, obj in enumerate(read_jsonl(path), start=1):
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: expected a JSON object")
        yield _record_from_obj(obj, f"{path}:{lineno}", fields or FieldMap(), model, default_category)


def read_csv_file(
    path: Path, *, model: str | None = None, fields: FieldMap | None = None, default_category: str | None = None
) -> Iterator[Record]:
    """Records of a CSV file with a header row.

    Raises:
        DataError: Unreadable file or missing fields (with the row number).
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames:
                raise DataError(f"{path}: empty CSV file")
            for rowno, row in enumerate(reader, start=2):
                yield _record_from_obj(
                    {k: v for k, v in row.items() if k is not None},
                    f"{path}:{rowno}",
                    fields or FieldMap(),
                    model,
                    default_category,
                )
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from exc


def detect_format(path: Path) -> Literal["generations", "jsonl", "csv"]:
    """Guess a file's format from its name and first record.

    Raises:
        DataError: Unknown extension.
    """
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        if path.name == "generations.jsonl":
            return "generations"
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    try:
                        first = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path}:1: not valid JSON ({exc.msg})") from exc
                    if isinstance(first, dict) and "benchmark" in first and "output" in first:
                        return "generations"
                    break
        return "jsonl"
    raise DataError(f"{path}: cannot tell the format from the extension {suffix!r}", hint="pass --format jsonl or csv")


def read_records(
    path: Path,
    fmt: Format = "auto",
    *,
    model: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
) -> list[Record]:
    """All records of a file (read fully before any database change).

    Raises:
        DataError: Missing or malformed file.
    """
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind == "generations":
        return list(read_generations(path, model=model, default_category=default_category))
    if kind == "jsonl":
        return list(read_jsonl_file(path, model=model, fields=fields, default_category=default_category))
    if kind == "csv":
        return list(read_csv_file(path, model=model, fields=fields, default_category=default_category))
    raise DataError(f"unknown format {fmt!r}", hint="auto, generations, jsonl or csv")


def _unit_hash(seed: int, *parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in (seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _order_key(seed: int, dedupe_key: str) -> int:
    return _unit_hash(seed, "order", dedupe_key) % ORDER_KEY_RANGE


def a_is_first(seed: int, prompt_external_id: str, first: str, second: str) -> bool:
    """Whether the pair's first model is shown as Model A for this prompt (a fair coin per item)."""
    return random.Random(_unit_hash(seed, "ab", prompt_external_id, first, second)).random() < 0.5


def _pairs_for(study: Study, models: Iterable[str]) -> list[tuple[str, str]]:
    present = set(models)
    configured = [tuple(p) for p in (study.settings or {}).get("pairs", [])]
    if configured:
        return [(str(a), str(b)) for a, b in configured if a in present and b in present]
    return [(a, b) for a, b in combinations(sorted(present), 2)]


def _make_items(
    study: Study, prompt: Prompt, responses: Sequence[Response], batch_id: int, existing: set[str], now: datetime
) -> list[Item]:
    """The items a prompt's responses make that the study lacks (``existing``: its dedupe keys)."""
    wanted: list[Item] = []
    if study.kind == "safety":
        for r in responses:
            key = f"r:{r.id}"
            wanted.append(
                Item(
                    study_id=study.id,
                    batch_id=batch_id,
                    kind="rating",
                    prompt_id=prompt.id,
                    response_id=r.id,
                    response_b_id=None,
                    dedupe_key=key,
                    target_ratings=study.raters_per_item,
                    claimed=0,
                    completed=0,
                    order_key=_order_key(study.seed, key),
                    is_gold=False,
                    created_at=now,
                )
            )
    else:
        by_model = {r.model: r for r in responses}
        for first, second in _pairs_for(study, by_model):
            r1, r2 = by_model[first], by_model[second]
            lo, hi = sorted((r1.id, r2.id))
            key = f"p:{lo}:{hi}"
            a, b = (r1, r2) if a_is_first(study.seed, prompt.external_id, first, second) else (r2, r1)
            wanted.append(
                Item(
                    study_id=study.id,
                    batch_id=batch_id,
                    kind="pairwise",
                    prompt_id=prompt.id,
                    response_id=a.id,
                    response_b_id=b.id,
                    dedupe_key=key,
                    target_ratings=study.raters_per_item,
                    claimed=0,
                    completed=0,
                    order_key=_order_key(study.seed, key),
                    is_gold=False,
                    created_at=now,
                )
            )
    new = [w for w in wanted if w.dedupe_key not in existing]
    existing.update(w.dedupe_key for w in new)
    return new


def import_records(
    db: Database,
    study_ref: str | int,
    records: Sequence[Record],
    *,
    batch: str | None = None,
    source: str = "",
    actor_id: int | None = None,
) -> ImportSummary:
    """Add records' prompts, responses and the resulting items to a study, in one transaction.

    Raises:
        DataError: A response without a model name, a prompt id reused for another conversation,
            or a different response for a (prompt, model) already present.
    """
    summary = ImportSummary(records=len(records))
    seen_ids: dict[str, list[dict[str, str]]] = {}
    for i, rec in enumerate(records):
        if rec.response is not None and not rec.model:
            raise DataError(
                f"record {i + 1} ({rec.external_id}): a response needs a model name", hint="pass --model NAME"
            )
        prev = seen_ids.setdefault(rec.external_id, rec.conversation)
        if prev != rec.conversation:
            raise DataError(f"prompt id {rec.external_id!r} appears with two different conversations")
    with db.write() as s:
        study = find_study(s, study_ref)
        b = get_or_create_batch(s, study.id, batch)
        prompts: dict[str, Prompt] = {
            p.external_id: p
            for p in s.scalars(
                select(Prompt).where(Prompt.study_id == study.id, Prompt.external_id.in_(list(seen_ids)))
            )
        }
        now = utcnow()
        # Bulk reads and writes (a few statements per import, not per record): a round trip per
        # record made an 8,000-record import take minutes on PostgreSQL.
        new_prompts: list[Prompt] = []
        for rec in records:
            prompt = prompts.get(rec.external_id)
            if prompt is None:
                prompt = Prompt(
                    study_id=study.id,
                    external_id=rec.external_id,
                    conversation=rec.conversation,
                    n_user_turns=sum(1 for m in rec.conversation if m["role"] == "user"),
                    risk_category=rec.risk_category,
                    attack_vectors=rec.attack_vectors,
                    meta=rec.meta,
                    source=source[:500],
                    created_at=now,
                )
                new_prompts.append(prompt)
                prompts[rec.external_id] = prompt
            elif prompt.conversation != rec.conversation:
                raise DataError(
                    f"prompt id {rec.external_id!r} is already in study {study.name!r} with a different conversation",
                    hint="give the new prompt another id",
                )
        old_ids = [p.id for p in prompts.values() if p.id is not None]
        s.add_all(new_prompts)
        s.flush()
        summary.prompts_added = len(new_prompts)
        by_prompt: dict[int, list[Response]] = {}
        for chunk in chunks(old_ids, 1000):  # within any database's limit on bound parameters
            for r in s.scalars(select(Response).where(Response.prompt_id.in_(chunk))):
                by_prompt.setdefault(r.prompt_id, []).append(r)
        texts = {(r.prompt_id, r.model): r.text for rs in by_prompt.values() for r in rs}
        touched: dict[int, Prompt] = {}
        new_responses: list[Response] = []
        for rec in records:
            if rec.response is None:
                continue
            assert rec.model is not None
            prompt = prompts[rec.external_id]
            summary.models.add(rec.model)
            known = texts.get((prompt.id, rec.model))
            if known is not None:
                if known != rec.response:
                    raise DataError(
                        f"prompt {rec.external_id!r} already has a different response from model {rec.model!r}",
                        hint="import it under another model name, or into a new study",
                    )
                summary.responses_unchanged += 1
            else:
                response = Response(
                    prompt_id=prompt.id,
                    model=rec.model,
                    text=rec.response,
                    source=source[:500],
                    meta={},
                    created_at=now,
                )
                new_responses.append(response)
                texts[(prompt.id, rec.model)] = rec.response
                summary.responses_added += 1
            touched[prompt.id] = prompt
        s.add_all(new_responses)
        s.flush()
        for r in new_responses:
            by_prompt.setdefault(r.prompt_id, []).append(r)
        existing = set(s.scalars(select(Item.dedupe_key).where(Item.study_id == study.id)))
        items: list[Item] = []
        for prompt in touched.values():
            responses = sorted(by_prompt.get(prompt.id, []), key=lambda r: r.id)
            items += _make_items(study, prompt, responses, b.id, existing, now)
        s.add_all(items)
        s.flush()
        summary.items_added = len(items)
        audit(
            s,
            actor_id,
            "study.import",
            "study",
            study.id,
            study_id=study.id,
            details={"source": source[:500], "batch": b.name, **summary.as_dict()},
        )
        study_id = study.id
    invalidate_caches(study_id)
    if db.is_postgres and summary.items_added:
        refresh_statistics(db)
    return summary


def refresh_statistics(db: Database) -> None:
    """Have PostgreSQL re-read the hot path's tables' statistics now, after a bulk change.

    Autovacuum would analyze them within a minute or so; until then a table filled by an import
    is planned from its empty state (a study of 8,000 items estimated at 12 rows), and the item
    searches of the rating path then read and sort a whole study instead of stopping at its first
    open item (measured: 16 ms of database CPU per rating instead of ~1 ms). A few tens of ms.
    """
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "ANALYZE items, assignments, prompts, responses"
        )


def import_file(
    db: Database,
    study_ref: str | int,
    path: Path,
    *,
    fmt: Format = "auto",
    model: str | None = None,
    batch: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
    actor_id: int | None = None,
) -> ImportSummary:
    """Read a file and import it (see :func:`read_records` and :func:`import_records`)."""
    records = read_records(path, fmt, model=model, fields=fields, default_category=default_category)
    if not records:
        raise DataError(f"{path}: no records to import")
    return import_records(db, study_ref, records, batch=batch, source=str(path), actor_id=actor_id)


def generate_responses(
    db: Database,
    study_ref: str | int,
    backend: Any,
    *,
    decoding: Any = None,
    model_name: str | None = None,
    batch: str | None = None,
    limit: int | None = None,
    use_cache: bool = True,
    actor_id: int | None = None,
) -> ImportSummary:
    """Generate a response to every study prompt that lacks one from this model, and import them.

    Args:
        db: Database.
        study_ref: Study id or name.
        backend: A loaded :class:`~safetylens.models.base.ModelBackend`.
        decoding: :class:`~safetylens.models.base.Decoding` (default: the paper's 0.1 / 0.9, 256 tokens).
        model_name: Name stored with the responses (default: the backend's model name).
        batch: Batch of the new items.
        limit: Generate for at most this many prompts.
        use_cache: Reuse and fill the request cache.
        actor_id: Who started it (audit log).
    """
    from safetylens import paths
    from safetylens.cache import CachedModel, RequestCache
    from safetylens.models.base import Decoding, GenerationRequest, Message

    decoding = decoding or Decoding()
    name = model_name or backend.identity.model
    with db.read() as s:
        study = find_study(s, study_ref)
        done = set(
            s.scalars(
                select(Response.prompt_id)
                .join(Prompt, Prompt.id == Response.prompt_id)
                .where(Prompt.study_id == study.id, Response.model == name)
            )
        )
        prompts = [
            p
            for p in s.scalars(select(Prompt).where(Prompt.study_id == study.id).order_by(Prompt.id))
            if p.id not in done
        ]
    if limit is not None:
        prompts = prompts[:limit]
    if not prompts:
        return ImportSummary()
    requests = [
        GenerationRequest(
            prompt=tuple(Message(role=m["role"], content=m["content"]) for m in p.conversation),
            decoding=decoding,
        )
        for p in prompts
    ]
    cache = RequestCache(paths.request_cache_path()) if use_cache else None
    model = CachedModel(backend, cache)
    outputs: dict[int, str] = {}
    for idx, res in model.generate(requests):
        outputs[idx] = res.text
    records = [
        Record(
            external_id=p.external_id,
            conversation=list(p.conversation),
            response=outputs[i],
            model=name,
            risk_category=p.risk_category,
            attack_vectors=list(p.attack_vectors or []),
            meta=dict(p.meta or {}),
        )
        for i, p in enumerate(prompts)
    ]
    identity = backend.identity.model_dump(mode="json", exclude={"chat_template"})
    summary = import_records(
        db,
        study.id,
        records,
        batch=batch,
        source=f"generated:{json.dumps(identity, sort_keys=True)[:480]}",
        actor_id=actor_id,
    )
    return summary
