"""A serving process checkpoints SQLite's WAL in a thread of its own, never inside a rating commit."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from safetylens.human.db import Database, upgrade


def test_background_checkpointer_takes_over_from_commits(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "h.sqlite"), background_checkpoint=True)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
        for i in range(300):
            with db.write_conn() as conn:
                conn.execute(
                    text(
                        "INSERT INTO audit_log (at, action, entity, entity_id, details) VALUES (:t, 'x', 'y', '', '{}')"
                    ),
                    {"t": f"2026-01-01 00:00:{i % 60:02d}"},
                )
        assert db._checkpointer is not None
        deadline = time.monotonic() + 10
        while db._checkpointer.checkpoints < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert db._checkpointer.checkpoints >= 2
    finally:
        db.dispose()
    assert db._checkpointer is None


def test_plain_connections_keep_sqlite_autocheckpoint(tmp_path: Path) -> None:
    db = Database(str(tmp_path / "h.sqlite"))
    try:
        with db.engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 1000
        assert db._checkpointer is None
    finally:
        db.dispose()
