"""Does a rating cost more late in a study, once every item already has raters? SQLite and PostgreSQL.

Items are handed out fewest raters first: a rater's next item is an open item at the lowest
"level" (raters already on it) that they may take. With N = 3, two thirds of a study's ratings are
given at levels 1 and 2. This script times the rating hot path
(:func:`safetylens.human.assignment.submit_rating` with ``then_next=True``, in process, no HTTP)
for two raters of two studies that differ only in that: in the *early* study every item is still
unclaimed (level 0); in the *late* study every item already has ``--level`` ratings
of other raters (written in bulk before timing), so each reservation is made at that level.

The baseline is the early rater, measured in the same run on the same database, in alternating
blocks (the VM's speed drifts); the figure of merit is the late rater's time per rating as a
ratio of it: 1.0 means a rating costs the same at every level.

Usage::

    python benchmarks/bench_study_levels.py [--level 2] [--ratings 400] [--db sqlite,postgres]
        [--pg postgresql://root@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_human_ratings import PASSWORD, fresh_database, import_bench_items  # noqa: E402
from bench_rater_history import BLOCK, alternate  # noqa: E402
from figures import figure  # noqa: E402
from sqlalchemy import text  # noqa: E402

from safetylens.human.auth import create_user  # noqa: E402
from safetylens.human.db import Database, upgrade  # noqa: E402
from safetylens.human.studies import acknowledge_guidelines, add_members, create_study  # noqa: E402


def prepare(db: Database, level: int, ratings: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two studies (N = ``level`` + 1) and their timed raters: ``((early study, rater), (late study, rater))``."""
    upgrade(db)
    n = ratings + 2 * BLOCK + 10  # each rater: warm-up and timed blocks
    others = [create_user(db, f"other{k}", PASSWORD, "rater") for k in range(level)]
    out = []
    for name in ("early", "late"):
        rater = create_user(db, name, PASSWORD, "rater")
        study = create_study(db, name, "safety", raters_per_item=level + 1, seed=1, balance=False)
        add_members(db, study.id, [name, *(o.username for o in others)])
        # The late study's history: the ``other*`` raters have rated every item.
        import_bench_items(db, study.id, n, 0, level if name == "late" else 0)
        acknowledge_guidelines(db, study.id, rater.id, 1)
        out.append((study.id, rater.id))
    if db.is_postgres:  # the history changed every item after the import's own ANALYZE
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return out[0], out[1]


def measure(url: str, level: int, ratings: int) -> dict[str, float]:
    db = Database(url)
    try:
        early, late = prepare(db, level, ratings)
        med_early, med_late = alternate(db, [early, late], ratings)
    finally:
        db.dispose()
    return {"early_ms": med_early * 1e3, "late_ms": med_late * 1e3, "ratio": med_late / med_early}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--level", type=int, default=2, help="raters already on every item of the late study")
    ap.add_argument("--ratings", type=int, default=400, help="timed ratings per rater")
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    args = ap.parse_args()
    if args.level < 1:
        raise SystemExit("--level must be at least 1")
    print(f"rating with then_next, median per rating; late study: {args.level} raters already on every item")
    print(f"{'db':<10} {'early ms':>10} {'late ms':>10} {'late/early':>11}")
    for kind in args.db.split(","):
        with fresh_database(kind, args.pg) as url:
            fig = measure(url, args.level, args.ratings)
        print(f"{kind:<10} {fig['early_ms']:>10.3f} {fig['late_ms']:>10.3f} {fig['ratio']:>11.2f}")
        figure(f"rating time, late vs early study ({kind})", fig["ratio"], "x", note=f"level {args.level}")


if __name__ == "__main__":
    main()
