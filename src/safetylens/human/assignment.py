"""Assignment of items to raters, and rating submission, correct under concurrency.

Rules (each enforced by the database, not only by this code):

- every item goes to at most ``target_ratings`` (N) distinct raters: ``items.claimed`` (live
  reservations + submitted ratings) only ever grows through
  ``UPDATE items SET claimed = claimed + 1 WHERE id = ? AND claimed < target_ratings`` and a
  CHECK constraint backs it up;
- nobody gets or rates an item twice: unique (item, rater) on assignments and on ratings;
- a rating is recorded once: ``UPDATE assignments SET status = 'submitted' WHERE id = ? AND
  status = ?`` must change exactly one row, and ratings are unique per assignment.

Locking: on SQLite every write transaction holds the database's write lock from its first
statement (``BEGIN IMMEDIATE``, see :mod:`safetylens.human.db`), so transactions are serial. On
PostgreSQL (READ COMMITTED) concurrent raters pick items with ``UPDATE ... WHERE id = (SELECT ...
FOR UPDATE SKIP LOCKED)`` so they do not queue behind each other, and PostgreSQL re-checks the
conditional update after any lock wait; a partial unique index allows one live reservation per
rater and study, so two tabs of one rater cannot reserve two items at once.

Order: items with the fewest raters come first (work spreads breadth-first over items, so the
balanced per-rater cap cannot strand the last slots), and within that level a rater gets the
first open item after a fresh random point on the items' random ``order_key`` circle: a random
order for every rater, found with one index seek on (study, claimed, order_key) instead of a
sort of every open item.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safetylens.errors import SafetylensError
from safetylens.human import gold
from safetylens.human.db import Database, utcnow
from safetylens.human.fastsql import Sql, as_datetime, one, rater_has_no, rowcount, run, scalar
from safetylens.human.models import Assignment, Item, Rating, Study
from safetylens.human.scales import scale_for
from safetylens.human.studies import rater_cap

log = logging.getLogger(__name__)

ORDER_KEY_RANGE = 2_147_483_647  # order keys are drawn uniformly from [0, 2**31 - 1)
MAX_COMMENT = 5000


class AssignmentError(SafetylensError):
    """A rater may not take or rate this item.

    Attributes:
        status: The HTTP status the web layer answers with.
    """

    status = 409


class Forbidden(AssignmentError):
    """The item or study is not this rater's."""

    status = 403


class NotFound(AssignmentError):
    """No such assignment."""

    status = 404


class GuidelinesRequired(AssignmentError):
    """The rater must confirm the current guidelines version first."""

    status = 409

    def __init__(self, study_id: int, version: int) -> None:
        super().__init__(f"read and confirm guidelines version {version} before rating")
        self.study_id = study_id
        self.version = version


class InvalidRating(AssignmentError):
    """The submitted value or fields are not valid."""

    status = 422


# Qualification quizzes and per-study pauses refuse work with these.
class QualificationRequired(AssignmentError):
    """The rater has not passed every quiz the study requires."""

    status = 409

    def __init__(self, study_id: int, missing: int) -> None:
        super().__init__(f"pass this study's qualification quizzes first ({missing} to go)")
        self.study_id = study_id
        self.missing = missing


class RaterPaused(Forbidden):
    """An admin or the gold checks paused this rater in this study."""

    def __init__(self) -> None:
        super().__init__("your work in this study is paused; your coordinator will contact you")


@dataclass(frozen=True)
class Reservation:
    """An item on a rater's screen.

    Attributes:
        assignment_id: Identifies the reservation (and the URL of the rating page).
        item_id: The item.
        expires_at: When the slot returns to the pool if no rating arrives.
        resumed: True when the rater already held this reservation.
        content: The item as the rater sees it (:data:`ITEM_CONTENT`) when the reservation read
            it on the way (PostgreSQL); None otherwise.
    """

    assignment_id: int
    item_id: int
    expires_at: datetime
    resumed: bool
    content: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RaterProgress:
    """A rater's position in a study: ``done`` of ``total`` (e.g. "12 of 80")."""

    done: int
    total: int


@dataclass(frozen=True)
class SubmitResult:
    """Outcome of a submission.

    Attributes:
        rating_id: The stored rating.
        duplicate: True when the same rating had already been recorded (a resubmitted form).
        study_id: The study of the rated item.
        next: With ``then_next``: the rater's next reservation, or None when they are done.
        next_error: With ``then_next``: why no next item could be reserved (the rating is stored).
    """

    rating_id: int
    duplicate: bool
    study_id: int = 0
    next: Reservation | None = None
    next_error: str | None = None


