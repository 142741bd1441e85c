"""Import speed of a human-evaluation study: records per second as the import grows.

Imports ``n`` single-turn records (one prompt, one response, one safety item each) into a fresh
study for each size in ``--sizes``, on SQLite and PostgreSQL, through
:func:`safetylens.human.importing.import_records` (what ``safetylens human import`` runs). The
baseline is the smallest size, measured in the same run: the last column is the time per record
at each size as a ratio of it (1.0: the cost per record does not grow with the import).

Usage::

    python benchmarks/bench_human_import.py [--sizes 1000,4000,8000] [--db sqlite,postgres]
        [--pg postgresql://root@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_human_ratings import bench_records, fresh_database  # noqa: E402
from figures import figure  # noqa: E402

from safetylens.human.db import Database, upgrade  # noqa: E402
from safetylens.human.importing import import_records  # noqa: E402
from safetylens.human.studies import create_study  # noqa: E402


def time_import(url: str, n: int) -> float:
    """Seconds to import ``n`` records into a new study of a fresh database."""
    db = Database(url)
    try:
        upgrade(db)
        study = create_study(db, "import", "safety", raters_per_item=3, seed=1)
        recs = bench_records(n)
        t0 = time.perf_counter()
        summary = import_records(db, study.id, recs)
        elapsed = time.perf_counter() - t0
        assert summary.items_added == n
        return elapsed
    finally:
        db.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,4000,8000")
    ap.add_argument("--db", default="sqlite,postgres")
    ap.add_argument("--pg", default="postgresql://root@127.0.0.1:5432/test")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    print(f"{'db':<10} {'records':>8} {'seconds':>8} {'records/s':>10} {'ms/record vs smallest':>22}")
    for kind in args.db.split(","):
        base = None
        for n in sizes:
            with fresh_database(kind, args.pg) as url:
                elapsed = time_import(url, n)
            per = elapsed / n
            if base is None:
                base = per
            print(f"{kind:<10} {n:>8} {elapsed:>8.2f} {n / elapsed:>10.0f} {per / base:>22.2f}")
        assert base is not None
        figure(f"import ms/record, largest vs smallest ({kind})", per / base, "x", note=f"sizes {args.sizes}")
        figure(f"import records/s ({kind})", n / elapsed, "records/s", note=f"{n} records")


if __name__ == "__main__":
    main()
