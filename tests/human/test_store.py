"""The store: the audit-log writer, the context-query builder and the cap cache, on SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from safetylens.human import assignment as A
from safetylens.human.audit import audit_records
from safetylens.human.auth import create_user, start_session, token_hash, update_user
from safetylens.human.db import Database, utcnow
from safetylens.human.models import AuditLog
from safetylens.human.store import caps, queries
from safetylens.human.store.audit_log import audit
from safetylens.human.store.sql import as_datetime, one
from safetylens.human.studies import add_members, remove_member

from .conftest import PASSWORD
from .helpers import make_study

HUMAN = Path(A.__file__).resolve().parent


# ------------------------------------------------------------------------------------- audit log


def test_the_audit_writer_appends_one_row_through_a_session_or_a_connection(db: Database) -> None:
    admin = create_user(db, "boss", PASSWORD, "admin")
    at = datetime(2026, 1, 2, 3, 4, 5, 678901)
    with db.write() as s:
        audit(s, admin.id, "test.session", "thing", 7, details={"k": ["v", 1]}, at=at)
    with db.write_conn() as conn:
        audit(conn, None, "test.connection", "thing", "x-1", details={"é": None})
    rows = [r for r in audit_records(db) if r["action"].startswith("test.")]
    assert [(r["action"], r["actor"], r["entity_id"], r["study_id"], r["details"]) for r in rows] == [
        ("test.session", "boss", "7", None, {"k": ["v", 1]}),
        ("test.connection", "system", "x-1", None, {"é": None}),
    ]
    assert rows[0]["at"] == "2026-01-02T03:04:05.678901Z"
    # The default time is now (naive UTC), read back as the ORM reads it.
    with db.read() as s:
        stamp = s.scalar(select(AuditLog.at).where(AuditLog.action == "test.connection"))
    assert stamp is not None and abs(utcnow() - stamp) < timedelta(minutes=1)


def test_an_audit_row_rolls_back_with_its_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as s:
        audit(s, None, "test.rolled_back", "thing")
        raise RuntimeError("the change failed")
    with db.read() as s:
        assert s.scalar(select(func.count()).where(AuditLog.action == "test.rolled_back")) == 0


def test_a_rating_s_audit_rows_are_the_same_on_both_databases(db: Database) -> None:
    """A rating's audit entries: PostgreSQL's (inside the rating's own statements) and SQLite's (the writer) agree."""
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2)]
    study = make_study(db, raters, n_prompts=2, raters_per_item=1)
    res = A.next_assignment(db, study.id, raters[0].id)
    assert res is not None
    A.submit_rating(db, res.assignment_id, raters[0].id, 2)
    rows = audit_records(db, study_id=study.id, action_prefix="rating.") + audit_records(
        db, study_id=study.id, action_prefix="assignment."
    )
    by_action = {r["action"]: r for r in rows}
    assert by_action["assignment.reserve"]["details"] == {"item_id": res.item_id}
    assert by_action["assignment.reserve"]["entity_id"] == str(res.assignment_id)
    assert by_action["rating.create"]["details"] == {
        "item_id": res.item_id,
        "assignment_id": res.assignment_id,
        "value": 2,
        "from": "reserved",
    }
    assert {r["actor"] for r in rows} == {"r0"}


# ------------------------------------------------------------------------------- context builder

_STUDY = {
    "study_name",
    "kind",
    "study_status",
    "settings",
    "raters_per_item",
    "reservation_timeout_s",
    "balance",
    "max_items_per_rater",
    "seed",
    "role",
    "user_status",
    "member_status",
    "acked_version",
}
_ASSIGNMENT = {"id", "study_id", "item_id", "rater_id", "status", "reserved_at", "is_gold"}
_SESSION = {"session_expires_at", "csrf_token", "user_id", "username", "pseudonym"}
_NEXT = {"taken", "taken_checks", "open_level", "quizzes_missing", "held", "guidelines_version"}


def test_the_context_builder_refuses_what_only_an_assignment_has() -> None:
    with pytest.raises(ValueError):
        queries.context_query(assignment=False, session=True)
    with pytest.raises(ValueError):
        queries.context_query(assignment=False, lock=True)
    # One statement per variant, built once.
    assert queries.context_query(assignment=True, session=True) is queries.context_query(assignment=True, session=True)


def test_every_context_variant_reads_its_columns(db: Database) -> None:
    """Each variant the hot path uses runs on this database and returns what its checks read."""
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    outsider = create_user(db, "outsider", PASSWORD, "rater")
    study = make_study(db, raters, n_prompts=4, raters_per_item=2)
    A.submit_rating(db, _reserve(db, study.id, raters[1].id), raters[1].id, 3)
    aid = _reserve(db, study.id, raters[0].id)
    token, csrf = start_session(db, raters[0].id)
    lock = db.is_postgres  # SQLite has no row locks (its write lock covers the transaction)
    with db.write_conn() as conn:
        ctx = one(
            conn, queries.context_query(assignment=False, next_checks=True), {"sid": study.id, "rid": raters[0].id}
        )
        assert ctx is not None and set(ctx) == _STUDY | _NEXT
        assert (ctx["study_name"], ctx["role"], ctx["user_status"], ctx["member_status"]) == (
            "study",
            "rater",
            "active",
            "active",
        )
        assert (ctx["held"], ctx["taken"], ctx["quizzes_missing"]) == (aid, 1, 0)
        assert ctx["acked_version"] == ctx["guidelines_version"] == 1
        # Two items have a rater (raters[1]'s and this rater's own), two none: the lowest open level is 0.
        assert ctx["open_level"] == 0

        # Not in the pool: the row is there, without a membership; no study: no row.
        other = one(
            conn, queries.context_query(assignment=False, next_checks=True), {"sid": study.id, "rid": outsider.id}
        )
        assert other is not None and other["member_status"] is None and other["role"] == "rater"
        assert one(conn, queries.context_query(assignment=False), {"sid": study.id + 99, "rid": outsider.id}) is None

        plain = one(conn, queries.context_query(assignment=True, lock=lock), {"aid": aid})
        assert plain is not None and set(plain) == _ASSIGNMENT | _STUDY
        assert (plain["id"], plain["rater_id"], plain["status"], bool(plain["is_gold"])) == (
            aid,
            raters[0].id,
            "reserved",
            False,
        )
        assert isinstance(as_datetime(plain["reserved_at"]), datetime)

        for next_checks in (False, True):
            stmt = queries.context_query(assignment=True, lock=lock, session=True, next_checks=next_checks)
            row = one(conn, stmt, {"aid": aid, "h": token_hash(token)})
            assert row is not None
            assert set(row) == _ASSIGNMENT | _STUDY | _SESSION | (_NEXT if next_checks else set())
            assert (row["user_id"], row["username"], row["csrf_token"]) == (raters[0].id, "r0", csrf)
            if next_checks:
                # The rated assignment itself is not "held": after the rating the rater holds nothing.
                assert row["held"] is None and row["taken"] == 1
            # Another user's session, or none, finds no row.
            assert one(conn, stmt, {"aid": aid, "h": token_hash("not a session")}) is None


def _reserve(db: Database, study_id: int, rater_id: int) -> int:
    res = A.next_assignment(db, study_id, rater_id)
    assert res is not None
    return res.assignment_id


# ------------------------------------------------------------------------------------ cap cache


def _sizes(db: Database, study_id: int) -> tuple[int, int, int, int]:
    with db.engine.connect() as conn:
        return caps.CAPS.sizes(conn, db, study_id)


def test_invalidation_forgets_one_study_or_all(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2)]
    one_study = make_study(db, raters, n_prompts=3, raters_per_item=2, name="a")
    other = make_study(db, raters, n_prompts=5, raters_per_item=1, name="b")
    assert _sizes(db, one_study.id) == (3, 6, 2, 2)
    assert _sizes(db, other.id) == (5, 5, 2, 1)
    caps.invalidate_caches(one_study.id)
    assert caps.CAPS.entry(db, one_study.id) is None and caps.CAPS.entry(db, other.id) is not None
    caps.invalidate_caches()
    assert caps.CAPS.entry(db, other.id) is None


def test_pool_and_user_changes_reach_the_cap_at_once(db: Database) -> None:
    """The changes that move a rater in or out of a study's active pool invalidate the cached size."""
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters[:2], n_prompts=3, raters_per_item=2)
    assert _sizes(db, study.id)[2] == 2
    add_members(db, study.id, [raters[2].username])
    assert _sizes(db, study.id)[2] == 3
    update_user(db, raters[2].id, status="paused")
    assert _sizes(db, study.id)[2] == 2
    remove_member(db, study.id, raters[1].id)
    assert _sizes(db, study.id)[2] == 1


