"""The audit trail: audited rating edits, and the log's export (CSV or JSON lines).

Every change to ratings, quiz results, assignments and study settings appends a row to
``audit_log`` in the same transaction as the change itself (so a change and its record commit or
roll back together): who (``actor_id``; None for the system, e.g. an automatic pause or an
expired reservation), when (naive UTC), what (``action``, ``entity``, ``entity_id``, ``study_id``)
and the details (old and new values where something changed). Every such row is written by
:func:`safetylens.human.store.audit_log.audit`.

Actions written by the platform include ``rating.create``, ``rating.edit``, ``assignment.reserve``,
``assignment.expire``, ``assignment.skip``, ``study.create``, ``study.status``,
``study.settings.update``, ``study.quiz.require``/``unrequire``, ``study.member.add``/``remove``,
``member.pause``/``resume``, ``guidelines.create``, ``gold.create``, ``item.overlap.add``,
``quiz.create``, ``quiz.attempt.start``/``submit``/``finish``, ``quiz.answer.grade``,
``adjudication.create``/``update``, ``user.create``/``update``/``password``.

A submitted rating is never updated in place by the rating pages or API (a rater submitting a
different value is refused); :func:`edit_rating` is the only code path that changes one, and it
records the old and new value, the reason and the editor. The database enforces this too: a
trigger (migration 0002, SQLite and PostgreSQL) rejects any change of a rating's value or comment
whose transaction has not written the matching ``rating.edit`` entry first.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select

from safetylens.errors import ConfigError
from safetylens.human.db import Database, utcnow
from safetylens.human.models import AuditLog, Rating, Study, User
from safetylens.human.scales import scale_for
from safetylens.human.store.audit_log import audit
from safetylens.util import csv_cell

AuditFormat = Literal["csv", "jsonl"]
COLUMNS = ("id", "at", "actor", "actor_role", "action", "entity", "entity_id", "study_id", "details")


def edit_rating(
    db: Database, rating_id: int, value: int, reason: str, *, actor_id: int, comment: str | None = None
) -> None:
    """Change a submitted rating (staff only); the old and new values go to the audit log.

    Raises:
        ConfigError: No such rating, a value off the scale, or no reason given.
    """
    reason = reason.strip()
    if not reason:
        raise ConfigError("an edit of a submitted rating needs a reason")
    with db.write() as s:
        rating = s.get(Rating, rating_id)
        if rating is None:
            raise ConfigError(f"no rating with id {rating_id}")
        study = s.get(Study, rating.study_id)
        assert study is not None
        scale = scale_for(study.kind)
        if value not in scale.values:
            raise ConfigError(f"rating must be one of {', '.join(map(str, scale.values))}, got {value}")
        changes: dict[str, Any] = {}
        if value != rating.value:
            changes["value"] = {"from": rating.value, "to": value}
        if comment is not None and comment != rating.comment:
            changes["comment"] = {"from": rating.comment, "to": comment}
        if not changes:
            return
        # The audit entry is written first, with the same timestamp as the rating's edited_at:
        # the database's guard (migration 0002) refuses a rating change without it.
        now = utcnow()
        audit(
            s,
            actor_id,
            "rating.edit",
            "rating",
            rating_id,
            study_id=rating.study_id,
            details={**changes, "reason": reason, "item_id": rating.item_id, "rater_id": rating.rater_id},
            at=now,
        )
        rating.value = value
        if comment is not None:
            rating.comment = comment
        rating.edited_at = now


def audit_records(
    db: Database,
    *,
    study_id: int | None = None,
    since: datetime | None = None,
    action_prefix: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Audit-log entries, oldest first, with the actor's user name and role.

    Args:
        db: Database.
        study_id: Only entries of this study.
        since: Only entries at or after this time (naive UTC).
        action_prefix: Only actions starting with this (e.g. ``rating.``).
        limit: Only the newest ``limit`` entries (still returned oldest first).
    """
    q = select(AuditLog, User.username, User.role).outerjoin(User, User.id == AuditLog.actor_id)
    if study_id is not None:
        q = q.where(AuditLog.study_id == study_id)
    if since is not None:
        q = q.where(AuditLog.at >= since)
    if action_prefix:
        q = q.where(AuditLog.action.startswith(action_prefix, autoescape=True))
    q = q.order_by(AuditLog.id.desc() if limit else AuditLog.id)
    if limit:
        q = q.limit(limit)
    with db.read() as s:
        rows = s.execute(q).all()
    out = [
        {
            "id": log.id,
            "at": log.at.isoformat(timespec="microseconds") + "Z",
            "actor": username if username is not None else ("system" if log.actor_id is None else str(log.actor_id)),
            "actor_role": role or "",
            "action": log.action,
            "entity": log.entity,
            "entity_id": log.entity_id,
            "study_id": log.study_id,
            "details": log.details or {},
        }
        for log, username, role in rows
    ]
    if limit:
        out.reverse()
    return out


def _csv_cell(value: Any) -> Any:
    """A CSV cell: details JSON-encoded, formula-like text neutralised (:func:`safetylens.util.csv_cell`)."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return csv_cell(value)


def to_csv(records: Sequence[dict[str, Any]]) -> str:
    """The log as CSV (details JSON-encoded, formula-like cells neutralised)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(COLUMNS))
    writer.writeheader()
    for r in records:
        writer.writerow({k: _csv_cell(r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def to_jsonl(records: Sequence[dict[str, Any]]) -> Iterator[str]:
    """The log as JSON lines."""
    for r in records:
        yield json.dumps(r, ensure_ascii=False) + "\n"


def export_text(records: Sequence[dict[str, Any]], fmt: AuditFormat) -> str:
    """The log in ``fmt`` (``csv`` or ``jsonl``).

    Raises:
        ConfigError: Unknown format.
    """
    if fmt == "csv":
        return to_csv(records)
    if fmt == "jsonl":
        return "".join(to_jsonl(records))
    raise ConfigError(f"unknown audit export format {fmt!r}", hint="csv or jsonl")
