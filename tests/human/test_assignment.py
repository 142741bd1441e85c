"""Assignment rules on real SQLite and PostgreSQL databases."""

from __future__ import annotations

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, inspect, select, text

from safetylens.human import assignment as A
from safetylens.human.auth import create_user, update_user
from safetylens.human.db import Database, utcnow
from safetylens.human.models import Assignment, Item, Rating, StudyMember, User
from safetylens.human.studies import acknowledge_guidelines, add_guidelines, set_status

from .conftest import PASSWORD
from .helpers import make_study


def _rate_all(db: Database, study_id: int, rater_id: int, value: int = 4) -> list[int]:
    items = []
    while True:
        res = A.next_assignment(db, study_id, rater_id)
        if res is None:
            return items
        A.submit_rating(db, res.assignment_id, rater_id, value)
        items.append(res.item_id)


def test_each_item_gets_exactly_n_distinct_raters(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(5)]
    study = make_study(db, raters, n_prompts=10, raters_per_item=3)
    done = {r.id: _rate_all(db, study.id, r.id) for r in raters}
    for items in done.values():
        assert len(items) == len(set(items)), "a rater got the same item twice"
    with db.read() as s:
        per_item = Counter(s.scalars(select(Rating.item_id).where(Rating.study_id == study.id)))
        n_items = s.scalar(select(func.count()).select_from(Item).where(Item.study_id == study.id))
        pairs = s.execute(select(Rating.item_id, Rating.rater_id)).all()
    assert n_items == 10
    assert set(per_item.values()) == {3}
    assert len(pairs) == len(set(pairs)) == 30
    # Balanced: 30 ratings over 5 raters, cap ceil(30/5) = 6 each.
    assert sorted(len(v) for v in done.values()) == [6, 6, 6, 6, 6]


def test_order_is_randomised_per_rater(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters, n_prompts=30, raters_per_item=1, balance=False)
    firsts = []
    for r in raters:
        res = A.next_assignment(db, study.id, r.id)
        assert res is not None
        firsts.append(res.item_id)
        A.submit_rating(db, res.assignment_id, r.id, 5)
    with db.read() as s:
        ids = sorted(s.scalars(select(Item.id).where(Item.study_id == study.id)))
    # Items are not handed out in creation order (probability of the lowest id first is 1/30 per rater).
    assert firsts != ids[:3]
    assert len(set(firsts)) == 3


def test_reload_returns_the_same_reservation(db: Database) -> None:
    raters = [create_user(db, "r0", PASSWORD, "rater")]
    study = make_study(db, raters, n_prompts=3, raters_per_item=1)
    a = A.next_assignment(db, study.id, raters[0].id)
    b = A.next_assignment(db, study.id, raters[0].id)
    assert a is not None and b is not None
    assert a.assignment_id == b.assignment_id and b.resumed


def test_expired_reservation_returns_to_pool_and_late_submission(db: Database) -> None:
    r1, r2 = (create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2))
    study = make_study(db, [r1, r2], n_prompts=1, raters_per_item=1, reservation_timeout_s=60)
    t0 = utcnow()
    held = A.next_assignment(db, study.id, r1.id, now=t0)
    assert held is not None
    # While r1 holds the only slot, r2 gets nothing.
    assert A.next_assignment(db, study.id, r2.id, now=t0 + timedelta(seconds=30)) is None
    # After the timeout the slot goes to r2.
    taken = A.next_assignment(db, study.id, r2.id, now=t0 + timedelta(seconds=61))
    assert taken is not None and taken.item_id == held.item_id
    with db.read() as s:
        assert s.scalar(select(Assignment.status).where(Assignment.id == held.assignment_id)) == "expired"
        assert s.scalar(select(Item.claimed).where(Item.id == held.item_id)) == 1
    # r1's late rating is refused: the item already has its N raters.
    with pytest.raises(A.AssignmentError, match="expired"):
        A.submit_rating(db, held.assignment_id, r1.id, 3)
    A.submit_rating(db, taken.assignment_id, r2.id, 3)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Rating)) == 1


