"""Prompts and responses into a study: from run outputs, JSONL/CSV files, or a model backend.

Sources:

- a run's ``generations.jsonl`` (records ``{benchmark, id, meta, prompt, output, ...}``; the model
  name is read from the run's ``manifest.json`` unless given). When the run's ``scores.jsonl`` lies
  beside it, each ``safety`` answer keeps its harm judge's verdict (rating 1-5, violation,
  P(violation), the judge's id) in its response's ``meta["judge"]``, so that study results can put
  the judge beside people (:mod:`safetylens.human.results`);
- JSONL or CSV files with one prompt (and optionally one response) per line, e.g. XSTest's
  ``completions_*.csv`` (``id, type, prompt, completion, ...``);
- generation for the study's prompts through any model backend (:func:`generate_responses`).

Each import runs in one transaction (all or nothing; several files of one command together) and
is idempotent: importing the same file again adds nothing, while a prompt id that comes back with a
different conversation, or a (prompt, model) pair with a different response, is refused instead of
silently overwritten.

Files are checked in full before the database is touched, and every problem is a
:class:`~safetylens.errors.DataError` naming the file (as its user knows it: an upload's own name,
never a path on the server) and the line: text that is not UTF-8, malformed JSON or CSV (a row with
more or fewer fields than the header), nesting deeper than :data:`MAX_JSON_DEPTH`, text no database
column can hold alike (NUL characters, lone surrogates, NaN), empty or missing ids, prompts and
responses. Every record needs a response unless prompts alone are asked for (``prompts_only``:
prompts whose responses are generated later), so a misnamed response column is never read as
"prompts only".

Items are made as responses arrive: one per response in safety studies; one per pair of models
in pairwise studies (the configured pairs, or every pair present), with the side each model is
shown on (A or B) drawn per item from the study seed and stored.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import random
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import combinations
from pathlib import Path, PurePath
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from safetylens.errors import ConfigError, DataError
from safetylens.human.assignment import ORDER_KEY_RANGE, invalidate_caches
from safetylens.human.db import Database, utcnow
from safetylens.human.models import Batch, Item, Prompt, Response, Study
from safetylens.human.scales import ATTACK_VECTORS, RISK_CATEGORIES
from safetylens.human.studies import audit, find_study, get_or_create_batch
from safetylens.judge_people import BENCHMARK as SAFETY_BENCHMARK
from safetylens.judge_people import SCORES_FILE, judge_verdict
from safetylens.util import chunks

Format = Literal["auto", "generations", "jsonl", "csv"]
ROLES = ("system", "user", "assistant")
MAX_TEXT = 200_000
# Real records nest a few levels (a message list in a conversation, a dict in meta).
MAX_JSON_DEPTH = 64
# NUL (PostgreSQL text and JSON cannot hold it) and lone surrogates (no UTF-8 encoding).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

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
    # The keys the safety benchmark writes into a run's records (datasets.safety_prompts).
    "illicit_criminal": RISK_CATEGORIES[0],
    "hateful_harmful": RISK_CATEGORIES[1],
    "unqualified_advice": RISK_CATEGORIES[2],
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
        where: Where the record comes from (``file:line``), for messages; empty when made in code.
        response_meta: What is stored with the response: ``{"judge": verdict}`` for a safety answer
            whose run was scored (see :func:`safetylens.judge_people.judge_verdict`), else empty.
    """

    external_id: str
    conversation: list[dict[str, str]]
    response: str | None = None
    model: str | None = None
    risk_category: str | None = None
    attack_vectors: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    where: str = ""
    response_meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportSummary:
    """What an import changed.

    ``judge_verdicts`` counts the harm judge's verdicts stored by this import: with new responses,
    or added to responses imported before without one.
    """

    records: int = 0
    prompts_added: int = 0
    responses_added: int = 0
    responses_unchanged: int = 0
    items_added: int = 0
    judge_verdicts: int = 0
    models: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "records": self.records,
            "prompts_added": self.prompts_added,
            "responses_added": self.responses_added,
            "responses_unchanged": self.responses_unchanged,
            "items_added": self.items_added,
            "judge_verdicts": self.judge_verdicts,
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


