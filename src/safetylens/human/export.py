"""Export every rating with its provenance as CSV, JSONL or Parquet.

One row per rating: study, batch, item, prompt (id, conversation, risk category, attack vectors,
turns), the response(s) and the model(s) that wrote them, for pairwise items the side each model
was shown on (the A/B mapping) and the answer from the first model's point of view, the rater's
pseudonym (never the login name), the value and its label, comment, times (client-measured time on
the page, server-measured time from reservation to submission, timestamps) and the guidelines
version the rater had confirmed. A safety answer imported from a scored ``safety`` run also carries
the harm judge's verdict (judge id, 1-5 rating, violation flag, P(violation), harm), so that a team
can study judge and people side by side outside safetylens; the columns are empty otherwise.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from safetylens.errors import ConfigError
from safetylens.human.db import Database
from safetylens.human.results import RatingRow, load_ratings
from safetylens.human.scales import is_violation, pairwise_signed, scale_for
from safetylens.human.studies import find_study
from safetylens.util import atomic_write_text, csv_cell

ExportFormat = Literal["csv", "jsonl", "parquet"]
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "parquet")

COLUMNS = (
    "study",
    "study_kind",
    "batch",
    "item_id",
    "prompt_id",
    "risk_category",
    "attack_vectors",
    "turns",
    "conversation",
    "model",
    "response",
    "model_a",
    "model_b",
    "response_a",
    "response_b",
    "first_model",
    "second_model",
    "a_is_first",
    "rater",
    "value",
    "label",
    "violation",
    "signed_score_first_model",
    "comment",
    "time_spent_ms",
    "server_elapsed_ms",
    "reserved_at",
    "submitted_at",
    "guidelines_version",
    "scale",
    "judge",
    "judge_rating",
    "judge_violation",
    "judge_p_violation",
    "judge_harm",
)


def export_row(study_name: str, kind: str, r: RatingRow) -> dict[str, Any]:
    """One rating as a flat record (lists and conversations as JSON text in CSV)."""
    scale = scale_for(kind)
    pair = r.pair
    verdict = r.judge or {}
    return {
        "study": study_name,
        "study_kind": kind,
        "batch": r.batch,
        "item_id": r.item_id,
        "prompt_id": r.prompt_external_id,
        "risk_category": r.risk_category,
        "attack_vectors": list(r.attack_vectors),
        "turns": r.turns,
        "conversation": r.conversation,
        "model": r.model_a if kind == "safety" else None,
        "response": r.response_a if kind == "safety" else None,
        "model_a": r.model_a if kind == "pairwise" else None,
        "model_b": r.model_b,
        "response_a": r.response_a if kind == "pairwise" else None,
        "response_b": r.response_b,
        "first_model": pair[0] if pair else None,
        "second_model": pair[1] if pair else None,
        "a_is_first": r.a_is_first,
        "rater": r.rater,
        "value": r.value,
        "label": scale.label(r.value),
        "violation": is_violation(r.value) if kind == "safety" else None,
        "signed_score_first_model": pairwise_signed(r.value, r.a_is_first) if r.a_is_first is not None else None,
        "comment": r.comment,
        "time_spent_ms": r.time_spent_ms,
        "server_elapsed_ms": r.server_elapsed_ms,
        "reserved_at": r.reserved_at.isoformat() + "Z" if r.reserved_at else None,
        "submitted_at": r.submitted_at.isoformat() + "Z",
        "guidelines_version": r.guidelines_version,
        "scale": r.scale,
        "judge": verdict.get("judge"),
        "judge_rating": verdict.get("rating"),
        "judge_violation": verdict.get("violation"),
        "judge_p_violation": verdict.get("p_violation"),
        "judge_harm": verdict.get("harm"),
    }


def export_rows(db: Database, study_ref: str | int) -> tuple[str, list[dict[str, Any]]]:
    """The study name and its ratings as export records."""
    with db.read() as s:
        study = find_study(s, study_ref)
        rows = load_ratings(s, study)
        name, kind = study.name, study.kind
    return name, [export_row(name, kind, r) for r in rows]


def to_jsonl(records: Sequence[dict[str, Any]]) -> str:
    """JSON lines text."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def to_csv(records: Sequence[dict[str, Any]]) -> str:
    """CSV text; list and conversation fields are JSON-encoded, formula-like text cells neutralised.

    Text (prompts, responses, comments, names) gets a leading quote when a spreadsheet would read it
    as a formula (:func:`safetylens.util.csv_cell`); numbers such as a negative signed score stay
    numbers.
    """
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS), extrasaction="ignore")
    writer.writeheader()
    for r in records:
        flat = {
            k: csv_cell(json.dumps(v, ensure_ascii=False) if isinstance(v, (list, dict)) else v) for k, v in r.items()
        }
        writer.writerow(flat)
    return buf.getvalue()


def to_parquet_bytes(records: Sequence[dict[str, Any]]) -> bytes:
    """Parquet bytes (conversation and attack vectors as JSON text columns).

    Raises:
        ConfigError: pyarrow is not installed.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ConfigError("Parquet export needs pyarrow", hint="pip install pyarrow (or use csv/jsonl)") from exc
    types = {
        "item_id": pa.int64(),
        "value": pa.int64(),
        "time_spent_ms": pa.int64(),
        "server_elapsed_ms": pa.int64(),
        "guidelines_version": pa.int64(),
        "signed_score_first_model": pa.int64(),
        "a_is_first": pa.bool_(),
        "violation": pa.bool_(),
        "judge_rating": pa.int64(),
        "judge_violation": pa.bool_(),
        "judge_p_violation": pa.float64(),
        "judge_harm": pa.float64(),
    }
    columns: dict[str, Any] = {}
    for col in COLUMNS:
        values = [r.get(col) for r in records]
        if col in ("conversation", "attack_vectors"):
            values = [json.dumps(v, ensure_ascii=False) for v in values]
        columns[col] = pa.array(values, type=types.get(col, pa.string()))
    table = pa.table(columns)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def write_export(db: Database, study_ref: str | int, path: Path, fmt: ExportFormat | None = None) -> int:
    """Write a study's ratings to ``path`` (format from ``fmt`` or the extension); returns the row count.

    Raises:
        ConfigError: Unknown format.
    """
    kind = fmt or path.suffix.lower().lstrip(".")
    if kind not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {kind!r}", hint=f"one of {', '.join(EXPORT_FORMATS)}")
    _, records = export_rows(db, study_ref)
    if kind == "parquet":
        data = to_parquet_bytes(records)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    else:
        atomic_write_text(path, to_csv(records) if kind == "csv" else to_jsonl(records))
    return len(records)
