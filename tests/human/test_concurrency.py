"""50 concurrent raters: no lost or duplicate ratings, no item above N raters (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import func, select

from safetylens.human import assignment as A
from safetylens.human.auth import create_user
from safetylens.human.db import Database
from safetylens.human.models import Assignment, Item, Rating

from .conftest import PASSWORD, LiveServer, login
from .helpers import make_study

THREADS = 50


def _check_invariants(db: Database, study_id: int, n: int, expected_ratings: int, submitted: list[int]) -> None:
    with db.read() as s:
        ratings = s.execute(select(Rating.id, Rating.item_id, Rating.rater_id).where(Rating.study_id == study_id)).all()
        items = s.execute(select(Item.id, Item.claimed, Item.completed).where(Item.study_id == study_id)).all()
        reserved = s.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.study_id == study_id, Assignment.status == "reserved")
        )
    # No lost rating: every acknowledged submission is stored; no duplicate: one per (item, rater).
    assert sorted(r.id for r in ratings) == sorted(submitted)
    assert len(ratings) == expected_ratings
    assert len({(r.item_id, r.rater_id) for r in ratings}) == len(ratings)
    per_item = Counter(r.item_id for r in ratings)
    assert max(per_item.values()) == n
    for item in items:
        assert item.claimed == item.completed == per_item[item.id] == n
    assert reserved == 0


def test_fifty_threads_rate_without_loss_or_overflow(db: Database) -> None:
    n_items, n = 40, 3
    raters = [create_user(db, f"c{i}", PASSWORD, "rater") for i in range(THREADS)]
    study = make_study(db, raters, n_prompts=n_items, raters_per_item=n, balance=False)
    barrier = threading.Barrier(THREADS)
    submitted: list[int] = []
    lock = threading.Lock()

    def work(rater_id: int) -> int:
        barrier.wait()
        count = 0
        while True:
            res = A.next_assignment(db, study.id, rater_id)
            if res is None:
                return count
            out = A.submit_rating(db, res.assignment_id, rater_id, 1 + (rater_id + res.item_id) % 5)
            assert not out.duplicate
            with lock:
                submitted.append(out.rating_id)
            count += 1

    with ThreadPoolExecutor(THREADS) as pool:
        counts = list(pool.map(work, [r.id for r in raters]))
    assert sum(counts) == n_items * n
    _check_invariants(db, study.id, n, n_items * n, submitted)


def test_fifty_threads_submit_the_same_assignment(db: Database) -> None:
    rater = create_user(db, "solo", PASSWORD, "rater")
    study = make_study(db, [rater], n_prompts=1, raters_per_item=1)
    res = A.next_assignment(db, study.id, rater.id)
    assert res is not None
    barrier = threading.Barrier(THREADS)

    def work(_: int) -> tuple[int, bool]:
        barrier.wait()
        out = A.submit_rating(db, res.assignment_id, rater.id, 4)
        return out.rating_id, out.duplicate

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(work, range(THREADS)))
    assert len({rid for rid, _ in results}) == 1
    assert sum(1 for _, dup in results if not dup) == 1
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(Rating)) == 1
        item = s.scalar(select(Item))
        assert item is not None and item.completed == 1 and item.claimed == 1


def test_fifty_http_clients_rate_concurrently(db: Database) -> None:
    """The same guarantees through the real web app (uvicorn on 127.0.0.1, JSON API)."""
    from safetylens.human.app import create_app

    n_items, n = 30, 3
    raters = [create_user(db, f"h{i}", PASSWORD, "rater") for i in range(THREADS)]
    study = make_study(db, raters, n_prompts=n_items, raters_per_item=n, balance=False)
    submitted: list[int] = []
    lock = threading.Lock()
    errors: list[Any] = []
    with LiveServer(create_app(db)) as server:
        clients = [login(server.url, r.username) for r in raters]
        barrier = threading.Barrier(THREADS)

        def work(k: int) -> int:
            client, csrf = clients[k]
            headers = {"X-CSRF-Token": csrf}
            barrier.wait()
            count = 0
            while True:
                nxt = client.post(f"/api/studies/{study.id}/next", headers=headers)
                if nxt.status_code != 200:
                    errors.append(nxt.text)
                    return count
                body = nxt.json()
                if body["done"]:
                    return count
                r = client.post(
                    f"/api/assignments/{body['assignment_id']}/rating",
                    json={"value": 1 + k % 5, "time_spent_ms": 1234},
                    headers=headers,
                )
                if r.status_code != 200:
                    errors.append(r.text)
                    return count
                with lock:
                    submitted.append(r.json()["rating_id"])
                count += 1

        with ThreadPoolExecutor(THREADS) as pool:
            counts = list(pool.map(work, range(THREADS)))
        for c, _ in clients:
            c.close()
    assert errors == []
    assert sum(counts) == n_items * n
    _check_invariants(db, study.id, n, n_items * n, submitted)