def check_storable(value: object, where: str) -> None:
    """Refuse values that one database would store and another would not, or that are too deep.

    PostgreSQL cannot hold NUL characters in text or JSON, nor NaN or infinities in JSON, and no
    database driver encodes a lone surrogate; SQLite would take some of these, so a file would
    import on one database and fail with a driver error on the other. Nesting is bounded so that
    nothing downstream (JSON encoding, rendering) runs out of stack. The walk is iterative for the
    same reason.

    Raises:
        DataError: NUL character, lone surrogate, non-finite number, or nesting deeper than
            :data:`MAX_JSON_DEPTH`.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            _check_text(v, where)
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise DataError(f"{where}: {v} is not a finite number, which JSON cannot hold")
        elif isinstance(v, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise DataError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep")
            if isinstance(v, dict):
                for k, x in v.items():
                    _check_text(str(k), where)
                    stack.append((x, depth + 1))
            else:
                stack.extend((x, depth + 1) for x in v)


def _check_text(text: str, where: str) -> None:
    bad = _UNSTORABLE.search(text)
    if bad is None:
        return
    if bad.group() == "\x00":
        raise DataError(
            f"{where}: contains a NUL character (U+0000), which a database text column cannot hold",
            hint="remove the NUL characters from the file",
        )
    raise DataError(
        f"{where}: contains a lone surrogate (U+{ord(bad.group()):04X}), which is not valid Unicode",
        hint="fix the text's encoding (a surrogate pair cut in half, or text decoded with the wrong codec)",
    )


def _parse_json(raw: bytes | str, where: str) -> Any:
    """One JSON value, checked with :func:`check_storable`; every failure is a :class:`DataError`."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{where}: not UTF-8 text (byte {exc.start + 1} of the line)", hint="save the file as UTF-8"
            ) from exc
    try:
        value = json.loads(raw)
    except RecursionError:
        raise DataError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})") from exc
    except ValueError as exc:  # e.g. an integer longer than Python converts (4,300 digits)
        raise DataError(f"{where}: not valid JSON ({exc})") from exc
    check_storable(value, where)
    return value


def _json_lines(data: bytes, name: str) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for every non-blank line of a JSON-lines file's bytes."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    for lineno, raw in enumerate(data.splitlines(), start=1):
        if raw.strip():
            where = f"{name}:{lineno}"
            yield where, _parse_json(raw, where)


def _pick(obj: dict[str, Any], names: Sequence[str], override: str | None) -> tuple[str | None, Any]:
    """``(field, value)``: the first of ``names`` (or ``override`` alone) with a value.

    When every such field is empty, the first present one comes back with its empty value (so the
    caller can say "empty prompt" rather than "no prompt field"); ``(None, None)`` when none is present.
    """
    present = [n for n in ([override] if override else names) if n in obj]
    for n in present:
        if not _blank(obj[n]):
            return n, obj[n]
    return (present[0], obj[present[0]]) if present else (None, None)


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _first(obj: dict[str, Any], names: Sequence[str], override: str | None = None) -> Any:
    value = _pick(obj, names, override)[1]
    return None if _blank(value) else value