# What the checks of a rater's next reservation read besides the study row and the member row
# ``m`` (whose ``taken`` and ``taken_checks`` the database keeps, migration 0005), as scalar
# subqueries over the rater {rid} and study {sid}: bound parameters in _CONTEXT, the rated
# assignment's columns when they are read together with a submission (_submit_context).
# {not_this} keeps the rated assignment itself out of ``held``. ``open_level`` is the fewest raters
# on any open item the rater may take (None: none open), where :func:`_pick` starts looking, so
# that late in a study (two thirds of the ratings at N = 3 come at levels 1-2) a rating does not
# first probe every lower, already full level with two empty statements each.
_NEXT_CHECKS = """
        m.taken, m.taken_checks,
        (SELECT o.claimed FROM items o
         WHERE o.study_id = {sid} AND o.claimed < o.target_ratings AND NOT o.is_gold
            AND {free}
         ORDER BY o.claimed LIMIT 1) AS open_level,
        (SELECT COUNT(*) FROM study_quizzes q WHERE q.study_id = {sid} AND NOT EXISTS (
            SELECT 1 FROM quiz_attempts t WHERE t.quiz_id = q.quiz_id AND t.user_id = {rid} AND t.status = 'passed'))
            AS quizzes_missing,
        (SELECT MAX(x.id) FROM assignments x
         WHERE x.rater_id = {rid} AND x.study_id = {sid} AND x.status = 'reserved'{not_this}) AS held,
        (SELECT MAX(g.version) FROM guidelines g WHERE g.study_id = {sid}) AS guidelines_version"""


def _next_checks(rid: str, sid: str, not_this: str) -> str:
    """:data:`_NEXT_CHECKS` for the rater and study expressions ``rid`` and ``sid``."""
    return _NEXT_CHECKS.format(rid=rid, sid=sid, not_this=not_this, free=rater_has_no("o.id", rid, live=True))


# The rater's membership of the study (no row: not a member), joined as ``m``.
_MEMBER_JOIN = " LEFT JOIN study_members m ON m.study_id = {sid} AND m.user_id = {rid}"
_ACKED = "(SELECT MAX(k.version) FROM guideline_acks k WHERE k.study_id = {sid} AND k.user_id = {rid}) AS acked_version"
# The context of a rater's request for a study: everything the checks need, in one query.
_CONTEXT = Sql(
    f"""
    SELECT s.name AS study_name, s.status AS study_status, s.reservation_timeout_s, s.balance,
        s.max_items_per_rater, s.seed, s.settings,
        {_next_checks(":rid", ":sid", "")},
        m.status AS member_status,
        {_ACKED.format(rid=":rid", sid=":sid")},
        (SELECT u.role FROM users u WHERE u.id = :rid) AS role,
        (SELECT u.status FROM users u WHERE u.id = :rid) AS user_status
    FROM studies s{_MEMBER_JOIN.format(rid=":rid", sid="s.id")} WHERE s.id = :sid
    """
)
_EXTEND = Sql("UPDATE assignments SET expires_at = :exp WHERE id = :aid RETURNING item_id")
_EXPIRED = """
    SELECT id, item_id FROM assignments
    WHERE study_id = :sid AND status = 'reserved' AND expires_at < :now ORDER BY id LIMIT 200
"""
_EXPIRED_SQLITE = Sql(_EXPIRED)
_EXPIRED_PG = Sql(_EXPIRED + " FOR UPDATE SKIP LOCKED")
_EXPIRE_ONE = Sql("UPDATE assignments SET status = 'expired' WHERE id = :aid AND status = 'reserved'")
_RELEASE = Sql("UPDATE items SET claimed = claimed - 1 WHERE id = :iid")
_AUDIT_EXPIRY = Sql(
    """
    INSERT INTO audit_log (at, actor_id, action, entity, entity_id, study_id, details)
    VALUES (:now, NULL, 'assignment.expire', 'assignment', :aid, :sid, :details)
    """
)
# One pass over the study's items (three separate aggregates scanned them three times: 12-20 ms
# for 8,000 items on PostgreSQL under load, a visible step in the latency tail once a second).
_CAP_INPUTS = Sql(
    """
    SELECT COUNT(*) AS n_items, COALESCE(SUM(target_ratings), 0) AS slots,
        COALESCE(MAX(target_ratings), 0) AS max_target,
        (SELECT COUNT(*) FROM study_members m JOIN users u ON u.id = m.user_id
         WHERE m.study_id = :sid AND u.status = 'active' AND u.role = 'rater' AND m.status = 'active') AS n_raters
    FROM items WHERE study_id = :sid AND is_gold = :false
    """
)
_CANDIDATE = """
    SELECT i.id FROM items i
    WHERE i.study_id = :sid AND i.claimed = :level AND i.claimed < i.target_ratings AND i.order_key {cmp} :start
      AND i.is_gold = :false
      AND {free}
    ORDER BY i.order_key
    LIMIT 1
"""
_CANDIDATES = {
    (pg, cmp): Sql(
        _CANDIDATE.format(cmp=cmp, free=rater_has_no("i.id", ":rid", live=True))
        + (" FOR UPDATE OF i SKIP LOCKED" if pg else "")
    )
    for pg in (False, True)
    for cmp in (">=", "<")
}
# Find and claim in one statement (the classic queue pattern on PostgreSQL).
_PICK = {
    key: Sql(
        f"UPDATE items SET claimed = claimed + 1 WHERE id = ({q.sqlite}) AND claimed < target_ratings RETURNING id"
    )
    for key, q in _CANDIDATES.items()
}
_CLAIM = Sql("UPDATE items SET claimed = claimed + 1 WHERE id = :iid AND claimed < target_ratings")
_INSERT_ASSIGNMENT = "INSERT INTO assignments (study_id, item_id, rater_id, status, reserved_at, expires_at, is_gold)"
# An expired assignment of the same rater and item is reused; a live one makes the insert a no-op.
_ON_RESERVE_CONFLICT = """
    ON CONFLICT (item_id, rater_id) DO UPDATE
        SET status = 'reserved', reserved_at = excluded.reserved_at, expires_at = excluded.expires_at,
            submitted_at = NULL
        WHERE assignments.status = 'expired'
"""
_RESERVE_VALUES = "VALUES (:sid, :iid, :rid, 'reserved', :now, :exp, :gold)"
_RESERVE = Sql(f"{_INSERT_ASSIGNMENT} {_RESERVE_VALUES} {_ON_RESERVE_CONFLICT} RETURNING id")


