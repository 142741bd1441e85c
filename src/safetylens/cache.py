"""Content-addressed request cache (SQLite in WAL mode): the basis of resume.

Every model answer is stored under the sha256 of everything that can change it: the backend's
identity fingerprint (model, revision or weights hash, backend and its version, dtype, chat
template hash, ...), the request kind, and the full request (prompt, decoding parameters, seed).
Two runs that differ in any of these never share an entry.

:class:`CachedModel` wraps a backend. It plans batches over the *whole* request list (sorted by
length) before looking at the cache, computes only what is missing, and commits each batch in one
transaction before handing its results on. A run killed at any moment therefore loses at most the
batch in flight, and when it resumes every remaining batch has the same composition as in an
uninterrupted run, so even floating-point noise from padding is reproduced exactly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from safetylens.models.base import (
    GenerationRequest,
    GenerationResult,
    LoglikelihoodRequest,
    LoglikelihoodResult,
    ModelBackend,
)
from safetylens.util import canonical_json, sha256_text

CACHE_SCHEMA = 1
Kind = Literal["generate", "loglikelihood"]

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    model_key TEXT NOT NULL,
    model TEXT NOT NULL,
    request TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_model ON entries(model_key);
CREATE INDEX IF NOT EXISTS entries_created ON entries(created);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def model_key(fingerprint: dict[str, Any]) -> str:
    """Hash of a backend identity fingerprint."""
    return sha256_text(canonical_json(fingerprint))


def request_key(mkey: str, kind: Kind, request: GenerationRequest | LoglikelihoodRequest) -> str:
    """Cache key of one request for one model."""
    return sha256_text(canonical_json({"v": CACHE_SCHEMA, "model": mkey, "kind": kind, "req": request.to_json()}))


class RequestCache:
    """SQLite store of model answers, safe for several processes and threads.

    Args:
        path: Database file; created with its parent directory if missing.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(_SCHEMA_SQL)
            conn.execute("INSERT OR IGNORE INTO meta(name, value) VALUES ('schema', ?)", (str(CACHE_SCHEMA),))

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (only power loss can lose the last commits).
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=60000")
            self._local.conn = conn
        return conn

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Return the stored results for whichever of ``keys`` are present."""
        found: dict[str, dict[str, Any]] = {}
        conn = self._conn()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, result in conn.execute(f"SELECT key, result FROM entries WHERE key IN ({marks})", chunk):
                found[key] = json.loads(result)
        return found

    def put_many(self, rows: Sequence[tuple[str, Kind, str, str, dict[str, Any], dict[str, Any]]]) -> None:
        """Store results in one transaction.

        Args:
            rows: ``(key, kind, model_key, model_name, request_json, result_json)`` tuples.
        """
        if not rows:
            return
        now = time.time()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO entries(key, kind, model_key, model, request, result, created)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (k, kind, mk, name, canonical_json(req), canonical_json(res), now)
                    for k, kind, mk, name, req, res in rows
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def stats(self) -> list[dict[str, Any]]:
        """Per model and kind: number of entries, bytes of stored JSON, oldest and newest entry."""
        rows = self._conn().execute(
            "SELECT model, model_key, kind, COUNT(*), SUM(LENGTH(request) + LENGTH(result)),"
            " MIN(created), MAX(created) FROM entries GROUP BY model_key, kind ORDER BY model, kind"
        )
        return [
            {"model": m, "model_key": mk, "kind": kind, "entries": n, "bytes": b or 0, "oldest": lo, "newest": hi}
            for m, mk, kind, n, b, lo, hi in rows
        ]

    def prune(self, *, model: str | None = None, older_than_s: float | None = None, everything: bool = False) -> int:
        """Delete entries and return how many went.

        Args:
            model: Delete entries of models whose name or model key starts with this string.
            older_than_s: Delete entries created more than this many seconds ago.
            everything: Delete all entries.
        """
        clauses: list[str] = []
        params: list[Any] = []
        if model is not None:
            clauses.append("(model = ? OR model_key LIKE ?)")
            params += [model, model + "%"]
        if older_than_s is not None:
            clauses.append("created < ?")
            params.append(time.time() - older_than_s)
        if not clauses and not everything:
            return 0
        where = " AND ".join(clauses) if clauses else "1"
        conn = self._conn()
        cur = conn.execute(f"DELETE FROM entries WHERE {where}", params)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return cur.rowcount

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


@dataclass
class CacheCounters:
    """What a :class:`CachedModel` did: answers from the cache vs. computed by the model."""

    cached: int = 0
    computed: int = 0
    batches: int = 0


Progress = Callable[[int], None]


class CachedModel:
    """A backend behind the request cache.

    Args:
        backend: The model backend.
        cache: The request cache, or None to compute everything (``--no-cache``).
        call_log: Optional JSON-lines file that records, for every batch sent to the model, the keys
            of its requests (set by ``SAFETYLENS_CALL_LOG``; used to audit that resumed runs do not
            repeat finished work).
    """

    def __init__(self, backend: ModelBackend, cache: RequestCache | None, call_log: Path | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.identity = backend.identity
        self.model_key = model_key(self.identity.fingerprint())
        env_log = os.environ.get("SAFETYLENS_CALL_LOG")
        self.call_log = call_log or (Path(env_log) if env_log else None)
        self.counters = CacheCounters()

    def key(self, kind: Kind, request: GenerationRequest | LoglikelihoodRequest) -> str:
        """Cache key of ``request`` for this model."""
        return request_key(self.model_key, kind, request)

    def generate(
        self, requests: Sequence[GenerationRequest], progress: Progress | None = None
    ) -> Iterator[tuple[int, GenerationResult]]:
        """Yield ``(index, result)`` for every request: cached ones first, then batch by batch."""
        for idx, raw in self._run("generate", requests, progress):
            yield idx, GenerationResult.from_json(raw)

    def loglikelihood(
        self, requests: Sequence[LoglikelihoodRequest], progress: Progress | None = None
    ) -> Iterator[tuple[int, LoglikelihoodResult]]:
        """Yield ``(index, result)`` for every request: cached ones first, then batch by batch."""
        for idx, raw in self._run("loglikelihood", requests, progress):
            yield idx, LoglikelihoodResult.from_json(raw)

    def _plan(
        self, kind: Kind, requests: Sequence[GenerationRequest | LoglikelihoodRequest], unique: list[int]
    ) -> list[list[int]]:
        """Split the unique request indices into batches, longest first.

        Log-likelihood batches keep requests with the same context together (the backend computes
        a shared context once), so they are cut at context boundaries.
        """
        size = max(1, self.backend.batch_size)
        if kind == "generate":
            order = sorted(unique, key=lambda i: (-self.backend.request_length(requests[i]), i))
            return [order[s : s + size] for s in range(0, len(order), size)]
        groups: dict[str, list[int]] = {}
        for i in unique:
            req = requests[i]
            assert isinstance(req, LoglikelihoodRequest)
            groups.setdefault(req.context, []).append(i)
        ordered = sorted(groups.values(), key=lambda g: (-self.backend.request_length(requests[g[0]]), g[0]))
        # Larger waves for log-likelihood: the backend sub-batches continuations itself.
        wave = size * 8
        batches: list[list[int]] = []
        current: list[int] = []
        for group in ordered:
            if current and len(current) + len(group) > wave:
                batches.append(current)
                current = []
            current.extend(group)
        if current:
            batches.append(current)
        return batches

    def _run(
        self, kind: Kind, requests: Sequence[Any], progress: Progress | None
    ) -> Iterator[tuple[int, dict[str, Any]]]:
        keys = [self.key(kind, r) for r in requests]
        first: dict[str, int] = {}
        duplicates: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            if k in first:
                duplicates.setdefault(k, []).append(i)
            else:
                first[k] = i
        unique = list(first.values())
        found = self.cache.get_many(keys) if self.cache is not None else {}

        def emit(i: int, result: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
            yield i, result
            for j in duplicates.get(keys[i], ()):
                yield j, result
            if progress is not None:
                progress(1 + len(duplicates.get(keys[i], ())))

        for i in unique:
            if keys[i] in found:
                self.counters.cached += 1 + len(duplicates.get(keys[i], ()))
                yield from emit(i, found[keys[i]])
        for batch in self._plan(kind, requests, unique):
            todo = [i for i in batch if keys[i] not in found]
            if not todo:
                continue
            self._log_call(kind, [keys[i] for i in todo])
            if kind == "generate":
                results: list[Any] = self.backend.generate([requests[i] for i in todo])
            else:
                results = self.backend.loglikelihood([requests[i] for i in todo])
            if len(results) != len(todo):
                raise RuntimeError(f"backend returned {len(results)} results for {len(todo)} requests")
            payload = [r.to_json() for r in results]
            if self.cache is not None:
                self.cache.put_many(
                    [
                        (keys[i], kind, self.model_key, self.identity.model, requests[i].to_json(), res)
                        for i, res in zip(todo, payload, strict=True)
                    ]
                )
            self.counters.batches += 1
            for i, res in zip(todo, payload, strict=True):
                self.counters.computed += 1
                self.counters.cached += len(duplicates.get(keys[i], ()))
                yield from emit(i, res)

    def _log_call(self, kind: Kind, keys: list[str]) -> None:
        if self.call_log is None:
            return
        line = json.dumps({"pid": os.getpid(), "time": time.time(), "kind": kind, "keys": keys})
        with open(self.call_log, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
