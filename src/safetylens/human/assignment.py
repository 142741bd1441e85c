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
import math
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safetylens.errors import SafetylensError
from safetylens.human import gold
from safetylens.human.db import Database, utcnow
from safetylens.human.models import Assignment, Item, Rating, Study
from safetylens.human.scales import scale_for
from safetylens.human.store import queries as q
from safetylens.human.store.audit_log import audit
from safetylens.human.store.caps import CAPS
from safetylens.human.store.caps import invalidate_caches as invalidate_caches
from safetylens.human.store.sql import as_datetime, one, rowcount, run, scalar
from safetylens.human.studies import cap_from, rater_cap

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
        content: The item as the rater sees it (:data:`~safetylens.human.store.queries.ITEM_CONTENT`)
            when the reservation read it on the way (PostgreSQL); None otherwise.
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


# Expired reservations are swept at most this often per study and process: a slot returns to the
# pool within this many seconds of its deadline, and the sweep costs nothing on most requests.
SWEEP_INTERVAL = timedelta(seconds=2)
_last_sweep: dict[tuple[str, int], datetime] = {}


# A rater's request for a study: everything the reservation's checks need, in one query.
_STUDY_CONTEXT = q.context_query(assignment=False, next_checks=True)


class _Conflict(Exception):
    """A concurrent request of the same rater won a race; retry on fresh data."""


def expire_reservations(conn: Connection, db: Database, study_id: int, now: datetime) -> int:
    """Return expired reservations' slots to the pool; returns how many expired.

    Each reservation is expired by a conditional update, so concurrent sweeps release a slot once.
    """
    n = 0
    cur = run(conn, q.EXPIRED[db.is_postgres], {"sid": study_id, "now": now})
    rows = cur.fetchall()
    cur.close()
    for aid, item_id in rows:
        if rowcount(conn, q.EXPIRE_ONE, {"aid": aid}) == 1:
            rowcount(conn, q.RELEASE, {"iid": item_id})
            audit(
                conn,
                None,
                "assignment.expire",
                "assignment",
                aid,
                study_id=study_id,
                details={"item_id": item_id},
                at=now,
            )
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
        ctx = one(conn, _STUDY_CONTEXT, {"sid": study_id, "rid": rater_id})
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
        item_id = scalar(conn, q.EXTEND, {"exp": expires, "aid": ctx["held"]})
        return Reservation(int(ctx["held"]), int(item_id), expires, resumed=True)
    if ctx["study_status"] != "active":
        raise AssignmentError(f"study {ctx['study_name']!r} is {ctx['study_status']}; no new items are handed out")
    n_items, slots, n_raters, max_target = CAPS.sizes(conn, db, study_id)
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
        rowcount(conn, q.RELEASE, {"iid": item_id})
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
        aid = scalar(conn, q.RESERVE_PG, params)
    else:
        aid = scalar(conn, q.RESERVE, params)
        if aid is not None:
            audit(
                conn,
                rater_id,
                "assignment.reserve",
                "assignment",
                aid,
                study_id=study_id,
                details={"item_id": item_id},
                at=now,
            )
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
    that no item below it is open to this rater (``open_level`` of
    :func:`~safetylens.human.store.queries.context_query`).

    Returns:
        ``(item id, assignment id, content)``, the assignment id None when a live assignment of
        this rater for the item appeared concurrently (the slot is still claimed); None when
        nothing is open. On PostgreSQL the claim, the reservation, its audit row and the item's
        content (:data:`~safetylens.human.store.queries.ITEM_CONTENT`) are one statement; on SQLite the content is None.
    """
    start = secrets.randbelow(ORDER_KEY_RANGE)
    params: dict[str, Any] = {"sid": study_id, "rid": rater_id, "start": start, "false": False, "level": 0}
    if db.is_postgres:
        params.update(now=now, exp=expires)
    # max_target is cached (store.caps); an item grown since (adaptive overlap) still gets its level.
    for level in range(first_level, max(max_target, first_level + 1)):
        params["level"] = level
        for cmp in (">=", "<"):  # from the random point to the end, then wrap around
            key = (db.is_postgres, cmp)
            for _ in range(20):
                if db.is_postgres:
                    row = one(conn, q.PICK_RESERVE_PG[cmp], params)
                    if row is not None:
                        return int(row["item_id"]), None if row["aid"] is None else int(row["aid"]), row
                else:
                    item_id = scalar(conn, q.PICK[key], params)
                    if item_id is not None:
                        aid = _reserve(conn, db, study_id, int(item_id), rater_id, now, expires, is_check=False)
                        return int(item_id), aid, None
                # Nothing claimed: either no candidate here, or (PostgreSQL) a concurrent rater took
                # the candidate's last slot between our snapshot and our update. Look again.
                if scalar(conn, q.CANDIDATES[key], params) is None:
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
    stmt = q.context_query(assignment=True, lock=db.is_postgres, session=True, next_checks=then_next)
    return one(conn, stmt, {"aid": assignment_id, "h": token_hash})


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
        row = one(conn, q.context_query(assignment=True, lock=db.is_postgres), {"aid": assignment_id})
    if row is None:
        raise NotFound("no such item")
    if row["rater_id"] != rater_id:
        raise Forbidden("this item is not assigned to you")
    study_id = int(row["study_id"])
    scale = scale_for(row["kind"])
    if value not in scale.values:
        raise InvalidRating(f"rating must be one of {', '.join(map(str, scale.values))}, got {value}")
    if row["status"] == "submitted":
        existing = one(conn, q.EXISTING_RATING, {"aid": assignment_id})
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
        if row["status"] == "expired" and rowcount(conn, q.CLAIM, {"iid": row["item_id"]}) != 1:
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
            rating_id = scalar(conn, q.SUBMIT_PG, {**params, "details": json.dumps(details)})
            if rating_id is None:
                raise AssignmentError("this item changed while you were rating it; reload the page")
        else:
            if rowcount(conn, q.MARK_SUBMITTED, params) != 1:
                raise AssignmentError("this item changed while you were rating it; reload the page")
            rating_id = scalar(conn, q.INSERT_RATING, params)
            rowcount(conn, q.COMPLETE, {"iid": row["item_id"]})
            # The audit trail, gold checks and adaptive overlap, in this transaction.
            audit(conn, rater_id, "rating.create", "rating", rating_id, study_id=study_id, details=details, at=now)
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
                # slot at once, other workers within store.caps.CAP_CACHE_S.
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
    # The row carries the study's and the rater's columns under the study context's names.
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
        before = scalar(conn, q.SKIP_STATE, {"aid": assignment_id, "rid": rater_id})
        if before is None:
            raise NotFound("no such item")
        row = one(conn, q.SKIP, {"aid": assignment_id, "rid": rater_id})
        if row is None:
            raise AssignmentError("this item was already rated or skipped")
        if before == "reserved":
            rowcount(conn, q.RELEASE, {"iid": row["item_id"]})
        audit(
            conn,
            rater_id,
            "assignment.skip",
            "assignment",
            assignment_id,
            study_id=int(row["study_id"]),
            details={"item_id": row["item_id"], "from": before},
            at=now,
        )
    return int(row["study_id"])