def _submit_context(*, postgres: bool, session: bool, then_next: bool) -> Sql:
    """The query that loads a submission's assignment with everything its checks need.

    Args:
        postgres: Lock the assignment row (``FOR UPDATE``): a concurrent resubmission of the same
            rating waits and then sees it recorded (``duplicate``) instead of failing.
        session: Also authenticate: join the session ``:h`` (a token hash), whose user must be
            the assignment's rater (no row otherwise), with the columns of
            :data:`safetylens.human.auth.SESSION_COLUMNS`.
        then_next: Also read the next reservation's checks (:data:`_NEXT_CHECKS`), so that a
            rating with ``?next=true`` needs no second context query (see :func:`_next_context`).
    """
    rid, sid = "a.rater_id", "a.study_id"
    extra = ""
    join = ""
    where = ""
    if session:
        extra += ", ses.expires_at AS session_expires_at, ses.csrf_token, u.id AS user_id, u.username, u.role"
        extra += ", u.pseudonym"
        join = " JOIN sessions ses ON ses.user_id = a.rater_id"
        where = " AND ses.token_hash = :h"
    if then_next:
        extra += ", s.name AS study_name, s.reservation_timeout_s, s.balance, s.max_items_per_rater, s.seed,"
        extra += _next_checks(rid, sid, " AND x.id <> a.id")
    return Sql(
        f"""
        SELECT a.id, a.study_id, a.item_id, a.rater_id, a.status, a.reserved_at,
            s.kind, s.status AS study_status, u.status AS user_status,
            s.settings, s.raters_per_item, i.is_gold, m.status AS member_status,
            {_ACKED.format(rid=rid, sid=sid)}{extra}
        FROM assignments a JOIN studies s ON s.id = a.study_id JOIN users u ON u.id = a.rater_id
            JOIN items i ON i.id = a.item_id{_MEMBER_JOIN.format(rid=rid, sid=sid)}{join}
        WHERE a.id = :aid{where}{" FOR UPDATE OF a" if postgres else ""}
        """
    )


_SUBMIT_CONTEXTS = {
    (pg, session, nxt): _submit_context(postgres=pg, session=session, then_next=nxt)
    for pg in (False, True)
    for session in (False, True)
    for nxt in (False, True)
    if session or not nxt
}
_EXISTING_RATING = Sql("SELECT id, value FROM ratings WHERE assignment_id = :aid")
_MARK_SUBMITTED = Sql(
    "UPDATE assignments SET status = 'submitted', submitted_at = :now WHERE id = :aid AND status = :old"
)
_INSERT_RATING = Sql(
    """
    INSERT INTO ratings (assignment_id, study_id, item_id, rater_id, value, scale, comment, time_spent_ms,
        server_elapsed_ms, guidelines_version, created_at)
    VALUES (:aid, :sid, :iid, :rid, :value, :scale, :comment, :spent, :elapsed, :gv, :now)
    RETURNING id
    """
)
_COMPLETE = Sql("UPDATE items SET completed = completed + 1 WHERE id = :iid")


# PostgreSQL only (data-modifying CTEs): the four writes of a rating in one round trip, and the
# reservation with its audit entry in another. Each round trip costs ~0.3 ms of client and server
# CPU here; SQLite, in-process, runs the same steps as separate statements.
def _audit_from(source: str, action: str, entity: str, details: str = "CAST(:details AS JSON)") -> str:
    """The audit-log insert of a data-modifying CTE: one row per row of ``source``.

    The entity id is ``source.id``; ``:now``, ``:rid``, ``:sid`` and ``:details`` as in
    :func:`gold.audit_sql`, or ``details``, an SQL expression over ``source``.
    """
    return f"""
        INSERT INTO audit_log (at, actor_id, action, entity, entity_id, study_id, details)
        SELECT CAST(:now AS TIMESTAMP), :rid, '{action}', '{entity}', CAST({source}.id AS VARCHAR), :sid,
            {details}
        FROM {source}
    """


