"""Fixtures for the human-evaluation tests: real SQLite files, real PostgreSQL schemas, live servers.

Every database test runs twice, on SQLite and on PostgreSQL (127.0.0.1:5432, database ``test``;
override with ``SAFETYLENS_TEST_PG``). Each test gets a fresh database: a new SQLite file, or a
new uniquely named PostgreSQL schema (dropped afterwards), so parallel test runs never collide.
PostgreSQL being unreachable is a failure with a clear message, never a skip.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from safetylens.human.auth import create_user
from safetylens.human.db import Database, upgrade

os.environ.setdefault("SAFETYLENS_ARGON2_PROFILE", "test")
PG_BASE = os.environ.get("SAFETYLENS_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
SESSION_TAG = f"slh_{os.getpid()}_{secrets.token_hex(3)}"
_counter = iter(range(1_000_000))


def _pg_admin_conn() -> Any:
    import psycopg

    try:
        return psycopg.connect(PG_BASE.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_BASE} ({exc}); start it (pg_ctlcluster 15 main start) "
            "or set SAFETYLENS_TEST_PG"
        )


@dataclass
class PgSchema:
    """A throw-away PostgreSQL schema and the URL that selects it."""

    name: str
    url: str

    def drop(self) -> None:
        with _pg_admin_conn() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')


def new_pg_schema() -> PgSchema:
    """Create a uniquely named schema; its URL pins ``search_path`` to it."""
    name = f"{SESSION_TAG}_{next(_counter)}"
    with _pg_admin_conn() as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in PG_BASE else "?"
    return PgSchema(name, f"{PG_BASE}{sep}options={quote(f'-csearch_path={name}')}")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "human.sqlite")
        return
    schema = new_pg_schema()
    try:
        yield schema.url
    finally:
        schema.drop()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """A migrated, empty database."""
    database = Database(db_url)
    upgrade(database)
    yield database
    database.dispose()


PASSWORD = "correct horse battery"


@pytest.fixture
def people(db: Database) -> dict[str, Any]:
    """An admin, a researcher and three raters (password :data:`PASSWORD`)."""
    out: dict[str, Any] = {}
    out["admin"] = create_user(db, "admin", PASSWORD, "admin")
    out["researcher"] = create_user(db, "res", PASSWORD, "researcher")
    out["raters"] = [create_user(db, f"rater{i}", PASSWORD, "rater") for i in range(1, 4)]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LiveServer:
    """The real app served by uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Keep-alive far beyond uvicorn's 5 s: a test that logs 50 clients in one after another
        # (argon2, ~0.1 s each) must not find its first connections closed by the server, which
        # races with the client's next request ("Server disconnected without sending a response").
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off", timeout_keep_alive=300
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the test server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live(db: Database) -> Iterator[LiveServer]:
    """A live server on the test database."""
    from safetylens.human.app import create_app

    with LiveServer(create_app(db)) as server:
        yield server


def login(base_url: str, username: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A client logged in through the JSON API, and its CSRF token."""
    client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
    r = client.post("/api/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return client, r.json()["csrf_token"]


def form_login(base_url: str, username: str, password: str = PASSWORD) -> tuple[httpx.Client, str]:
    """A client logged in through the login form (as a browser would), and its CSRF token."""
    import re

    client = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": token.group(1)})
    assert r.status_code == 303, r.text
    me = client.get("/api/me").json()
    return client, me["csrf_token"]


class BrowserConsole:
    """Console errors and uncaught exceptions of every page of the browser tests.

    A page's ``console`` messages of type ``error`` (a script's ``console.error``, a resource that
    failed to load, a Content-Security-Policy violation) and its ``pageerror`` events (uncaught
    exceptions) are collected; :func:`pytest_runtest_call` fails the test that caused any.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self._allowed: list[re.Pattern[str]] = []

    def watch_context(self, context: Any) -> None:
        """Collect from every page the browser context opens (and those it has)."""
        context.on("page", self.watch_page)
        for p in context.pages:
            self.watch_page(p)

    def watch_page(self, page: Any) -> None:
        """Collect from one page."""
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda exc: self._add(f"{page.url}: uncaught exception: {exc}"))

    def allow(self, pattern: str) -> None:
        """Accept errors matching ``pattern`` (a regular expression) until the test ends.

        For a test that opens an error page on purpose: Chromium reports a page whose status is
        4xx or 5xx as a resource that failed to load.
        """
        self._allowed.append(re.compile(pattern))

    def take(self) -> list[str]:
        """The errors collected so far, forgetting them and every allowance."""
        out, self.errors, self._allowed = self.errors, [], []
        return out

    def _console(self, page: Any, msg: Any) -> None:
        if msg.type == "error":
            where = (msg.location or {}).get("url") or page.url
            self._add(f"{where}: console error: {msg.text}")

    def _add(self, line: str) -> None:
        if not any(p.search(line) for p in self._allowed):
            self.errors.append(line)


class CheckedBrowser:
    """A Playwright browser whose contexts and pages report to a :class:`BrowserConsole`.

    Anything but :meth:`new_context` and :meth:`new_page` goes to the browser itself.
    """

    def __init__(self, browser: Any) -> None:
        self._browser = browser
        self.console = BrowserConsole()

    def new_context(self, **kwargs: Any) -> Any:
        """A new browser context, watched."""
        context = self._browser.new_context(**kwargs)
        self.console.watch_context(context)
        return context

    def new_page(self, **kwargs: Any) -> Any:
        """A page in a new browser context, watched."""
        page = self._browser.new_page(**kwargs)
        self.console.watch_page(page)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._browser, name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """Fail a browser test whose pages logged a console error or raised an uncaught exception.

    Checked in the call phase so that it counts as the test's failure, not a teardown error.
    """
    browser = getattr(item, "funcargs", {}).get("browser")
    console = getattr(browser, "console", None)
    if not isinstance(console, BrowserConsole):
        return (yield)
    console.take()  # what a test before this one left behind is not this test's
    result = yield
    errors = console.take()
    if errors:
        pytest.fail("the browser logged errors:\n" + "\n".join(errors), pytrace=False)
    return result
