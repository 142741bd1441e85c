"""Database connections for the human-evaluation platform: SQLite (default) or PostgreSQL.

:class:`Database` hands out two kinds of ORM session:

- :meth:`Database.read`: plain transactions for pages and reports;
- :meth:`Database.write`: transactions that change data. On SQLite they start with
  ``BEGIN IMMEDIATE`` (take the write lock first, so two writers never deadlock upgrading a read
  lock) behind a per-file lock in this process (so threads queue in order instead of polling
  SQLite's busy handler, which sleeps in coarse steps and ruins tail latency). Other processes
  on the same file still coordinate through SQLite's own locking and ``busy_timeout``. On
  PostgreSQL they are ordinary READ COMMITTED transactions; correctness comes from unique
  constraints, conditional updates and row locks in :mod:`safetylens.human.assignment`.

The schema belongs to Alembic (:func:`upgrade`); :meth:`Database.check_schema` refuses to serve a
database that is not at the latest migration.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from safetylens import paths
from safetylens.errors import ConfigError, SafetylensError

ENV_DB = "SAFETYLENS_HUMAN_DB"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_sqlite_locks: dict[str, threading.RLock] = {}
_sqlite_locks_guard = threading.Lock()


class DatabaseError(SafetylensError):
    """The database cannot be reached or is not initialised."""


class _Named(Protocol):
    id: Any
    name: Any


_N = TypeVar("_N", bound=_Named)


def find_by_ref(s: Session, model: type[_N], ref: str | int, what: str, hint: str) -> _N:
    """A row of ``model`` by id (an int or a string of digits) or, failing that, by name.

    A digits-only name is still found: the id is tried first, then the name.

    Args:
        s: An open session.
        model: A mapped class with ``id`` and ``name`` columns (study, campaign, quiz).
        ref: The id or name the user gave.
        what: What it is, for the error message ("study", "red-team campaign").
        hint: How to list the valid ones.

    Raises:
        ConfigError: No such row.
    """
    found: _N | None = None
    if isinstance(ref, int) or str(ref).isdigit():
        found = s.get(model, int(ref))
    if found is None:
        found = s.scalar(select(model).where(model.name == str(ref)))
    if found is None:
        raise ConfigError(f"no {what} {ref!r}", hint=hint)
    return found


def utcnow() -> datetime:
    """The current time as naive UTC (the convention of every timestamp column)."""
    return datetime.now(UTC).replace(tzinfo=None)


def default_url() -> str:
    """``$SAFETYLENS_HUMAN_DB`` if set, else a SQLite file in the safetylens home directory."""
    env = os.environ.get(ENV_DB)
    if env:
        return normalize_url(env)
    return normalize_url(str(paths.home() / "human.sqlite"))


def normalize_url(url_or_path: str) -> str:
    """Turn a path or database URL into an SQLAlchemy URL with the driver we use.

    ``study.sqlite`` and ``/abs/path.db`` become SQLite URLs; ``postgresql://`` and
    ``postgres://`` become ``postgresql+psycopg://``.

    Raises:
        ConfigError: The URL is malformed or names an unsupported database.
    """
    text = url_or_path.strip()
    if "://" not in text:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    for prefix in ("postgres://", "postgresql://"):
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix) :]
    try:
        url = make_url(text)
    except ArgumentError as exc:
        raise ConfigError(f"not a database URL: {url_or_path!r}", hint="use a file path or postgresql://...") from exc
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ConfigError(
            f"unsupported database {url.get_backend_name()!r} in {url_or_path!r}",
            hint="use SQLite (a file path) or PostgreSQL (postgresql://user@host/db)",
        )
    return text


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN is deferred
    # and cannot be made IMMEDIATE).
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode survives a killed process; only a power cut can lose the last commits.
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _on_sqlite_begin(conn: Any) -> None:
    options = conn.get_execution_options()
    if options.get("sqlite_autocommit", False):
        return  # statements run in SQLite's own autocommit mode (see Database.read_conn)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if options.get("sqlite_immediate", False) else "BEGIN")


def make_engine(url: str, *, pool_size: int = 20) -> Engine:
    """Create an engine with the settings each database needs.

    Args:
        url: A URL accepted by :func:`normalize_url`.
        pool_size: Connections kept open (PostgreSQL; SQLite opens one per thread as needed).
    """
    url = normalize_url(url)
    if url.startswith("sqlite"):
        db_path = make_url(url).database
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    # No pre-ping: it costs a round trip on every checkout; recycle connections hourly instead.
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=3600)


class Database:
    """An engine plus session factories for reads and writes.

    Args:
        url: Database URL or SQLite path.
        pool_size: Connection pool size.
    """

    def __init__(self, url: str, *, pool_size: int = 20, background_checkpoint: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size)
        self._checkpointer: _Checkpointer | None = None
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self._write_engine = self.engine.execution_options(sqlite_immediate=True) if self.is_sqlite else self.engine
        # SQLAlchemy's AUTOCOMMIT level would flip pysqlite's isolation_level on every checkout,
        # undoing the manual BEGIN handling above; on SQLite we simply skip the BEGIN instead.
        self._autocommit_engine = (
            self.engine.execution_options(sqlite_autocommit=True)
            if self.engine.dialect.name == "sqlite"
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self._write_engine, expire_on_commit=False)
        if self.is_sqlite:
            key = make_url(self.url).database or ":memory:"
            with _sqlite_locks_guard:
                self._lock: threading.RLock | None = _sqlite_locks.setdefault(key, threading.RLock())
        else:
            self._lock = None
        if background_checkpoint and self.is_sqlite and make_url(self.url).database not in (None, "", ":memory:"):
            # SQLite checkpoints the WAL inside whichever commit crosses 1,000 pages: about one
            # rating commit in 40 then takes 20 ms instead of 0.3 ms (fsync of the database file),
            # stalling every request behind it. A server moves that work to a thread of its own.
            event.listen(self.engine, "connect", _no_autocheckpoint)
            self._checkpointer = _Checkpointer(str(make_url(self.url).database))

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; its transaction is rolled back when it closes.

        Objects loaded through it stay usable (detached, not expired) after the block.
        """
        with self._read() as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A session whose transaction commits on success and rolls back on error."""
        if self._lock is not None:
            with self._lock, self._write() as session, session.begin():
                yield session
        else:
            with self._write() as session, session.begin():
                yield session

    @contextmanager
    def read_conn(self) -> Iterator[Connection]:
        """A Core connection in autocommit mode for hot single-statement reads.

        No BEGIN/ROLLBACK round trips; each statement sees its own consistent snapshot, so use
        :meth:`read` when several reads must agree with each other.
        """
        with self._autocommit_engine.connect() as conn:
            yield conn

    @contextmanager
    def write_conn(self) -> Iterator[Connection]:
        """A Core connection in a write transaction (same locking as :meth:`write`)."""
        if self._lock is not None:
            with self._lock, self._write_engine.begin() as conn:
                yield conn
        else:
            with self.engine.begin() as conn:
                yield conn

    def try_write_lock(self) -> bool:
        """Take this process's SQLite write lock if it is free right now (never waits).

        The JSON rating endpoints run their short transactions on the event loop when this
        succeeds (no thread hop: 1.1 ms less CPU per rating) and in the thread pool otherwise,
        so a long write elsewhere (an import) never stalls the loop. The caller must call
        :meth:`release_write_lock`. Always False on PostgreSQL, whose round trips would block.
        """
        return self._lock is not None and self._lock.acquire(blocking=False)

    def release_write_lock(self) -> None:
        """Release the lock taken by :meth:`try_write_lock`."""
        assert self._lock is not None
        self._lock.release()

    def check_schema(self) -> None:
        """Refuse a database that is unreachable or not migrated to the latest revision.

        Raises:
            DatabaseError: With a hint to run ``safetylens human init``.
        """
        try:
            current = current_revision(self.engine)
        except OperationalError as exc:
            raise DatabaseError(
                f"cannot open database {self.display_url}: {exc.orig}",
                hint="check the URL and that the server is running",
            ) from exc
        head = head_revision()
        if current != head:
            raise DatabaseError(
                f"database {self.display_url} is at schema revision {current or 'none'}, expected {head}",
                hint=f"run: safetylens human init --db {self.display_url}",
            )

    def dispose(self) -> None:
        """Close every pooled connection (and stop the background checkpointer)."""
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        self.engine.dispose()


def _no_autocheckpoint(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


class _Checkpointer:
    """A daemon thread that checkpoints an SQLite WAL every ``interval_s`` (PASSIVE: never blocks writers).

    Args:
        path: The database file.
        interval_s: Seconds between checkpoints.
    """

    def __init__(self, path: str, interval_s: float = 0.5) -> None:
        self.path = path
        self.interval_s = interval_s
        self.checkpoints = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import logging
        import sqlite3

        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            while not self._stop.wait(self.interval_s):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # a busy or locked moment: try again next time
                    logging.getLogger(__name__).warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop the thread (after a last checkpoint)."""
        self._stop.set()
        self._thread.join(timeout=10)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's ini interpolation treats % specially.
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(db: Database, revision: str = "head") -> None:
    """Apply the packaged migrations up to ``revision``.

    Raises:
        DatabaseError: The database cannot be reached.
    """
    from alembic import command

    cfg = _alembic_config(db.url)
    try:
        with db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except OperationalError as exc:
        raise DatabaseError(
            f"cannot open database {db.display_url}: {exc.orig}", hint="check the URL and that the server is running"
        ) from exc


def head_revision() -> str:
    """The newest packaged migration."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration a database is at (None when it has never been initialised)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return MigrationContext.configure(conn).get_current_revision()