# The reservation's audit details, built from the inserted row by both statements below.
_RESERVED_DETAILS = "json_build_object('item_id', reserved.item_id)"
_RESERVE_PG = Sql(
    f"""
    WITH reserved AS ({_INSERT_ASSIGNMENT} {_RESERVE_VALUES} {_ON_RESERVE_CONFLICT} RETURNING id, item_id),
    au AS ({_audit_from("reserved", "assignment.reserve", "assignment", _RESERVED_DETAILS)})
    SELECT id FROM reserved
    """
)
# What a rater sees of an item (``s``: its study, ``i``: the item), for the rating page and API.
ITEM_CONTENT = "s.kind, p.conversation, p.n_user_turns, ra.text AS response_a, rb.text AS response_b"
ITEM_CONTENT_JOINS = """
    JOIN prompts p ON p.id = i.prompt_id
    JOIN responses ra ON ra.id = i.response_id
    LEFT JOIN responses rb ON rb.id = i.response_b_id
"""
# Claim an open item, reserve it, log the reservation and read the item's content in one round
# trip: the claim of _PICK, the insert of _RESERVE fed by it. No row: nothing claimed (as
# _PICK); aid NULL: a live assignment of this rater for the claimed item appeared concurrently
# (the caller gives the slot back).
_PICK_RESERVE_PG = {
    cmp: Sql(
        f"""
        WITH claimed AS ({_PICK[(True, cmp)].sqlite}),
        reserved AS (
            {_INSERT_ASSIGNMENT}
            SELECT :sid, claimed.id, :rid, 'reserved', CAST(:now AS TIMESTAMP), CAST(:exp AS TIMESTAMP), :false
            FROM claimed
            {_ON_RESERVE_CONFLICT}
            RETURNING id, item_id
        ),
        au AS ({_audit_from("reserved", "assignment.reserve", "assignment", _RESERVED_DETAILS)})
        SELECT claimed.id AS item_id, reserved.id AS aid, {ITEM_CONTENT}
        FROM claimed LEFT JOIN reserved ON true JOIN items i ON i.id = claimed.id JOIN studies s ON s.id = i.study_id
        {ITEM_CONTENT_JOINS}
        """
    )
    for cmp in (">=", "<")
}


_SUBMIT_PG = Sql(
    """
    WITH m AS (
        UPDATE assignments SET status = 'submitted', submitted_at = :now WHERE id = :aid AND status = :old
        RETURNING id
    ), r AS (
        INSERT INTO ratings (assignment_id, study_id, item_id, rater_id, value, scale, comment, time_spent_ms,
            server_elapsed_ms, guidelines_version, created_at)
        SELECT m.id, :sid, :iid, :rid, :value, CAST(:scale AS VARCHAR), CAST(:comment AS TEXT),
            CAST(:spent AS INTEGER), :elapsed, CAST(:gv AS INTEGER), CAST(:now AS TIMESTAMP) FROM m
        RETURNING id
    ), c AS (
        UPDATE items SET completed = completed + 1 WHERE id = :iid AND EXISTS (SELECT 1 FROM r) RETURNING id
    ), au AS ("""
    + _audit_from("r", "rating.create", "rating")
    + """)
    SELECT id FROM r
    """
)

# Expired reservations are swept at most this often per study and process: a slot returns to the
# pool within this many seconds of its deadline, and the sweep costs nothing on most requests.
SWEEP_INTERVAL = timedelta(seconds=2)
_last_sweep: dict[tuple[str, int], datetime] = {}
# Inputs of the balanced cap (item count, slots, pool size) change only on imports and pool
# edits; reading them once a second per study is enough for an even spread.
CAP_CACHE_S = 1.0
_cap_cache: dict[tuple[str, int], tuple[float, tuple[int, int, int, int]]] = {}
# Studies whose cap inputs are being re-read in the background now (:func:`_study_sizes`).
_cap_refreshing: set[tuple[str, int]] = set()
_cap_lock = threading.Lock()
# Bumped by every invalidation: a background read that started before one is not stored.
_cap_generation = 0
_cap_refresher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="safetylens-caps")


def invalidate_caches(study_id: int | None = None) -> None:
    """Forget cached cap inputs (after imports, pool or user changes in this process)."""
    global _cap_generation
    with _cap_lock:
        _cap_generation += 1
        if study_id is None:
            _cap_cache.clear()
        else:
            for key in [k for k in _cap_cache if k[1] == study_id]:
                del _cap_cache[key]


class _Conflict(Exception):
    """A concurrent request of the same rater won a race; retry on fresh data."""


def expire_reservations(conn: Connection, db: Database, study_id: int, now: datetime) -> int:
    """Return expired reservations' slots to the pool; returns how many expired.

    Each reservation is expired by a conditional update, so concurrent sweeps release a slot once.
    """
    n = 0
    cur = run(conn, _EXPIRED_PG if db.is_postgres else _EXPIRED_SQLITE, {"sid": study_id, "now": now})
    rows = cur.fetchall()
    cur.close()
    for aid, item_id in rows:
        if rowcount(conn, _EXPIRE_ONE, {"aid": aid}) == 1:
            rowcount(conn, _RELEASE, {"iid": item_id})
            run(
                conn,
                _AUDIT_EXPIRY,
                {"now": now, "aid": str(aid), "sid": study_id, "details": json.dumps({"item_id": item_id})},
            ).close()
            n += 1
    return n


def _maybe_sweep(conn: Connection, db: Database, study_id: int, now: datetime) -> int:
    """Expire overdue reservations if this process has not looked for :data:`SWEEP_INTERVAL`; how many."""
    key = (db.url, study_id)
    last = _last_sweep.get(key)
    if last is not None and last <= now < last + SWEEP_INTERVAL:
        return 0
    _last_sweep[key] = now
    return expire_reservations(conn, db, study_id, now)