def test_the_refresher_thread_starts_when_needed_and_stops_on_shutdown(db: Database) -> None:
    cache = caps.CapCache(max_age_s=0.0)  # every read after the first is stale
    raters = [create_user(db, "r0", PASSWORD, "rater")]
    study = make_study(db, raters, n_prompts=2, raters_per_item=1)

    def threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("safetylens-caps")]

    before = len(threads())
    with db.engine.connect() as conn:
        assert cache.sizes(conn, db, study.id) == (2, 2, 1, 1)  # in-line: no thread yet
        assert len(threads()) == before
        assert cache.sizes(conn, db, study.id) == (2, 2, 1, 1)  # stale: a background re-read
    assert len(threads()) == before + 1
    cache.shutdown()
    assert len(threads()) == before and not cache.refreshing(db, study.id)
    with db.engine.connect() as conn:  # a later stale read starts it again
        cache.sizes(conn, db, study.id)
    cache.shutdown()
    assert len(threads()) == before


def test_importing_the_platform_creates_no_thread_pool() -> None:
    """Executors exist only once something needs them (the cap refresher on a stale read, an app's hot pool)."""
    code = (
        "import gc, threading\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "import safetylens.human.app, safetylens.human.importing, safetylens.human.assignment\n"
        "pools = [o for o in gc.get_objects() if isinstance(o, ThreadPoolExecutor)]\n"
        "print(len(pools), sorted(t.name for t in threading.enumerate()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0 ['MainThread']", out


# -------------------------------------------------------------------------------------- layering


def _human_imports(path: Path) -> set[str]:
    """The ``safetylens.human`` modules a file imports (deferred imports included)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "safetylens.human":
                out.update(a.name for a in node.names)
            elif node.module.startswith("safetylens.human."):
                out.add(node.module.removeprefix("safetylens.human."))
        elif isinstance(node, ast.Import):
            out.update(
                a.name.removeprefix("safetylens.human.") for a in node.names if a.name.startswith("safetylens.human.")
            )
    return out


def test_the_rating_modules_import_each_other_in_one_direction() -> None:
    """assignment -> gold -> studies -> store -> db: no module reaches back up."""
    layers: dict[str, Any] = {
        "assignment": {"gold", "studies"},
        "gold": {"studies"},
        "studies": set(),
    }
    for name, allowed in layers.items():
        got = _human_imports(HUMAN / f"{name}.py") & set(layers)
        assert got == allowed, (name, got)
    for path in (HUMAN / "store").glob("*.py"):
        outside = {m for m in _human_imports(path) if not m.startswith("store")}
        assert outside <= {"db"}, (path.name, outside)


def test_only_the_store_writes_the_audit_log() -> None:
    """Every audit row goes through the one writer: no other module builds an AuditLog or inserts into the table."""
    offenders = []
    for path in HUMAN.rglob("*.py"):
        rel = path.relative_to(HUMAN)
        if rel.parts[0] in ("store", "migrations"):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"(?<!class )\bAuditLog\(", text) or "INSERT INTO AUDIT_LOG" in text.upper():
            offenders.append(str(rel))
    assert offenders == []
