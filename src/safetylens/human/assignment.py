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
PostgreSQL (READ COMMITTED) a rater's requests for one study are serialised by locking their
pool-membership row (``SELECT ... FOR UPDATE``); concurrent raters pick candidate items with
``FOR UPDATE SKIP LOCKED`` so they do not queue behind each other; the conditional update is
re-checked by PostgreSQL after any lock wait.

Order: each rater sees items in their own random permutation (a bijection of the item's random
``order_key`` keyed by the study seed and rater id), items with the fewest raters first, so work
spreads across items and no two raters see the same sequence.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safetylens.errors import SafetylensError
from safetylens.human.db import Database, utcnow
from safetylens.human.models import Assignment, Item, Rating, Study, StudyMember, User
from safetylens.human.scales import scale_for
from safetylens.human.studies import acknowledged_version, audit, current_guidelines, rater_cap

PRIME = 2_147_483_647  # 2**31 - 1; order keys are drawn below it, so the permutation is a bijection
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


@dataclass(frozen=True)
class Reservation:
    """An item on a rater's screen.

    Attributes:
        assignment_id: Identifies the reservation (and the URL of the rating page).
        item_id: The item.
        expires_at: When the slot returns to the pool if no rating arrives.
        resumed: True when the rater already held this reservation.
    """

    assignment_id: int
    item_id: int
    expires_at: datetime
    resumed: bool


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
    """

    rating_id: int
    duplicate: bool


def _rowcount(result: object) -> int:
    """Rows changed by an UPDATE (SQLAlchemy's CursorResult.rowcount)."""
    return int(getattr(result, "rowcount", -1))


def rater_permutation(seed: int, rater_id: int) -> tuple[int, int]:
    """Coefficients ``(a, b)`` of the rater's item order ``(order_key * a + b) mod PRIME``."""
    digest = hashlib.sha256(f"{seed}:{rater_id}".encode()).digest()
    a = int.from_bytes(digest[:8], "little") % (PRIME - 1) + 1
    b = int.from_bytes(digest[8:16], "little") % PRIME
    return a, b


def _lock_member(s: Session, db: Database, study_id: int, rater_id: int) -> bool:
    q = select(StudyMember.user_id).where(StudyMember.study_id == study_id, StudyMember.user_id == rater_id)
    if db.is_postgres:
        q = q.with_for_update()
    return s.scalar(q) is not None


def _check_rater(s: Session, db: Database, study: Study, rater_id: int) -> None:
    rater = s.get(User, rater_id)
    if rater is None or rater.role != "rater" or rater.status != "active":
        raise Forbidden("only active raters take items")
    if not _lock_member(s, db, study.id, rater_id):
        raise Forbidden("you are not a rater in this study")


def expire_reservations(s: Session, db: Database, study_id: int, now: datetime) -> int:
    """Return expired reservations' slots to the pool; returns how many expired."""
    q = (
        select(Assignment.id, Assignment.item_id)
        .where(Assignment.study_id == study_id, Assignment.status == "reserved", Assignment.expires_at < now)
        .order_by(Assignment.id)
        .limit(200)
    )
    if db.is_postgres:
        q = q.with_for_update(skip_locked=True)
    n = 0
    for aid, item_id in s.execute(q).all():
        res = s.execute(
            update(Assignment).where(Assignment.id == aid, Assignment.status == "reserved").values(status="expired")
        )
        if _rowcount(res) == 1:
            s.execute(update(Item).where(Item.id == item_id).values(claimed=Item.claimed - 1))
            audit(s, None, "assignment.expire", "assignment", aid, study_id=study_id, details={"item_id": item_id})
            n += 1
    return n


def _claim(s: Session, item_id: int) -> bool:
    res = s.execute(
        update(Item).where(Item.id == item_id, Item.claimed < Item.target_ratings).values(claimed=Item.claimed + 1)
    )
    return _rowcount(res) == 1


def next_assignment(db: Database, study_id: int, rater_id: int, *, now: datetime | None = None) -> Reservation | None:
    """Give a rater their current item, or reserve the next one; None when they are done.

    Raises:
        Forbidden: Not an active rater in this study.
        GuidelinesRequired: The current guidelines version is not confirmed yet.
        AssignmentError: The study is not open.
    """
    now = now or utcnow()
    for _attempt in range(8):
        try:
            with db.write() as s:
                return _next_in_txn(s, db, study_id, rater_id, now)
        except IntegrityError:
            # Only reachable on PostgreSQL when two requests of the same rater race past the
            # membership lock's absence (e.g. the rater was just added); retry on fresh data.
            continue
    raise AssignmentError("could not reserve an item because of concurrent updates; try again")


def _next_in_txn(s: Session, db: Database, study_id: int, rater_id: int, now: datetime) -> Reservation | None:
    study = s.get(Study, study_id)
    if study is None:
        raise NotFound(f"no study with id {study_id}")
    _check_rater(s, db, study, rater_id)
    guide = current_guidelines(s, study_id)
    if guide is not None and (acknowledged_version(s, study_id, rater_id) or 0) < guide.version:
        raise GuidelinesRequired(study_id, guide.version)
    timeout = timedelta(seconds=study.reservation_timeout_s)
    held = s.execute(
        select(Assignment.id, Assignment.item_id, Assignment.expires_at).where(
            Assignment.rater_id == rater_id, Assignment.study_id == study_id, Assignment.status == "reserved"
        )
    ).first()
    if held is not None:
        # Still ours even if past its deadline: nobody has reclaimed it yet. Extend it.
        expires = now + timeout
        s.execute(update(Assignment).where(Assignment.id == held.id).values(expires_at=expires))
        return Reservation(held.id, held.item_id, expires, resumed=True)
    if study.status != "active":
        raise AssignmentError(f"study {study.name!r} is {study.status}; no new items are handed out")
    expire_reservations(s, db, study_id, now)
    taken = (
        s.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(
                Assignment.rater_id == rater_id,
                Assignment.study_id == study_id,
                Assignment.status.in_(("reserved", "submitted")),
            )
        )
        or 0
    )
    if taken >= rater_cap(s, study):
        return None
    a, b = rater_permutation(study.seed, rater_id)
    mine = exists().where(
        Assignment.item_id == Item.id, Assignment.rater_id == rater_id, Assignment.status != "expired"
    )
    q = (
        select(Item.id)
        .where(Item.study_id == study_id, Item.claimed < Item.target_ratings, ~mine)
        .order_by(Item.claimed, (Item.order_key * a + b) % PRIME, Item.id)
        .limit(1)
    )
    if db.is_postgres:
        q = q.with_for_update(of=Item, skip_locked=True)
    for _ in range(20):
        item_id = s.scalar(q)
        if item_id is None:
            return None
        if _claim(s, item_id):
            break
    else:
        return None
    expires = now + timeout
    old = s.scalar(
        select(Assignment.id).where(
            Assignment.item_id == item_id, Assignment.rater_id == rater_id, Assignment.status == "expired"
        )
    )
    if old is not None:
        s.execute(
            update(Assignment)
            .where(Assignment.id == old, Assignment.status == "expired")
            .values(status="reserved", reserved_at=now, expires_at=expires, submitted_at=None)
        )
        return Reservation(old, item_id, expires, resumed=False)
    asg = Assignment(
        study_id=study_id, item_id=item_id, rater_id=rater_id, status="reserved", reserved_at=now, expires_at=expires
    )
    s.add(asg)
    s.flush()
    return Reservation(asg.id, item_id, expires, resumed=False)


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