def _study_sizes(conn: Connection, db: Database, study_id: int) -> tuple[int, int, int, int]:
    """(items, slots, active raters in the pool, largest N), cached for :data:`CAP_CACHE_S`.

    Only the first read (or the first after :func:`invalidate_caches`) runs here; a value that went
    stale is returned as it is while one background thread re-reads it. The read is one pass over
    the study's items: on SQLite, whose rating transactions run on the event loop, reading it
    in-line stalled every request in flight once a second (measured: 60-70 ms of p99 at an offered
    300 ratings/s for a study of 60,000 items, every slow request in the 100 ms after a refresh).
    Changes made in this process invalidate the cache at once; other processes' within about a second.
    """
    key = (db.url, study_id)
    with _cap_lock:
        cached = _cap_cache.get(key)
        generation = _cap_generation
        if cached is not None:
            if time.monotonic() - cached[0] >= CAP_CACHE_S and key not in _cap_refreshing:
                _cap_refreshing.add(key)
                _cap_refresher.submit(_refresh_sizes, db, study_id, generation)
            return cached[1]
    return _read_sizes(conn, db, study_id, generation)


def _read_sizes(conn: Connection, db: Database, study_id: int, generation: int) -> tuple[int, int, int, int]:
    """Read the cap inputs and cache them unless an invalidation came since ``generation``."""
    row = one(conn, _CAP_INPUTS, {"sid": study_id, "false": False})
    assert row is not None
    sizes = (int(row["n_items"]), int(row["slots"]), int(row["n_raters"]), int(row["max_target"]))
    with _cap_lock:
        if generation == _cap_generation:
            _cap_cache[(db.url, study_id)] = (time.monotonic(), sizes)
    return sizes


def _refresh_sizes(db: Database, study_id: int, generation: int) -> None:
    """Background half of :func:`_study_sizes` (its own connection; errors leave the old value)."""
    try:
        with db.engine.connect() as conn:
            _read_sizes(conn, db, study_id, generation)
    except Exception:  # a failed refresh keeps the last value; the next request tries again
        log.debug("refreshing the cap inputs of study %s failed", study_id, exc_info=True)
    finally:
        with _cap_lock:
            _cap_refreshing.discard((db.url, study_id))


def cap_from(n_items: int, slots: int, n_raters: int, balance: bool, max_items: int | None) -> int:
    """A rater's cap: all items, or an equal share ``ceil(slots / raters)``, or an explicit maximum."""
    cap = n_items
    if balance and n_raters:
        cap = min(cap, math.ceil(slots / n_raters))
    if max_items is not None:
        cap = min(cap, max_items)
    return cap


def next_assignment(db: Database, study_id: int, rater_id: int, *, now: datetime | None = None) -> Reservation | None:
    """Give a rater their current item, or reserve the next one; None when they are done.

    Raises:
        NotFound: No such study.
        Forbidden: Not an active rater in this study.
        GuidelinesRequired: The current guidelines version is not confirmed yet.
        AssignmentError: The study is not open.
    """
    now = now or utcnow()
    for _attempt in range(8):
        try:
            with db.write_conn() as conn:
                return _next_in_txn(conn, db, study_id, rater_id, now)
        except (_Conflict, IntegrityError):
            continue
    raise AssignmentError("could not reserve an item because of concurrent updates; try again")


def _next_in_txn(
    conn: Connection, db: Database, study_id: int, rater_id: int, now: datetime, ctx: dict[str, Any] | None = None
) -> Reservation | None:
    """Reserve inside the caller's transaction.

    Everything that can refuse (checks, the cap) happens before the first write, and a lost race
    undoes its own claim before raising :class:`_Conflict`, so a caller may keep the transaction.
    ``ctx``: the checks' inputs when the caller already read them (:func:`_next_context`).
    """
    if ctx is None:
        ctx = one(conn, _CONTEXT, {"sid": study_id, "rid": rater_id})
    if ctx is None:
        raise NotFound(f"no study with id {study_id}")
    if ctx["role"] != "rater" or ctx["user_status"] != "active":
        raise Forbidden("only active raters take items")
    if ctx["member_status"] is None:
        raise Forbidden("you are not a rater in this study")
    if ctx["member_status"] != "active":
        raise RaterPaused()
    if int(ctx["quizzes_missing"] or 0):
        raise QualificationRequired(study_id, int(ctx["quizzes_missing"]))
    gv = ctx["guidelines_version"]
    if gv is not None and (ctx["acked_version"] or 0) < gv:
        raise GuidelinesRequired(study_id, int(gv))
    expires = now + timedelta(seconds=int(ctx["reservation_timeout_s"]))
    if ctx["held"] is not None:
        # Still ours even if past its deadline: nobody has reclaimed it yet. Extend it.
        item_id = scalar(conn, _EXTEND, {"exp": expires, "aid": ctx["held"]})
        return Reservation(int(ctx["held"]), int(item_id), expires, resumed=True)
    if ctx["study_status"] != "active":
        raise AssignmentError(f"study {ctx['study_name']!r} is {ctx['study_status']}; no new items are handed out")
    n_items, slots, n_raters, max_target = _study_sizes(conn, db, study_id)
    if int(ctx["taken"]) >= cap_from(n_items, slots, n_raters, bool(ctx["balance"]), ctx["max_items_per_rater"]):
        return None
    # Slots the sweep just gave back may be below the level the context saw: then look from 0.
    level = 0 if _maybe_sweep(conn, db, study_id, now) or ctx["open_level"] is None else int(ctx["open_level"])
    quality = gold.quality_settings(ctx["settings"])
    # The partial unique index "one live reservation per rater and study" turns a concurrent
    # second reservation by the same rater (two tabs) into an IntegrityError: the caller retries
    # and then resumes the first one.
    check_id = None
    if gold.check_due(int(ctx["seed"]), rater_id, int(ctx["taken"]), int(ctx["taken_checks"]), quality.gold_rate):
        check_id = gold.pick_check(conn, db.is_postgres, study_id, rater_id)
    content = None
    if check_id is not None:
        item_id, aid = check_id, _reserve(conn, db, study_id, check_id, rater_id, now, expires, is_check=True)
    else:
        picked = _pick(conn, db, study_id, rater_id, max_target, now, expires, level)
        if picked is None:
            return None
        item_id, aid, content = picked
    if aid is None:
        # A live assignment of this rater for this item appeared concurrently: give the slot back.
        rowcount(conn, _RELEASE, {"iid": item_id})
        raise _Conflict()
    return Reservation(int(aid), int(item_id), expires, resumed=False, content=content)