PROMPTS_ONLY_HINT = (
    "name the response column with --response-field; to import prompts without responses (to generate "
    "them later), ask for prompts only: --prompts-only, or the upload form's 'prompts only' box"
)


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
    obj: dict[str, Any],
    where: str,
    fields: FieldMap,
    default_model: str | None,
    default_category: str | None,
    prompts_only: bool,
) -> Record:
    id_field, raw_id = _pick(obj, _ID_FIELDS, fields.id)
    if id_field is None:
        raise DataError(f"{where}: no id field (looked for {fields.id or ', '.join(_ID_FIELDS)})")
    if _blank(raw_id) or not str(raw_id).strip():
        raise DataError(f"{where}: empty id (field {id_field!r})")
    prompt_field, prompt = _pick(obj, _PROMPT_FIELDS, fields.prompt)
    if prompt_field is None:
        raise DataError(f"{where}: no prompt field (looked for {fields.prompt or ', '.join(_PROMPT_FIELDS)})")
    if _blank(prompt):
        raise DataError(f"{where}: empty prompt (field {prompt_field!r})")
    if isinstance(prompt, str) and prompt.lstrip().startswith("[") and fields.prompt is None:
        # CSV cells may hold a JSON message list.
        try:
            decoded = json.loads(prompt)
        except RecursionError:
            raise DataError(f"{where}: JSON nested more than {MAX_JSON_DEPTH} levels deep") from None
        except ValueError:
            decoded = None  # not JSON: the text itself is the prompt
        if isinstance(decoded, list) and decoded and isinstance(decoded[0], dict):
            check_storable(decoded, where)
            prompt = decoded
    conversation = normalize_conversation(prompt, where)
    response_field, response = _pick(obj, _RESPONSE_FIELDS, fields.response)
    if prompts_only:
        if not _blank(response):
            raise DataError(
                f"{where}: has a response (field {response_field!r}) but only prompts were asked for",
                hint="import without --prompts-only (or the form's 'prompts only' box) to keep the responses",
            )
        response = None
    elif response_field is None:
        looked = fields.response or ", ".join(_RESPONSE_FIELDS)
        raise DataError(f"{where}: no response field (looked for {looked})", hint=PROMPTS_ONLY_HINT)
    elif _blank(response):
        raise DataError(f"{where}: empty response (field {response_field!r})", hint=PROMPTS_ONLY_HINT)
    elif not isinstance(response, str):
        raise DataError(f"{where}: the response must be text, got {type(response).__name__}")
    elif len(response) > MAX_TEXT:
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
        conversation=conversation,
        response=response,
        model=str(model)[:255] if model else None,
        risk_category=normalize_category(category if category is not None else default_category),
        attack_vectors=normalize_vectors(_first(obj, _VECTOR_FIELDS, fields.vectors)),
        meta=meta,
        where=where,
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


def parse_run_scores(data: bytes, name: str) -> dict[str, dict[str, Any]]:
    """The harm judge's verdicts in a run's ``scores.jsonl`` (its bytes), by the safety answer's id.

    Scores of other benchmarks, and answers the judge gave no rating (``parsed`` false), are left
    out: an answer without a verdict is imported without one.

    Raises:
        DataError: A malformed line, or a safety score without a 1-5 rating or a P(violation)
            (with the file's name and line).
    """
    out: dict[str, dict[str, Any]] = {}
    for where, rec in _json_lines(data, name):
        if not isinstance(rec, dict) or "id" not in rec:
            raise DataError(f"{where}: not a scores.jsonl record (needs an id)")
        if rec.get("benchmark", SAFETY_BENCHMARK) != SAFETY_BENCHMARK or "rating" not in rec:
            continue
        try:
            verdict = judge_verdict(rec)
        except DataError as exc:
            raise DataError(f"{where}: {exc.message}") from None
        if verdict is not None:
            out[str(rec["id"])] = verdict
    return out


def read_run_scores(generations: Path) -> dict[str, dict[str, Any]]:
    """The judge's verdicts in the ``scores.jsonl`` beside a run's ``generations.jsonl``.

    See :func:`parse_run_scores`; empty when the run has not been scored.

    Raises:
        DataError: An unreadable or malformed scores file.
    """
    path = generations.parent / SCORES_FILE
    if not path.is_file():
        return {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror})") from exc
    return parse_run_scores(data, str(path))


def parse_generations(
    data: bytes,
    name: str,
    *,
    model: str | None = None,
    default_category: str | None = None,
    scores: dict[str, dict[str, Any]] | None = None,
) -> Iterator[Record]:
    """Records of a run's ``generations.jsonl`` (its bytes; ``name`` names it in messages).

    The external id is ``<benchmark>:<id>``. Records without an ``output`` (log-likelihood
    benchmarks) are skipped: they have nothing to rate. ``scores`` (from :func:`parse_run_scores`)
    gives safety answers their judge's verdict.

    Raises:
        DataError: Malformed lines or no model name.
    """
    if not model:
        raise DataError(
            f"{name}: cannot tell which model wrote these generations (no manifest.json beside it)",
            hint="pass --model NAME",
        )
    for where, rec in _json_lines(data, name):
        if not isinstance(rec, dict) or "id" not in rec or "benchmark" not in rec:
            raise DataError(f"{where}: not a generations.jsonl record (needs benchmark and id)")
        if "output" not in rec or "prompt" not in rec:
            continue
        meta = dict(rec.get("meta") or {})
        category = meta.pop("risk_category", None) or default_category
        vectors = meta.pop("attack_vector", None) or meta.pop("attack_vectors", None)
        verdict = (scores or {}).get(str(rec["id"])) if rec["benchmark"] == SAFETY_BENCHMARK else None
        yield Record(
            external_id=f"{rec['benchmark']}:{rec['id']}"[:255],
            conversation=normalize_conversation(rec["prompt"], where),
            response=str(rec["output"]),
            model=model,
            risk_category=normalize_category(category),
            attack_vectors=normalize_vectors(vectors),
            meta={"benchmark": rec["benchmark"], **meta},
            where=where,
            response_meta={"judge": verdict} if verdict is not None else {},
        )