def _rate_n(db: Database, study_id: int, rater_id: int, n: int) -> list[int]:
    items = []
    for _ in range(n):
        res = A.next_assignment(db, study_id, rater_id)
        assert res is not None
        A.submit_rating(db, res.assignment_id, rater_id, 4)
        items.append(res.item_id)
    return items


def test_items_go_fewest_raters_first_at_every_level(db: Database) -> None:
    r0, r1, r2 = (create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3))
    study = make_study(db, [r0, r1, r2], n_prompts=8, raters_per_item=3, balance=False)
    every = set(_rate_all(db, study.id, r0.id))  # every item has one rater
    fuller = set(_rate_n(db, study.id, r1.id, 4))  # half of them two
    assert len(every) == 8 and len(fuller) == 4
    got = []
    res = A.next_assignment(db, study.id, r2.id)
    while res is not None:  # with then_next the next item's level is read with the submission
        got.append(res.item_id)
        res = A.submit_rating(db, res.assignment_id, r2.id, 4, then_next=True).next
    assert set(got[:4]) == every - fuller  # one rater on them: first
    assert set(got[4:]) == fuller


def test_a_slot_the_sweep_returns_below_the_rater_s_level_is_taken_first(db: Database) -> None:
    r3, r4 = (create_user(db, f"r{i}", PASSWORD, "rater") for i in (3, 4))
    study = make_study(db, [r3, r4], n_prompts=4, raters_per_item=3, balance=False, reservation_timeout_s=60)
    t0 = utcnow()
    held = A.next_assignment(db, study.id, r3.id, now=t0)
    assert held is not None
    others = _rate_n(db, study.id, r4.id, 3)  # every item now has one rater (or r3's reservation)
    assert held.item_id not in others
    # Once r3's reservation is overdue, r4's context still sees r3's item with one rater, at the
    # level of everything else r4 has already rated; the sweep in the same request returns its
    # slot (no rater), and r4 must get it.
    res = A.next_assignment(db, study.id, r4.id, now=t0 + timedelta(seconds=61))
    assert res is not None and res.item_id == held.item_id
    with db.read() as s:
        assert s.scalar(select(Assignment.status).where(Assignment.id == held.assignment_id)) == "expired"


def test_late_submission_accepted_when_slot_still_free(db: Database) -> None:
    r1, r2 = (create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2))
    study = make_study(db, [r1, r2], n_prompts=1, raters_per_item=2, reservation_timeout_s=60)
    t0 = utcnow()
    held = A.next_assignment(db, study.id, r1.id, now=t0)
    assert held is not None
    # r2's request sweeps r1's expired reservation (claimed 1 -> 0) and takes a slot (-> 1).
    other = A.next_assignment(db, study.id, r2.id, now=t0 + timedelta(seconds=90))
    assert other is not None and other.item_id == held.item_id
    with db.read() as s:
        assert s.scalar(select(Assignment.status).where(Assignment.id == held.assignment_id)) == "expired"
    # r1's late rating still fits: the item has a second slot.
    res = A.submit_rating(db, held.assignment_id, r1.id, 2, now=t0 + timedelta(seconds=100))
    assert not res.duplicate
    A.submit_rating(db, other.assignment_id, r2.id, 5, now=t0 + timedelta(seconds=101))
    with db.read() as s:
        item = s.get(Item, held.item_id)
        assert item is not None and item.claimed == 2 and item.completed == 2