def _reserve(
    conn: Connection,
    db: Database,
    study_id: int,
    item_id: int,
    rater_id: int,
    now: datetime,
    expires: datetime,
    *,
    is_check: bool,
) -> int | None:
    """Reserve a claimed item for the rater and log it; None when a live assignment already exists."""
    params = {"sid": study_id, "iid": item_id, "rid": rater_id, "now": now, "exp": expires, "gold": is_check}
    if db.is_postgres:  # the reservation and its audit row in one round trip
        aid = scalar(conn, _RESERVE_PG, params)
    else:
        aid = scalar(conn, _RESERVE, params)
        if aid is not None:
            gold.audit_sql(conn, now, rater_id, "assignment.reserve", "assignment", aid, study_id, {"item_id": item_id})
    return None if aid is None else int(aid)


def _pick(
    conn: Connection,
    db: Database,
    study_id: int,
    rater_id: int,
    max_target: int,
    now: datetime,
    expires: datetime,
    first_level: int,
) -> tuple[int, int | None, dict[str, Any] | None] | None:
    """Claim an open item for the rater and reserve it: fewest raters first, random position within a level.

    ``first_level``: the lowest level (raters already on an item) to try, when the caller knows
    that no item below it is open to this rater (``open_level`` of :data:`_NEXT_CHECKS`).

    Returns:
        ``(item id, assignment id, content)``, the assignment id None when a live assignment of
        this rater for the item appeared concurrently (the slot is still claimed); None when
        nothing is open. On PostgreSQL the claim, the reservation, its audit row and the item's
        content (:data:`ITEM_CONTENT`) are one statement; on SQLite the content is None.
    """
    start = secrets.randbelow(ORDER_KEY_RANGE)
    params: dict[str, Any] = {"sid": study_id, "rid": rater_id, "start": start, "false": False, "level": 0}
    if db.is_postgres:
        params.update(now=now, exp=expires)
    # max_target is cached (CAP_CACHE_S); an item grown since (adaptive overlap) still gets its level.
    for level in range(first_level, max(max_target, first_level + 1)):
        params["level"] = level
        for cmp in (">=", "<"):  # from the random point to the end, then wrap around
            key = (db.is_postgres, cmp)
            for _ in range(20):
                if db.is_postgres:
                    row = one(conn, _PICK_RESERVE_PG[cmp], params)
                    if row is not None:
                        return int(row["item_id"]), None if row["aid"] is None else int(row["aid"]), row
                else:
                    item_id = scalar(conn, _PICK[key], params)
                    if item_id is not None:
                        aid = _reserve(conn, db, study_id, int(item_id), rater_id, now, expires, is_check=False)
                        return int(item_id), aid, None
                # Nothing claimed: either no candidate here, or (PostgreSQL) a concurrent rater took
                # the candidate's last slot between our snapshot and our update. Look again.
                if scalar(conn, _CANDIDATES[key], params) is None:
                    break
    return None


def load_assignment(s: Session, assignment_id: int, rater_id: int) -> Assignment:
    """A rater's own assignment.

    Raises:
        NotFound: No such assignment.
        Forbidden: It belongs to another rater.
    """
    asg = s.get(Assignment, assignment_id)
    if asg is None:
        raise NotFound("no such item")
    if asg.rater_id != rater_id:
        raise Forbidden("this item is not assigned to you")
    return asg


def _check_submission(value: int, comment: str, time_spent_ms: int | None) -> tuple[str, int | None]:
    if time_spent_ms is not None and not 0 <= time_spent_ms <= 7 * 24 * 3600 * 1000:
        time_spent_ms = None
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidRating(f"comments are at most {MAX_COMMENT} characters")
    return comment, time_spent_ms