def parse_jsonl(
    data: bytes,
    name: str,
    *,
    model: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
    prompts_only: bool = False,
) -> Iterator[Record]:
    """Records of a JSONL file's bytes (one object per line; ``name`` names it in messages).

    Raises:
        DataError: Not UTF-8, malformed or unstorable JSON, missing fields (with the line number).
    """
    for where, obj in _json_lines(data, name):
        if not isinstance(obj, dict):
            raise DataError(f"{where}: expected a JSON object")
        yield _record_from_obj(obj, where, fields or FieldMap(), model, default_category, prompts_only)


def parse_csv(
    data: bytes,
    name: str,
    *,
    model: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
    prompts_only: bool = False,
) -> Iterator[Record]:
    """Records of a CSV file's bytes, which start with a header row (``name`` names it in messages).

    Every row must have as many fields as the header: a missing or extra comma shifts values into
    the wrong columns, which is refused rather than guessed at.

    Raises:
        DataError: Not UTF-8, malformed CSV, a row of the wrong length, a column named twice,
            missing fields (with the line number).
    """
    fields = fields or FieldMap()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(f"{name}:{line}: not UTF-8 text", hint="save the file as UTF-8") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise DataError(f"{name}: empty CSV file (the first line must name the columns)")
        check_storable(header, f"{name}:1")
        seen: set[str] = set()
        for h in header:
            if h in seen:
                raise DataError(f"{name}:1: column {h!r} appears twice in the header")
            seen.add(h)
        has_response = fields.response in seen if fields.response else bool(seen & set(_RESPONSE_FIELDS))
        if not prompts_only and not has_response:
            looked = fields.response or ", ".join(_RESPONSE_FIELDS)
            raise DataError(f"{name}:1: no response column (looked for {looked})", hint=PROMPTS_ONLY_HINT)
        end = reader.line_num
        for row in reader:
            where = f"{name}:{end + 1}"  # the line the record starts on (a quoted cell may span lines)
            end = reader.line_num
            if not row:
                continue  # a blank line
            if len(row) != len(header):
                raise DataError(f"{where}: {len(row)} fields, the header has {len(header)}")
            check_storable(row, where)
            yield _record_from_obj(
                dict(zip(header, row, strict=True)), where, fields, model, default_category, prompts_only
            )
    except csv.Error as exc:
        raise DataError(f"{name}:{reader.line_num}: malformed CSV ({exc})") from exc


def detect_format(name: str, data: bytes) -> Literal["generations", "jsonl", "csv"]:
    """Guess a file's format from its name and first record.

    Raises:
        DataError: Unknown extension, or a first line that is not JSON in a JSON-lines file.
    """
    suffix = PurePath(name).suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".json", ".ndjson"):
        if PurePath(name).name == "generations.jsonl":
            return "generations"
        for _, first in _json_lines(data, name):
            if isinstance(first, dict) and "benchmark" in first and "output" in first:
                return "generations"
            break
        return "jsonl"
    raise DataError(f"{name}: cannot tell the format from the extension {suffix!r}", hint="pass --format jsonl or csv")