def test_submit_then_next_in_one_transaction(db: Database) -> None:
    r = create_user(db, "r0", PASSWORD, "rater")
    study = make_study(db, [r], n_prompts=3, raters_per_item=1)
    res = A.next_assignment(db, study.id, r.id)
    seen = []
    while res is not None:
        seen.append(res.item_id)
        out = A.submit_rating(db, res.assignment_id, r.id, 3, then_next=True)
        assert out.next_error is None
        res = out.next
    assert len(seen) == len(set(seen)) == 3
    # New guidelines: the rating is stored, and the reason there is no next item is reported.
    study2 = make_study(db, [r], n_prompts=2, raters_per_item=1, name="second")
    res = A.next_assignment(db, study2.id, r.id)
    assert res is not None
    add_guidelines(db, study2.id, "v2")
    out = A.submit_rating(db, res.assignment_id, r.id, 3, then_next=True)
    assert out.next is None and out.next_error is not None and "guidelines" in out.next_error
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Rating).where(Rating.study_id == study2.id)) == 1


def test_resubmission_is_idempotent_and_change_is_refused(db: Database) -> None:
    r = create_user(db, "r0", PASSWORD, "rater")
    study = make_study(db, [r], n_prompts=1, raters_per_item=1)
    res = A.next_assignment(db, study.id, r.id)
    assert res is not None
    first = A.submit_rating(db, res.assignment_id, r.id, 4)
    again = A.submit_rating(db, res.assignment_id, r.id, 4)
    assert again.duplicate and again.rating_id == first.rating_id
    with pytest.raises(A.AssignmentError, match="already rated"):
        A.submit_rating(db, res.assignment_id, r.id, 1)


def test_permissions_and_validation(db: Database) -> None:
    r1, r2, outsider = (create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3))
    study = make_study(db, [r1, r2], n_prompts=2, raters_per_item=2)
    res = A.next_assignment(db, study.id, r1.id)
    assert res is not None
    with pytest.raises(A.Forbidden):
        A.submit_rating(db, res.assignment_id, r2.id, 3)  # not r2's item
    with pytest.raises(A.Forbidden):
        A.next_assignment(db, study.id, outsider.id)  # not in the pool
    with pytest.raises(A.NotFound):
        A.submit_rating(db, 999_999, r1.id, 3)
    with pytest.raises(A.InvalidRating):
        A.submit_rating(db, res.assignment_id, r1.id, 6)  # safety scale is 1-5
    with pytest.raises(A.InvalidRating):
        A.submit_rating(db, res.assignment_id, r1.id, 3, comment="x" * 6000)
    update_user(db, r2.id, status="paused")
    with pytest.raises(A.Forbidden):
        A.next_assignment(db, study.id, r2.id)


def test_new_guidelines_must_be_confirmed(db: Database) -> None:
    r = create_user(db, "r0", PASSWORD, "rater")
    study = make_study(db, [r], n_prompts=2, raters_per_item=1)
    add_guidelines(db, study.id, "# v2\nNew rules.")
    with pytest.raises(A.GuidelinesRequired) as info:
        A.next_assignment(db, study.id, r.id)
    assert info.value.version == 2


def test_paused_and_closed_studies(db: Database) -> None:
    r = create_user(db, "r0", PASSWORD, "rater")
    study = make_study(db, [r], n_prompts=2, raters_per_item=1)
    res = A.next_assignment(db, study.id, r.id)
    assert res is not None
    set_status(db, study.id, "paused")
    # The held item can still be rated, but no new item is handed out.
    A.submit_rating(db, res.assignment_id, r.id, 5)
    with pytest.raises(A.AssignmentError, match="paused"):
        A.next_assignment(db, study.id, r.id)
    set_status(db, study.id, "active")
    res2 = A.next_assignment(db, study.id, r.id)
    assert res2 is not None
    set_status(db, study.id, "closed")
    with pytest.raises(A.AssignmentError, match="closed"):
        A.submit_rating(db, res2.assignment_id, r.id, 5)


def test_progress_counts(db: Database) -> None:
    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(6)]
    study = make_study(db, raters, n_prompts=8, raters_per_item=3)
    with db.read() as s:
        assert A.rater_progress(s, study, raters[0].id) == A.RaterProgress(done=0, total=4)
    _rate_all(db, study.id, raters[0].id)
    with db.read() as s:
        assert A.rater_progress(s, study, raters[0].id) == A.RaterProgress(done=4, total=4)