def submit_rating(
    db: Database,
    assignment_id: int,
    rater_id: int,
    value: int,
    *,
    comment: str = "",
    time_spent_ms: int | None = None,
    now: datetime | None = None,
    then_next: bool = False,
) -> SubmitResult:
    """Record a rater's answer for an item assigned to them.

    A late submission (the reservation expired) is accepted if the item still has a free slot.
    Submitting the same answer twice returns the first rating (``duplicate=True``).

    With ``then_next`` the rater's next item is reserved in the same transaction (one commit
    instead of two). If that part is refused (new guidelines to confirm, the study paused) the
    rating is still stored and the reason is returned in ``next_error``.

    Raises:
        NotFound: No such assignment.
        Forbidden: Another rater's assignment, or the rater is not active.
        InvalidRating: Value outside the study's scale, or an overlong comment.
        AssignmentError: Already rated differently, the study is closed, or the item was
            reassigned after the reservation expired.
    """
    now = now or utcnow()
    for _attempt in range(8):
        try:
            with db.write_conn() as conn:
                result = submit_in_txn(
                    conn,
                    db,
                    assignment_id,
                    rater_id,
                    value,
                    comment=comment,
                    time_spent_ms=time_spent_ms,
                    now=now,
                    then_next=then_next,
                )
            return finish_next(db, result, rater_id, now)
        except IntegrityError:
            # Only the optional next-item reservation can collide (a second tab of the same rater
            # reserving at the same instant); the whole transaction was rolled back: do it again.
            continue
    raise AssignmentError("could not record the rating because of concurrent updates; try again")


def load_submission(
    conn: Connection, db: Database, assignment_id: int, token_hash: str, *, then_next: bool
) -> dict[str, Any] | None:
    """Read a submission's assignment together with the session that submits it, in one query.

    The JSON API's rating endpoint authenticates and loads in one round trip this way; pass the
    row to :func:`submit_in_txn` (``loaded``) once the session checks out
    (:func:`safetylens.human.auth.user_from_row`).

    Returns:
        The row, or None when there is no such assignment, no such session, or the session's
        user is not the assignment's rater (the caller then authenticates on its own to tell
        401, 403 and 404 apart). With ``then_next`` it also holds the inputs of the next
        reservation's checks.
    """
    return one(
        conn,
        _SUBMIT_CONTEXTS[(db.is_postgres, True, then_next)],
        {"aid": assignment_id, "h": token_hash},
    )


def submit_in_txn(
    conn: Connection,
    db: Database,
    assignment_id: int,
    rater_id: int,
    value: int,
    *,
    comment: str = "",
    time_spent_ms: int | None = None,
    now: datetime,
    then_next: bool = False,
    loaded: dict[str, Any] | None = None,
) -> SubmitResult:
    """:func:`submit_rating` inside the caller's write transaction (see :func:`finish_next`).

    ``loaded``: the assignment's row as :func:`load_submission` read it (one query fewer).

    Raises:
        IntegrityError: A concurrent reservation by the same rater; roll back and retry.
    """
    comment, time_spent_ms = _check_submission(value, comment, time_spent_ms)
    row = loaded
    if row is None:
        row = one(conn, _SUBMIT_CONTEXTS[(db.is_postgres, False, False)], {"aid": assignment_id})
    if row is None:
        raise NotFound("no such item")
    if row["rater_id"] != rater_id:
        raise Forbidden("this item is not assigned to you")
    study_id = int(row["study_id"])
    scale = scale_for(row["kind"])
    if value not in scale.values:
        raise InvalidRating(f"rating must be one of {', '.join(map(str, scale.values))}, got {value}")
    if row["status"] == "submitted":
        existing = one(conn, _EXISTING_RATING, {"aid": assignment_id})
        assert existing is not None
        if existing["value"] != value:
            raise AssignmentError("you have already rated this item")
        result = SubmitResult(int(existing["id"]), duplicate=True, study_id=study_id)
    elif row["status"] == "skipped":
        # A skip gave the slot back: a rating now would complete the item without a claim.
        raise AssignmentError("you skipped this item; it can no longer be rated")
    else:
        if row["study_status"] == "closed":
            raise AssignmentError("this study is closed; ratings are no longer accepted")
        if row["user_status"] != "active":
            raise Forbidden("your account is not active")
        if row["member_status"] != "active":
            raise RaterPaused()
        if row["status"] == "expired" and rowcount(conn, _CLAIM, {"iid": row["item_id"]}) != 1:
            raise AssignmentError(
                "your reservation of this item expired and it has been given to other raters; "
                "your rating was not needed"
            )
        elapsed = max(0, int((now - as_datetime(row["reserved_at"])).total_seconds() * 1000))
        params = {
            "aid": assignment_id,
            "sid": study_id,
            "iid": row["item_id"],
            "rid": rater_id,
            "value": value,
            "scale": scale.name,
            "comment": comment,
            "spent": time_spent_ms,
            "elapsed": elapsed,
            "gv": row["acked_version"],
            "now": now,
            "old": row["status"],
        }
        details = {"item_id": row["item_id"], "assignment_id": assignment_id, "value": value, "from": row["status"]}
        if db.is_postgres:
            rating_id = scalar(conn, _SUBMIT_PG, {**params, "details": json.dumps(details)})
            if rating_id is None:
                raise AssignmentError("this item changed while you were rating it; reload the page")
        else:
            if rowcount(conn, _MARK_SUBMITTED, params) != 1:
                raise AssignmentError("this item changed while you were rating it; reload the page")
            rating_id = scalar(conn, _INSERT_RATING, params)
            rowcount(conn, _COMPLETE, {"iid": row["item_id"]})
            # The audit trail, gold checks and adaptive overlap, in this transaction.
            gold.audit_sql(conn, now, rater_id, "rating.create", "rating", rating_id, study_id, details)
        result = SubmitResult(int(rating_id), duplicate=False, study_id=study_id)
        quality = gold.quality_settings(row["settings"])
        if row["is_gold"]:
            gold.after_check_rating(conn, study_id, rater_id, quality, now)
        else:
            grown = gold.after_regular_rating(
                conn, int(row["item_id"]), study_id, row["kind"], int(row["raters_per_item"]), quality, now
            )
            if grown:
                # The cached largest N bounds the search for open slots; this process sees the new
                # slot at once, other workers within CAP_CACHE_S.
                invalidate_caches(study_id)
    if not then_next:
        return result
    ctx = _next_context(row) if loaded is not None else None
    try:
        return replace(result, next=_next_in_txn(conn, db, study_id, rater_id, now, ctx))
    except AssignmentError as exc:
        return replace(result, next_error=exc.message)
    except _Conflict:
        return replace(result, next_error=_RETRY_NEXT)