def submit_rating(
    db: Database,
    assignment_id: int,
    rater_id: int,
    value: int,
    *,
    comment: str = "",
    time_spent_ms: int | None = None,
    now: datetime | None = None,
) -> SubmitResult:
    """Record a rater's answer for an item assigned to them.

    A late submission (the reservation expired) is accepted if the item still has a free slot.
    Submitting the same answer twice returns the first rating (``duplicate=True``).

    Raises:
        NotFound: No such assignment.
        Forbidden: Another rater's assignment, or the rater is not active.
        InvalidRating: Value outside the study's scale, or an overlong comment.
        AssignmentError: Already rated differently, the study is closed, or the item was
            reassigned after the reservation expired.
    """
    now = now or utcnow()
    if time_spent_ms is not None and not 0 <= time_spent_ms <= 7 * 24 * 3600 * 1000:
        time_spent_ms = None
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise InvalidRating(f"comments are at most {MAX_COMMENT} characters")
    with db.write() as s:
        q = (
            select(Assignment, Study.kind, Study.status)
            .join(Study, Study.id == Assignment.study_id)
            .where(Assignment.id == assignment_id)
        )
        if db.is_postgres:
            q = q.with_for_update(of=Assignment)
        row = s.execute(q).first()
        if row is None:
            raise NotFound("no such item")
        asg, kind, study_status = row
        if asg.rater_id != rater_id:
            raise Forbidden("this item is not assigned to you")
        scale = scale_for(kind)
        if value not in scale.values:
            raise InvalidRating(f"rating must be one of {', '.join(map(str, scale.values))}, got {value}")
        if asg.status == "submitted":
            existing = s.execute(select(Rating.id, Rating.value).where(Rating.assignment_id == asg.id)).one()
            if existing.value == value:
                return SubmitResult(existing.id, duplicate=True)
            raise AssignmentError("you have already rated this item")
        if study_status == "closed":
            raise AssignmentError("this study is closed; ratings are no longer accepted")
        rater_status = s.scalar(select(User.status).where(User.id == rater_id))
        if rater_status != "active":
            raise Forbidden("your account is not active")
        if asg.status == "expired" and not _claim(s, asg.item_id):
            raise AssignmentError(
                "your reservation of this item expired and it has been given to other raters; "
                "your rating was not needed"
            )
        res = s.execute(
            update(Assignment)
            .where(and_(Assignment.id == asg.id, Assignment.status == asg.status))
            .values(status="submitted", submitted_at=now)
        )
        if _rowcount(res) != 1:
            raise AssignmentError("this item changed while you were rating it; reload the page")
        version = acknowledged_version(s, asg.study_id, rater_id)
        rating = Rating(
            assignment_id=asg.id,
            study_id=asg.study_id,
            item_id=asg.item_id,
            rater_id=rater_id,
            value=value,
            scale=scale.name,
            comment=comment,
            time_spent_ms=time_spent_ms,
            server_elapsed_ms=max(0, int((now - asg.reserved_at).total_seconds() * 1000)),
            guidelines_version=version,
            created_at=now,
        )
        s.add(rating)
        s.execute(update(Item).where(Item.id == asg.item_id).values(completed=Item.completed + 1))
        s.flush()
        return SubmitResult(rating.id, duplicate=False)


def rater_progress(s: Session, study: Study, rater_id: int) -> RaterProgress:
    """How many items a rater has rated in a study, of how many they are expected to rate."""
    done = (
        s.scalar(
            select(func.count()).select_from(Rating).where(Rating.study_id == study.id, Rating.rater_id == rater_id)
        )
        or 0
    )
    return RaterProgress(done=int(done), total=max(int(done), rater_cap(s, study)))