def test_migration_0004_copies_is_gold_onto_existing_assignments(db: Database) -> None:
    # Data made before 0004: downgrade, flag one reserved item as a check, upgrade again.
    from alembic import command

    from safetylens.human.db import _alembic_config, upgrade

    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2)]
    study = make_study(db, raters, n_prompts=4, raters_per_item=2)
    taken = [A.next_assignment(db, study.id, r.id) for r in raters]
    assert all(t is not None for t in taken)
    cfg = _alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0003")
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE items SET is_gold = :t WHERE id = :i"), {"t": True, "i": taken[0].item_id})
    upgrade(db)
    with db.read() as s:
        flags = {k: v for k, v in s.execute(select(Assignment.item_id, Assignment.is_gold))}
    assert flags[taken[0].item_id] is True
    assert all(v is False for k, v in flags.items() if k != taken[0].item_id)


def test_a_skipped_item_cannot_be_rated_afterwards(db: Database) -> None:
    """The skip gave the slot back; a rating would complete the item without a claim."""
    rater, other = (create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2))
    study = make_study(db, [rater, other], n_prompts=1, raters_per_item=1)
    res = A.next_assignment(db, study.id, rater.id)
    assert res is not None
    A.skip_assignment(db, res.assignment_id, rater.id)
    with pytest.raises(A.AssignmentError, match="skipped"):
        A.submit_rating(db, res.assignment_id, rater.id, 4)
    with db.read() as s:
        item = s.get(Item, res.item_id)
        assert item is not None and (item.claimed, item.completed) == (0, 0)
        assert s.scalar(select(func.count()).select_from(Rating)) == 0
    # The slot is free for the other rater.
    again = A.next_assignment(db, study.id, other.id)
    assert again is not None and again.item_id == res.item_id


def _member_counts(db: Database, study_id: int) -> dict[int, tuple[int, int]]:
    """Each member's (taken, taken_checks) as the database keeps them (migration 0005)."""
    with db.read() as s:
        rows = s.execute(
            select(StudyMember.user_id, StudyMember.taken, StudyMember.taken_checks).where(
                StudyMember.study_id == study_id
            )
        )
        return {uid: (taken, checks) for uid, taken, checks in rows}


def _counted(db: Database, study_id: int) -> dict[int, tuple[int, int]]:
    """The same counts, counted from the assignments (what the counters must equal)."""
    with db.read() as s:
        members = s.scalars(select(StudyMember.user_id).where(StudyMember.study_id == study_id)).all()
        live = s.execute(
            select(Assignment.rater_id, Assignment.is_gold, func.count())
            .where(Assignment.study_id == study_id, Assignment.status.in_(("reserved", "submitted")))
            .group_by(Assignment.rater_id, Assignment.is_gold)
        ).all()
    counts = {uid: [0, 0] for uid in members}
    for rater_id, is_gold, n in live:
        if rater_id in counts:
            counts[rater_id][int(bool(is_gold))] = n
    return {uid: (c[0], c[1]) for uid, c in counts.items()}


def _assert_item_invariants(db: Database, study_id: int) -> None:
    """Each item's claimed slots are its live assignments, its completed ones its ratings, within N."""
    with db.read() as s:
        items = s.execute(
            select(Item.id, Item.claimed, Item.completed, Item.target_ratings).where(Item.study_id == study_id)
        ).all()
        live = Counter(
            s.scalars(
                select(Assignment.item_id).where(
                    Assignment.study_id == study_id, Assignment.status.in_(("reserved", "submitted"))
                )
            )
        )
        rated = Counter(s.scalars(select(Rating.item_id).where(Rating.study_id == study_id)))
    for item_id, claimed, completed, target in items:
        assert (claimed, completed) == (live[item_id], rated[item_id]), item_id
        assert claimed <= target, item_id


