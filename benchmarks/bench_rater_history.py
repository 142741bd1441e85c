"""Does a rating get slower as the rater's history in a study grows? SQLite and PostgreSQL.

Every rating with ``then_next`` reads the rater's counts of live items and checks in the study
(the balanced cap, the gold-check schedule). This script times the rating hot path
(:func:`safetylens.human.assignment.submit_rating` with ``then_next=True``, in process, no HTTP)
for two raters of the same study: a newcomer with no history and a veteran who already has
``--history`` submitted assignments (written in bulk before timing). The baseline is the
newcomer, measured in the same run on the same database, in alternating blocks (this VM's speed
drifts); the figure of merit is the veteran's time per rating as a ratio of it: 1.0 means a
rating costs the same whatever the history.

Usage::

    python benchmarks/bench_rater_history.py [--history 3000] [--ratings 400] [--db sqlite,postgres]
        [--pg postgresql://root@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_human_ratings import PASSWORD, bench_records, fresh_database  # noqa: E402
from figures import figure  # noqa: E402
from sqlalchemy import text  # noqa: E402

from safetylens.human import assignment as A  # noqa: E402
from safetylens.human.auth import create_user  # noqa: E402
from safetylens.human.db import Database, upgrade, utcnow  # noqa: E402
from safetylens.human.importing import import_records  # noqa: E402
from safetylens.human.studies import acknowledge_guidelines, add_members, create_study  # noqa: E402

BLOCK = 50  # ratings per timed block; the two raters alternate blocks


def prepare(db: Database, history: int, ratings: int) -> tuple[int, int, int]:
    """A study (one rater per item) with a newcomer and a veteran holding ``history`` ratings."""
    upgrade(db)
    newcomer = create_user(db, "newcomer", PASSWORD, "rater")
    veteran = create_user(db, "veteran", PASSWORD, "rater")
    study = create_study(db, "history", "safety", raters_per_item=1, seed=1, balance=False)
    n = history + 2 * (ratings + 2 * BLOCK) + 10  # each rater: warm-up and timed blocks
    recs = bench_records(n)
    import_records(db, study.id, recs)
    add_members(db, study.id, ["newcomer", "veteran"])
    for r in (newcomer, veteran):
        acknowledge_guidelines(db, study.id, r.id, 1)
    # The veteran's history: submitted assignments of the first ``history`` items, as ratings
    # leave them (item slots claimed and completed).
    now = utcnow()
    with db.engine.begin() as conn:
        ids = list(
            conn.scalars(
                text("SELECT id FROM items WHERE study_id = :s ORDER BY id LIMIT :n"), {"s": study.id, "n": history}
            )
        )
        conn.execute(
            text(
                "INSERT INTO assignments (study_id, item_id, rater_id, status, reserved_at, expires_at, "
                "submitted_at, is_gold) VALUES (:s, :i, :r, 'submitted', :t, :t, :t, :f)"
            ),
            [{"s": study.id, "i": i, "r": veteran.id, "t": now, "f": False} for i in ids],
        )
        conn.execute(
            text("UPDATE items SET claimed = 1, completed = 1 WHERE study_id = :s AND id <= :last"),
            {"s": study.id, "last": ids[-1] if ids else 0},
        )
        if db.is_postgres:
            conn.execute(text("ANALYZE"))
    return study.id, newcomer.id, veteran.id


def time_block(
    db: Database, study_id: int, rater_id: int, start: A.Reservation | None
) -> tuple[list[float], A.Reservation]:
    """Rate ``BLOCK`` items with ``then_next``; per-rating seconds and the reservation left open."""
    res = start or A.next_assignment(db, study_id, rater_id)
    times = []
    for _ in range(BLOCK):
        assert res is not None, "the study ran out of items"
        t0 = time.perf_counter()
        out = A.submit_rating(db, res.assignment_id, rater_id, 4, then_next=True)
        times.append(time.perf_counter() - t0)
        res = out.next
    assert res is not None
    return times, res


def alternate(db: Database, raters: list[tuple[int, int]], ratings: int) -> list[float]:
    """Median seconds per rating of each (study, rater), timed in alternating blocks of :data:`BLOCK`.

    One warm-up block each first (caches, prepared statements), not counted.
    """
    held: list[A.Reservation | None] = [None] * len(raters)
    times: list[list[float]] = [[] for _ in raters]
    for i, (study_id, rater_id) in enumerate(raters):
        _, held[i] = time_block(db, study_id, rater_id, held[i])
    for _ in range(max(1, ratings // BLOCK)):
        for i, (study_id, rater_id) in enumerate(raters):
            t, held[i] = time_block(db, study_id, rater_id, held[i])
            times[i] += t
    return [statistics.median(t) for t in times]


def measure(url: str, history: int, ratings: int) -> dict[str, float]:
    db = Database(url)
    try:
        study_id, newcomer, veteran = prepare(db, history, ratings)
        med_new, med_vet = alternate(db, [(study_id, newcomer), (study_id, veteran)], ratings)
    finally:
        db.dispose()
    return {"newcomer_ms": med_new * 1e3, "veteran_ms": med_vet * 1e3, "ratio": med_vet / med_new}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--history", type=int, default=3000)
    ap.add_argument("--ratings", type=int, default=400, help="timed ratings per rater")
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    args = ap.parse_args()
    print(f"rating with then_next, median per rating; veteran has {args.history} earlier assignments")
    print(f"{'db':<10} {'newcomer ms':>12} {'veteran ms':>11} {'veteran/newcomer':>17}")
    for kind in args.db.split(","):
        with fresh_database(kind, args.pg) as url:
            fig = measure(url, args.history, args.ratings)
        print(f"{kind:<10} {fig['newcomer_ms']:>12.3f} {fig['veteran_ms']:>11.3f} {fig['ratio']:>17.2f}")
        figure(f"rating time, veteran vs newcomer ({kind})", fig["ratio"], "x", note=f"history {args.history}")


if __name__ == "__main__":
    main()
