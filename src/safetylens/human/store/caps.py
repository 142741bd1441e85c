"""This process's cache of each study's cap inputs, and its invalidation.

The balanced per-rater cap (:func:`safetylens.human.studies.cap_from`) and the item search's
upper level need a study's item count, rater slots, active pool size and largest N. They change
only on imports, pool and user edits and adaptive overlap, so every reservation reading them
afresh would be one pass over the study's items per rating for nothing: they are cached for
:data:`CAP_CACHE_S` per study and database.

Only the first read (or the first after an invalidation) runs on the request's connection; a
value that went stale is served as it is while one background thread re-reads it. On SQLite,
whose rating transactions run on the event loop, reading it in-line stalled every request in
flight once a second (60-70 ms of p99 at an offered 300 ratings/s for a study of 60,000 items).
The thread starts with the first stale read, not at import, and :func:`shutdown` stops it.

Changes made in this process invalidate the cache at once (:func:`invalidate_caches`, called by
the code that makes them); other processes see them within about a second.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Connection

from safetylens.human.db import Database
from safetylens.human.store import queries
from safetylens.human.store.sql import one

log = logging.getLogger(__name__)

CAP_CACHE_S = 1.0
# (items, slots, active raters in the pool, largest N)
Sizes = tuple[int, int, int, int]
_Key = tuple[str, int]


class CapCache:
    """Cap inputs per (database URL, study), refreshed off the request path once stale.

    Args:
        max_age_s: How long a value is served before a background re-read is started.
    """

    def __init__(self, max_age_s: float = CAP_CACHE_S) -> None:
        self.max_age_s = max_age_s
        self._entries: dict[_Key, tuple[float, Sizes]] = {}
        # Keys being re-read in the background now: at most one refresh per study at a time.
        self._refreshing: set[_Key] = set()
        self._lock = threading.Lock()
        # Bumped by every invalidation: a read that started before one is not stored.
        self._generation = 0
        self._pool: ThreadPoolExecutor | None = None

    @property
    def generation(self) -> int:
        """How many invalidations there have been (a read stores its value only if none came since it began)."""
        return self._generation

    def entry(self, db: Database, study_id: int) -> tuple[float, Sizes] | None:
        """The cached ``(monotonic time read, sizes)`` of a study, or None."""
        with self._lock:
            return self._entries.get((db.url, study_id))

    def refreshing(self, db: Database, study_id: int) -> bool:
        """Whether a background re-read of the study's sizes is under way."""
        with self._lock:
            return (db.url, study_id) in self._refreshing

    def sizes(self, conn: Connection, db: Database, study_id: int) -> Sizes:
        """The study's cap inputs: cached, or read on ``conn`` when there is no cached value."""
        key = (db.url, study_id)
        with self._lock:
            cached = self._entries.get(key)
            generation = self._generation
            if cached is not None:
                if time.monotonic() - cached[0] >= self.max_age_s and key not in self._refreshing:
                    self._refreshing.add(key)
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="safetylens-caps")
                    self._pool.submit(self._refresh, db, study_id, generation)
                return cached[1]
        return self.read(conn, db, study_id, generation)

    def read(self, conn: Connection, db: Database, study_id: int, generation: int) -> Sizes:
        """Read the cap inputs on ``conn`` and cache them unless an invalidation came since ``generation``."""
        row = one(conn, queries.CAP_INPUTS, {"sid": study_id, "false": False})
        assert row is not None  # an aggregate always returns its row
        sizes = (int(row["n_items"]), int(row["slots"]), int(row["n_raters"]), int(row["max_target"]))
        with self._lock:
            if generation == self._generation:
                self._entries[(db.url, study_id)] = (time.monotonic(), sizes)
        return sizes

    def _refresh(self, db: Database, study_id: int, generation: int) -> None:
        """The background re-read (its own connection; a failure keeps the old value)."""
        try:
            with db.engine.connect() as conn:
                self.read(conn, db, study_id, generation)
        except Exception:  # the next stale read tries again
            log.debug("refreshing the cap inputs of study %s failed", study_id, exc_info=True)
        finally:
            with self._lock:
                self._refreshing.discard((db.url, study_id))

    def invalidate(self, study_id: int | None = None) -> None:
        """Forget the cached inputs of a study (of every study when None), on every database."""
        with self._lock:
            self._generation += 1
            if study_id is None:
                self._entries.clear()
            else:
                for key in [k for k in self._entries if k[1] == study_id]:
                    del self._entries[key]

    def shutdown(self) -> None:
        """Stop the background thread after any re-read it has started (a later stale read starts it again)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


CAPS = CapCache()


def invalidate_caches(study_id: int | None = None) -> None:
    """Forget cached cap inputs after imports, pool, user or overlap changes in this process.

    Args:
        study_id: The study that changed; None when the change touches every study (a user's
            role or status).
    """
    CAPS.invalidate(study_id)


def shutdown() -> None:
    """Stop the cache's background thread (the web app does on shutdown)."""
    CAPS.shutdown()