def test_member_counters_stay_exact_through_every_assignment_transition(db: Database) -> None:
    """Reserve, rate, expire, rate late, skip, checks, direct SQL, removal and re-admission."""
    from safetylens.human import gold
    from safetylens.human.studies import add_members, remove_member

    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters, n_prompts=10, raters_per_item=2)
    gold.add_gold_items(
        db,
        study.id,
        gold.parse_gold_records(
            [{"id": f"g{i}", "prompt": f"check {i}", "response": "r", "accepted": [3, 4]} for i in range(3)]
        ),
    )
    gold.update_quality_settings(db, study.id, {"gold_rate": 0.5}, actor_id=None)
    rng = random.Random(5)
    held: dict[int, A.Reservation] = {}
    expired: list[tuple[int, int]] = []  # (assignment, rater)
    seen = Counter[str]()
    for _step in range(200):
        rater = rng.choice(raters).id
        action = rng.choice(["next", "next", "submit", "submit_next", "skip", "expire", "late", "pause", "guidelines"])
        try:
            if action == "pause":  # an admin pauses the rater for a moment; their held item stays theirs
                gold.set_member_status(db, study.id, rater, "paused", actor_id=None)
                with pytest.raises(A.RaterPaused):
                    A.next_assignment(db, study.id, rater)
                gold.set_member_status(db, study.id, rater, "active", actor_id=None)
            elif action == "guidelines":  # a new version: refused until confirmed
                version = add_guidelines(db, study.id, f"version at step {_step}")
                with pytest.raises(A.GuidelinesRequired):
                    A.next_assignment(db, study.id, rater)
                for r in raters:
                    acknowledge_guidelines(db, study.id, r.id, version)
            elif action == "next":
                res = A.next_assignment(db, study.id, rater)
                if res is not None:
                    held[rater] = res
            elif action in ("submit", "submit_next") and rater in held:
                out = A.submit_rating(db, held.pop(rater).assignment_id, rater, 4, then_next=action == "submit_next")
                if out.next is not None:
                    held[rater] = out.next
            elif action == "skip" and rater in held:
                A.skip_assignment(db, held.pop(rater).assignment_id, rater)
            elif action == "expire" and held:
                with db.write_conn() as conn:
                    A.expire_reservations(conn, db, study.id, utcnow() + timedelta(days=1))
                expired += [(r.assignment_id, rid) for rid, r in held.items()]
                held.clear()
            elif action == "late" and expired:
                aid, rid = expired.pop(rng.randrange(len(expired)))
                A.submit_rating(db, aid, rid, 4)
            else:
                continue
        except A.AssignmentError:
            seen["refused"] += 1  # e.g. a late rating whose slot went to another rater
        seen[action] += 1
        assert _member_counts(db, study.id) == _counted(db, study.id), (_step, action)
        _assert_item_invariants(db, study.id)
    # Every kind of transition happened, checks included.
    assert {"next", "submit", "submit_next", "skip", "expire", "late", "pause", "guidelines"} <= set(seen), seen
    assert any(checks for _, checks in _member_counts(db, study.id).values())
    assert all(taken for taken, _ in _member_counts(db, study.id).values())

    # Writes from outside the rating code: a flag flip, a status change, a delete.
    with db.engine.begin() as conn:
        aid = conn.scalar(text("SELECT MIN(id) FROM assignments WHERE status = 'submitted'"))
        conn.execute(text("UPDATE assignments SET is_gold = NOT is_gold WHERE id = :a"), {"a": aid})
    assert _member_counts(db, study.id) == _counted(db, study.id)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE assignments SET status = 'expired' WHERE id = :a"), {"a": aid})
    assert _member_counts(db, study.id) == _counted(db, study.id)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE assignments SET status = 'submitted' WHERE id = :a"), {"a": aid})
        conn.execute(text("DELETE FROM ratings WHERE assignment_id = :a"), {"a": aid})
        conn.execute(text("DELETE FROM assignments WHERE id = :a"), {"a": aid})
    assert _member_counts(db, study.id) == _counted(db, study.id)

    # A rater removed from the pool and admitted again starts from their existing assignments.
    before = _counted(db, study.id)[raters[0].id]
    remove_member(db, study.id, raters[0].id)
    assert raters[0].id not in _member_counts(db, study.id)
    add_members(db, study.id, [raters[0].username])
    assert _member_counts(db, study.id)[raters[0].id] == before != (0, 0)