_RETRY_NEXT = "\0retry"


def _next_context(row: dict[str, Any]) -> dict[str, Any] | None:
    """The next reservation's checks, read with the submission (``then_next``), as they are after it.

    The submission changes one input: the rated assignment counts as taken (``submitted``)
    where before it counted only if it was ``reserved``, so a late rating of an expired
    reservation adds one. ``held`` already leaves the rated assignment out. None for a check
    item: its rating may pause the rater (:func:`gold.after_check_rating`), so the caller reads
    the context again.
    """
    if row["is_gold"] or "taken" not in row:
        return None
    # The row carries the study's and the rater's columns under _CONTEXT's names.
    return {**row, "taken": int(row["taken"]) + (row["status"] == "expired")}


def finish_next(db: Database, result: SubmitResult, rater_id: int, now: datetime) -> SubmitResult:
    """After the commit: if reserving the next item lost a race, try again in its own transaction."""
    if result.next_error != _RETRY_NEXT:
        return result
    try:
        return replace(result, next=next_assignment(db, result.study_id, rater_id, now=now), next_error=None)
    except AssignmentError as exc:
        return replace(result, next_error=exc.message)


def rater_progress(s: Session, study: Study, rater_id: int) -> RaterProgress:
    """How many items a rater has rated in a study, of how many they are expected to rate."""
    done = (
        s.scalar(
            select(func.count()).select_from(Rating).where(Rating.study_id == study.id, Rating.rater_id == rater_id)
        )
        or 0
    )
    cap = rater_cap(s, study)
    # Checks are invisible, so the counter counts them like any item: expect one check per
    # block of round(1 / gold_rate) items, as far as the study has checks.
    rate = gold.quality_settings(study.settings).gold_rate
    checks = 0
    if rate > 0:
        n_checks = s.scalar(select(func.count()).select_from(Item).where(Item.study_id == study.id, Item.is_gold)) or 0
        checks = min(int(n_checks), math.ceil(cap / (max(2, round(1 / rate)) - 1)))
    return RaterProgress(done=int(done), total=max(int(done), cap + checks))


# ---------------------------------------------------------------------------- quality: skipping

_SKIP = Sql(
    """
    UPDATE assignments SET status = 'skipped' WHERE id = :aid AND rater_id = :rid AND status IN ('reserved', 'expired')
    RETURNING item_id, study_id
    """
)
_SKIP_STATE = Sql("SELECT status FROM assignments WHERE id = :aid AND rater_id = :rid")


def skip_assignment(db: Database, assignment_id: int, rater_id: int, *, now: datetime | None = None) -> int:
    """Give an unrated item back without rating it (it is never offered to this rater again).

    The slot returns to the pool (unless the reservation had already expired and released it);
    skips are audited and reported as the rater's skip rate.

    Returns:
        The study id.

    Raises:
        NotFound: No such assignment of this rater.
        AssignmentError: The item was already rated.
    """
    now = now or utcnow()
    with db.write_conn() as conn:
        before = scalar(conn, _SKIP_STATE, {"aid": assignment_id, "rid": rater_id})
        if before is None:
            raise NotFound("no such item")
        row = one(conn, _SKIP, {"aid": assignment_id, "rid": rater_id})
        if row is None:
            raise AssignmentError("this item was already rated or skipped")
        if before == "reserved":
            rowcount(conn, _RELEASE, {"iid": row["item_id"]})
        gold.audit_sql(
            conn,
            now,
            rater_id,
            "assignment.skip",
            "assignment",
            assignment_id,
            int(row["study_id"]),
            {"item_id": row["item_id"], "from": before},
        )
    return int(row["study_id"])