def parse_records(
    data: bytes,
    name: str,
    fmt: Format = "auto",
    *,
    model: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
    prompts_only: bool = False,
    scores: dict[str, dict[str, Any]] | None = None,
) -> list[Record]:
    """All records of a file's contents, checked before any database change.

    Args:
        data: The file's bytes.
        name: How messages name the file: the user's own file name (an upload's), never a path
            on the server.
        fmt: ``auto`` (from the name and first record), ``generations``, ``jsonl`` or ``csv``.
        model: Model name for records that do not name one.
        fields: Column names, when not the usual ones.
        default_category: Risk category for records without one.
        prompts_only: Import prompts without responses (to generate responses later); records
            must then carry no response. Otherwise every record must have one.
        scores: A run's judge verdicts by answer id (:func:`parse_run_scores`), for ``generations``.

    Raises:
        DataError: Malformed file, with the file's name and line.
        ConfigError: Prompts only asked for from a run's generations.
    """
    kind = detect_format(name, data) if fmt == "auto" else fmt
    if kind == "generations":
        if prompts_only:
            raise ConfigError("prompts only: a run's generations.jsonl holds responses", hint="use --format jsonl")
        return list(parse_generations(data, name, model=model, default_category=default_category, scores=scores))
    if kind == "jsonl":
        return list(
            parse_jsonl(
                data, name, model=model, fields=fields, default_category=default_category, prompts_only=prompts_only
            )
        )
    if kind == "csv":
        return list(
            parse_csv(
                data, name, model=model, fields=fields, default_category=default_category, prompts_only=prompts_only
            )
        )
    raise DataError(f"unknown format {fmt!r}", hint="auto, generations, jsonl or csv")


def read_records(
    path: Path,
    fmt: Format = "auto",
    *,
    model: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
    prompts_only: bool = False,
) -> list[Record]:
    """All records of a file (read fully before any database change); see :func:`parse_records`.

    A run's ``generations.jsonl`` takes its model name from the run's ``manifest.json`` unless
    ``model`` is given, and its safety answers' judge verdicts from the run's ``scores.jsonl``.

    Raises:
        DataError: Missing, unreadable or malformed file (or the run's scores file).
    """
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the file ({exc.strerror})") from exc
    kind = detect_format(str(path), data) if fmt == "auto" else fmt
    scores = None
    if kind == "generations":
        model = model or _run_model_name(path)
        scores = read_run_scores(path)
    return parse_records(
        data,
        str(path),
        kind,
        model=model,
        fields=fields,
        default_category=default_category,
        prompts_only=prompts_only,
        scores=scores,
    )


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


