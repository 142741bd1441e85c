"""The audit-log writer: every row of ``audit_log`` is appended here.

One function, :func:`audit`, serves both kinds of caller: ORM code passes its
:class:`~sqlalchemy.orm.Session`, the rating hot path its Core :class:`~sqlalchemy.Connection`.
Either way the row is one hand-written INSERT on the caller's connection, inside the caller's
transaction, so a change and its record commit or roll back together, and the row exists as soon
as the call returns: :func:`safetylens.human.audit.edit_rating` relies on that, because the
database refuses a rating edit whose audit entry is not written first (migration 0002).

On PostgreSQL the hot path folds its audit rows into the data-modifying statement they record
(:func:`insert_from`), one round trip fewer per rating; the columns are the same.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from safetylens.human.db import utcnow
from safetylens.human.store.sql import Sql, run

COLUMNS = "at, actor_id, action, entity, entity_id, study_id, details"
INSERT = Sql(f"INSERT INTO audit_log ({COLUMNS}) VALUES (:at, :actor, :action, :entity, :eid, :sid, :details)")


def audit(
    target: Session | Connection,
    actor_id: int | None,
    action: str,
    entity: str,
    entity_id: object = "",
    *,
    study_id: int | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append an audit-log entry in the caller's transaction.

    Args:
        target: The ORM session or Core connection of the transaction that makes the change.
        actor_id: Who did it (None: the system, e.g. an automatic pause).
        action: What was done, e.g. ``rating.create`` (the list is in :mod:`safetylens.human.audit`).
        entity: The kind of thing it was done to (``rating``, ``study``, ``user``...).
        entity_id: Its id (stored as text).
        study_id: The study it belongs to, if any.
        details: Old and new values and anything else worth keeping (JSON).
        at: When (naive UTC; default now). A rating edit passes the rating's ``edited_at``.
    """
    conn = target.connection() if isinstance(target, Session) else target
    params = {
        "at": at or utcnow(),
        "actor": actor_id,
        "action": action,
        "entity": entity,
        "eid": str(entity_id),
        "sid": study_id,
        "details": json.dumps(details or {}),
    }
    run(conn, INSERT, params).close()


def insert_from(source: str, action: str, entity: str, details: str = "CAST(:details AS JSON)") -> str:
    """PostgreSQL: the audit-log insert of a data-modifying CTE, one row per row of ``source``.

    Args:
        source: The CTE whose rows are audited; each row's ``id`` is the entity id.
        action: The action recorded.
        entity: The entity kind recorded.
        details: An SQL expression over ``source`` for the details (default: the ``:details``
            parameter, JSON text).

    The statement's ``:now``, ``:rid`` (the actor) and ``:sid`` parameters fill the other columns.
    """
    return f"""
        INSERT INTO audit_log ({COLUMNS})
        SELECT CAST(:now AS TIMESTAMP), :rid, '{action}', '{entity}', CAST({source}.id AS VARCHAR), :sid,
            {details}
        FROM {source}
    """