def test_migration_0005_counts_existing_assignments_and_downgrades(db: Database) -> None:
    from alembic import command

    from safetylens.human.db import _alembic_config, upgrade

    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters, n_prompts=5, raters_per_item=2)
    _rate_all(db, study.id, raters[0].id)
    assert A.next_assignment(db, study.id, raters[1].id) is not None
    expected = _counted(db, study.id)
    assert expected[raters[0].id] == (4, 0) and expected[raters[1].id] == (1, 0)  # balanced cap: 4
    cfg = _alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004")
    with db.engine.connect() as conn:
        assert "taken" not in {c["name"] for c in inspect(conn).get_columns("study_members")}
    # Work done while the counters (and their triggers) are gone is counted by the upgrade.
    with db.engine.begin() as conn:
        conn.execute(
            text("UPDATE assignments SET status = 'expired' WHERE rater_id = :r AND status = 'reserved'"),
            {"r": raters[1].id},
        )
    upgrade(db)
    assert _member_counts(db, study.id) == _counted(db, study.id)
    assert _member_counts(db, study.id)[raters[1].id] == (0, 0)
    assert _member_counts(db, study.id)[raters[0].id] == (4, 0)


@pytest.mark.postgres
def test_concurrent_second_reservation_by_the_same_rater_is_resumed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two tabs of one rater asking for an item at the same instant: one reservation, no error.

    The race needs two concurrent writers, which only PostgreSQL has (SQLite writes are serialised
    before the context is read), so this runs on PostgreSQL only. The second request's insert hits
    the partial unique index "one live reservation per rater and study"; the driver's error must
    reach the retry loop as IntegrityError, and the retry resumes the first tab's reservation.
    """
    from .conftest import new_pg_schema

    schema = new_pg_schema()
    db = Database(schema.url)
    try:
        from safetylens.human.db import upgrade

        upgrade(db)
        r = create_user(db, "r0", PASSWORD, "rater")
        study = make_study(db, [r], n_prompts=4, raters_per_item=1)
        real_pick = A._pick
        other: list[A.Reservation | None] = []
        raced = threading.Event()

        def pick_after_other_tab(*args: object, **kwargs: object) -> object:
            if not raced.is_set():  # the other tab reserves and commits between our context read and insert
                raced.set()
                with ThreadPoolExecutor(1) as pool:
                    other.append(pool.submit(A.next_assignment, db, study.id, r.id).result(timeout=30))
            return real_pick(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(A, "_pick", pick_after_other_tab)
        mine = A.next_assignment(db, study.id, r.id)
        assert other[0] is not None and mine is not None
        assert mine.assignment_id == other[0].assignment_id and mine.resumed
        with db.read() as s:
            live = s.scalars(select(Assignment).where(Assignment.rater_id == r.id)).all()
            claimed = s.scalar(select(func.sum(Item.claimed)).where(Item.study_id == study.id))
        assert [a.status for a in live] == ["reserved"] and claimed == 1
    finally:
        db.dispose()
        schema.drop()


def test_hand_written_sql_raises_sqlalchemy_integrity_error(db: Database) -> None:
    """The hot path's raw statements report constraint violations as SQLAlchemy does (both drivers)."""
    from sqlalchemy.exc import IntegrityError

    from safetylens.human.store import sql

    r = create_user(db, "r0", PASSWORD, "rater")
    dup = sql.Sql(
        "INSERT INTO users (username, password_hash, role, pseudonym, status, created_at) "
        "SELECT username, password_hash, role, 'other', status, created_at FROM users WHERE id = :id"
    )
    with pytest.raises(IntegrityError) as info, db.write_conn() as conn:
        sql.run(conn, dup, {"id": r.id})
    assert "username" in str(info.value.orig).lower() or "unique" in str(info.value.orig).lower()
    with db.read() as s:  # nothing half-written, the database still usable
        assert s.scalar(select(func.count()).select_from(User)) == 1