def _check_records(records: Sequence[Record], source: str) -> None:
    """What can be checked before the database is touched: model names, ids, storable text."""
    seen_ids: dict[str, list[dict[str, str]]] = {}
    for i, rec in enumerate(records):
        where = rec.where or f"{source or 'records'}: record {i + 1} ({rec.external_id})"
        if rec.response is not None and not rec.model:
            raise DataError(f"{where}: a response needs a model name", hint="pass --model NAME")
        # Records made in code (generated responses, replays) get the same check as files.
        check_storable(
            [
                rec.external_id,
                rec.conversation,
                rec.response,
                rec.model,
                rec.risk_category,
                rec.attack_vectors,
                rec.meta,
                rec.response_meta,
            ],
            where,
        )
        prev = seen_ids.setdefault(rec.external_id, rec.conversation)
        if prev != rec.conversation:
            raise DataError(f"{where}: prompt id {rec.external_id!r} appears with two different conversations")


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
        DataError: A response without a model name, text a database cannot store, a prompt id
            reused for another conversation, or a different response for a (prompt, model)
            already present.
    """
    return import_sources(db, study_ref, [(source, records)], batch=batch, actor_id=actor_id)[0]


def import_sources(
    db: Database,
    study_ref: str | int,
    sources: Sequence[tuple[str, Sequence[Record]]],
    *,
    batch: str | None = None,
    actor_id: int | None = None,
) -> list[ImportSummary]:
    """Import several files' records into a study in one transaction: all of them or none.

    Args:
        db: Database.
        study_ref: Study id or name.
        sources: ``(source, records)`` per file; ``source`` is stored with the new prompts and
            responses and audited.
        batch: Batch of the new items.
        actor_id: Who imports (audit log).

    Returns:
        One summary per source, in order.

    Raises:
        DataError: As :func:`import_records`, for any source (a conflict between two sources too).
    """
    for source, records in sources:
        _check_records(records, source)
    with db.write() as s:
        study = find_study(s, study_ref)
        b = get_or_create_batch(s, study.id, batch)
        summaries = [_import_into(s, study, b, records, source, actor_id) for source, records in sources]
        study_id = study.id
    invalidate_caches(study_id)
    if db.is_postgres and any(x.items_added for x in summaries):
        refresh_statistics(db)
    return summaries


def _import_into(
    s: Session, study: Study, b: Batch, records: Sequence[Record], source: str, actor_id: int | None
) -> ImportSummary:
    # Bulk reads and writes (a few statements per import, not per record): a round trip per
    # record made an 8,000-record import take minutes on PostgreSQL.
    summary = ImportSummary(records=len(records))
    now = utcnow()
    prompts, old_ids = _add_prompts(s, study, records, source, now)
    summary.prompts_added = len(prompts) - len(old_ids)
    by_prompt = _add_responses(s, prompts, old_ids, records, source, now, summary)
    existing = set(s.scalars(select(Item.dedupe_key).where(Item.study_id == study.id)))
    items: list[Item] = []
    for prompt_id, responses in by_prompt.items():
        items += _make_items(study, prompts[prompt_id], sorted(responses, key=lambda r: r.id), b.id, existing, now)
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
    return summary


def _add_prompts(
    s: Session, study: Study, records: Sequence[Record], source: str, now: datetime
) -> tuple[dict[int, Prompt], set[int]]:
    """Every record's prompt by id, new ones added, and the ids of those the study had before.

    Raises:
        DataError: A prompt id the study holds with another conversation.
    """
    ids = list({rec.external_id: None for rec in records})
    by_external: dict[str, Prompt] = {}
    for chunk in chunks(ids, 1000):  # within any database's limit on bound parameters
        for p in s.scalars(select(Prompt).where(Prompt.study_id == study.id, Prompt.external_id.in_(chunk))):
            by_external[p.external_id] = p
    old_ids = {p.id for p in by_external.values()}
    new_prompts: list[Prompt] = []
    for rec in records:
        prompt = by_external.get(rec.external_id)
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
            by_external[rec.external_id] = prompt
        elif prompt.conversation != rec.conversation:
            raise DataError(
                f"{_at(rec)}prompt id {rec.external_id!r} is already in study {study.name!r} with a different "
                "conversation",
                hint="give the new prompt another id",
            )
    s.add_all(new_prompts)
    s.flush()
    return {p.id: p for p in by_external.values()}, old_ids


def _add_responses(
    s: Session,
    prompts: dict[int, Prompt],
    old_ids: set[int],
    records: Sequence[Record],
    source: str,
    now: datetime,
    summary: ImportSummary,
) -> dict[int, list[Response]]:
    """Add the records' new responses; every response of each prompt a record answers, by prompt id.

    Raises:
        DataError: A (prompt, model) pair that already has another response, or another judge verdict.
    """
    stored: dict[tuple[int, str], Response] = {}
    for chunk in chunks(sorted(old_ids), 1000):
        for r in s.scalars(select(Response).where(Response.prompt_id.in_(chunk))):
            stored[(r.prompt_id, r.model)] = r
    prompt_of = {p.external_id: p for p in prompts.values()}
    touched: dict[int, None] = {}  # in record order, which is the new items' order
    new_responses: list[Response] = []
    for rec in records:
        if rec.response is None:
            continue
        assert rec.model is not None
        prompt = prompt_of[rec.external_id]
        summary.models.add(rec.model)
        touched[prompt.id] = None
        known = stored.get((prompt.id, rec.model))
        if known is None:
            known = Response(
                prompt_id=prompt.id,
                model=rec.model,
                text=rec.response,
                source=source[:500],
                meta=dict(rec.response_meta),
                created_at=now,
            )
            new_responses.append(known)
            stored[(prompt.id, rec.model)] = known
            summary.responses_added += 1
            summary.judge_verdicts += int("judge" in rec.response_meta)
            continue
        if known.text != rec.response:
            raise DataError(
                f"{_at(rec)}prompt {rec.external_id!r} already has a different response from model {rec.model!r}",
                hint="import it under another model name, or into a new study",
            )
        summary.responses_unchanged += 1
        summary.judge_verdicts += int(_merge_judge(known, rec))
    s.add_all(new_responses)
    s.flush()
    by_prompt: dict[int, list[Response]] = {pid: [] for pid in touched}
    for (pid, _), r in stored.items():
        if pid in by_prompt:
            by_prompt[pid].append(r)
    return by_prompt


def _merge_judge(response: Response, rec: Record) -> bool:
    """Give a stored response the record's judge verdict when it has none; True when one was added.

    A response imported before its run was scored gains the verdict on a later import; a verdict
    already there is kept, and a different one (another judge, another rating) is refused rather
    than silently replaced, as a different response text is.

    Raises:
        DataError: The response already has a judge verdict that differs from the record's.
    """
    new = rec.response_meta.get("judge")
    if new is None:
        return False
    meta = dict(response.meta or {})
    old = meta.get("judge")
    if old is None:
        # A new dict, not an in-place change: the JSON column only notices reassignment.
        response.meta = {**meta, "judge": new}
        return True
    if (old.get("judge"), old.get("rating")) != (new["judge"], new["rating"]):
        raise DataError(
            f"{_at(rec)}the response of model {rec.model!r} to prompt {rec.external_id!r} already has a judge "
            f"verdict ({old.get('judge')}: rating {old.get('rating')}); this one says {new['judge']}: rating "
            f"{new['rating']}",
            hint="import the re-scored run into a new study",
        )
    return False


def _at(rec: Record) -> str:
    return f"{rec.where}: " if rec.where else ""


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
    prompts_only: bool = False,
    actor_id: int | None = None,
) -> ImportSummary:
    """Read a file and import it (see :func:`read_records` and :func:`import_records`)."""
    return import_files(
        db,
        study_ref,
        [path],
        fmt=fmt,
        model=model,
        batch=batch,
        fields=fields,
        default_category=default_category,
        prompts_only=prompts_only,
        actor_id=actor_id,
    )[0]


def import_files(
    db: Database,
    study_ref: str | int,
    paths: Sequence[Path],
    *,
    fmt: Format = "auto",
    model: str | None = None,
    batch: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
    prompts_only: bool = False,
    actor_id: int | None = None,
) -> list[ImportSummary]:
    """Read every file, then import them all in one transaction (a bad file imports none of them).

    Options are those of :func:`parse_records`; returns one summary per file.

    Raises:
        DataError: A file that is missing, malformed or empty, or records that conflict with the
            study or with each other (the message names the file and line).
    """
    sources: list[tuple[str, Sequence[Record]]] = []
    for path in paths:
        records = read_records(
            path, fmt, model=model, fields=fields, default_category=default_category, prompts_only=prompts_only
        )
        if not records:
            raise DataError(f"{path}: no records to import")
        sources.append((str(path), records))
    return import_sources(db, study_ref, sources, batch=batch, actor_id=actor_id)


def import_data(
    db: Database,
    study_ref: str | int,
    data: bytes,
    name: str,
    *,
    fmt: Format = "auto",
    model: str | None = None,
    batch: str | None = None,
    fields: FieldMap | None = None,
    default_category: str | None = None,
    prompts_only: bool = False,
    actor_id: int | None = None,
) -> ImportSummary:
    """Import a file's contents (an upload), named ``name`` in messages and in the stored source.

    Raises:
        DataError: As :func:`import_files`.
    """
    records = parse_records(
        data,
        name,
        fmt,
        model=model,
        fields=fields,
        default_category=default_category,
        prompts_only=prompts_only,
    )
    if not records:
        raise DataError(f"{name}: no records to import")
    return import_records(db, study_ref, records, batch=batch, source=name, actor_id=actor_id)


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
    study_id, prompts = _prompts_without_response(db, study_ref, name)
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
        study_id,
        records,
        batch=batch,
        source=f"generated:{json.dumps(identity, sort_keys=True)[:480]}",
        actor_id=actor_id,
    )
    return summary


def _prompts_without_response(db: Database, study_ref: str | int, model: str) -> tuple[int, list[Prompt]]:
    """The study's id and, in prompt order, its prompts that have no response from ``model`` yet."""
    with db.read() as s:
        study = find_study(s, study_ref)
        done = set(
            s.scalars(
                select(Response.prompt_id)
                .join(Prompt, Prompt.id == Response.prompt_id)
                .where(Prompt.study_id == study.id, Response.model == model)
            )
        )
        prompts = [
            p
            for p in s.scalars(select(Prompt).where(Prompt.study_id == study.id).order_by(Prompt.id))
            if p.id not in done
        ]
        return study.id, prompts
