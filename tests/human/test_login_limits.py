"""Login throttling under concurrency: attempts are counted before the password is hashed, and
the hashes computed at once are bounded (SQLite and PostgreSQL, through a live server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from safetylens.human import auth
from safetylens.human.app import create_app
from safetylens.human.db import Database
from safetylens.human.models import LoginAttempt

from .conftest import PASSWORD, LiveServer

# Real Argon2 takes ~50 ms per hash with the default profile; the tests' profile is faster, so
# the counting wrapper adds the difference back to give concurrent requests the same overlap.
HASH_S = 0.05


class CountingVerify:
    """Wraps ``PasswordHasher.verify`` to count password evaluations and their peak concurrency."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, delay_s: float = HASH_S) -> None:
        self.calls = 0
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        original: Callable[..., bool] = PasswordHasher.verify

        def verify(hasher: PasswordHasher, stored: str | bytes, password: str | bytes) -> bool:
            with self._lock:
                self.calls += 1
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
            try:
                time.sleep(delay_s)
                return original(hasher, stored, password)
            finally:
                with self._lock:
                    self.in_flight -= 1

        monkeypatch.setattr(PasswordHasher, "verify", verify)


def _parallel_logins(url: str, bodies: list[dict[str, str]]) -> list[httpx.Response]:
    """POST every body to ``/api/login`` at once (one connection each, released together)."""
    start = threading.Barrier(len(bodies))

    def one(body: dict[str, str]) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            start.wait()
            return client.post("/api/login", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def test_parallel_wrong_passwords_are_counted_before_hashing(
    db: Database, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = auth.RateLimit()
    counter = CountingVerify(monkeypatch)
    with LiveServer(create_app(db, rate_limit=policy)) as server:
        responses = _parallel_logins(server.url, [{"username": "rater1", "password": "wrong-password"}] * 50)
    statuses = [r.status_code for r in responses]
    allowed = policy.max_failures_per_user
    assert counter.calls <= allowed, f"{counter.calls} password evaluations for a policy of {allowed}"
    assert statuses.count(401) == counter.calls
    assert statuses.count(429) == 50 - counter.calls
    assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 429)


def test_concurrent_password_hashes_are_bounded(
    db: Database, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(12):
        auth.create_user(db, f"user{i}", PASSWORD, "rater")
    counter = CountingVerify(monkeypatch, delay_s=0.3)
    policy = auth.RateLimit(max_concurrent_hashes=2, hash_wait_s=0.2)
    with LiveServer(create_app(db, rate_limit=policy)) as server:
        bodies = [{"username": f"user{i}", "password": "wrong-password"} for i in range(12)]
        responses = _parallel_logins(server.url, bodies)
        statuses = [r.status_code for r in responses]
        assert counter.peak <= 2
        assert statuses.count(401) == counter.calls >= 2
        # The rest waited briefly for a slot, then were told to come back; their attempts were
        # not held against the account, so the owners get in at once.
        assert statuses.count(503) == 12 - counter.calls
        assert all(int(r.headers["retry-after"]) > 0 for r in responses if r.status_code == 503)
        with db.read() as s:
            assert s.scalar(select(func.count()).select_from(LoginAttempt)) == counter.calls
        for i, r in enumerate(responses):
            if r.status_code == 503:
                ok = httpx.post(server.url + "/api/login", json={"username": f"user{i}", "password": PASSWORD})
                assert ok.status_code == 200