def test_the_item_search_probes_the_rater_s_assignments_item_by_item(db: Database) -> None:
    """The open-item searches stop at their first item: each item looked at costs one index probe.

    On PostgreSQL a plain NOT EXISTS became an anti-join that first read all of the rater's
    assignments in the whole (item_id, rater_id) index, a cost that grew with the database
    (:func:`safetylens.human.store.queries.rater_has_no`).
    """
    from safetylens.human.store import queries

    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(3)]
    study = make_study(db, raters, n_prompts=300, raters_per_item=3, balance=False)
    for r in raters[:2]:
        _rate_n(db, study.id, r.id, 150)
    params = {"sid": study.id, "rid": raters[0].id, "level": 1, "start": 0, "false": False, "true": True}
    searches = {
        "context": queries.context_query(assignment=False, next_checks=True),
        "candidate": queries.CANDIDATES[(db.is_postgres, ">=")],
        "gold": queries.PICK_GOLD[db.is_postgres],
    }
    with db.engine.connect() as conn:
        if db.is_postgres:
            conn.exec_driver_sql("ANALYZE")
        for name, stmt in searches.items():
            if db.is_postgres:
                sql = stmt.pg.replace("%(", ":").replace(")s", "")
                plan = "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql), params))
                probes = [line for line in plan.splitlines() if "uq_assignments_item_rater" in line]
                assert probes, (name, plan)
                # Every use of the index is a probe under a SubPlan, keyed on the item.
                assert "SubPlan" in plan and "Materialize" not in plan, (name, plan)
            else:
                rows = conn.execute(text("EXPLAIN QUERY PLAN " + stmt.sqlite), params).all()
                plan = "\n".join(str(r[-1]) for r in rows)
                assert "(item_id=? AND rater_id=?)" in plan, (name, plan)
            conn.rollback()


def test_stale_cap_inputs_are_served_while_one_thread_rereads_them(db: Database) -> None:
    """The balanced cap's study sizes: read in-line once, then refreshed off the request path."""
    import time as _time

    from safetylens.human.store.caps import CAPS, invalidate_caches

    raters = [create_user(db, f"r{i}", PASSWORD, "rater") for i in range(2)]
    study = make_study(db, raters, n_prompts=6, raters_per_item=3)
    invalidate_caches(study.id)
    with db.engine.connect() as conn:
        assert CAPS.sizes(conn, db, study.id) == (6, 18, 2, 3)  # first read: in-line
    # Another process grows every item's N (no invalidation reaches this one).
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE items SET target_ratings = 4 WHERE study_id = :s"), {"s": study.id})
    entry = CAPS.entry(db, study.id)
    assert entry is not None
    CAPS._entries[(db.url, study.id)] = (entry[0] - CAPS.max_age_s - 1, entry[1])  # gone stale
    with db.engine.connect() as conn:
        assert CAPS.sizes(conn, db, study.id) == (6, 18, 2, 3)  # the stale value, at once
    deadline = _time.monotonic() + 10
    while (e := CAPS.entry(db, study.id)) is None or e[1] != (6, 24, 2, 4):
        assert _time.monotonic() < deadline, "the background refresh never stored the new sizes"
        _time.sleep(0.01)
    while CAPS.refreshing(db, study.id):
        assert _time.monotonic() < deadline
        _time.sleep(0.01)
    # A read that began before an invalidation does not overwrite what comes after it.
    generation = CAPS.generation
    invalidate_caches(study.id)
    with db.engine.connect() as conn:
        CAPS.read(conn, db, study.id, generation)
    assert CAPS.entry(db, study.id) is None
