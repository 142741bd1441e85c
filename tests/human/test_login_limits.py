"""Login throttling under concurrency: attempts are counted before the password is hashed, and
the hashes computed at once are bounded (SQLite and PostgreSQL, through a live server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from safetylens.human import auth
from safetylens.human.app import create_app
from safetylens.human.db import Database, utcnow
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
    allowed = policy.free_failures
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


# --- who a run of failures may slow down or shut out ---

WRONG = "wrong-password"


def _fail(db: Database, username: str, ip: str, policy: auth.RateLimit, **kw: Any) -> None:
    with pytest.raises(auth.AuthError, match="wrong"):
        auth.authenticate(db, username, WRONG, ip, policy, **kw)


def test_attacker_on_one_address_cannot_lock_the_owner_out(db: Database, people: dict[str, Any]) -> None:
    policy = auth.RateLimit()
    for _ in range(policy.free_failures):
        _fail(db, "rater1", "203.0.113.7", policy)
    for _ in range(20):
        with pytest.raises(auth.RateLimited) as refused:
            auth.authenticate(db, "rater1", WRONG, "203.0.113.7", policy)
        assert refused.value.status == 429
    # The attacker's address stays throttled, even with the right password ...
    with pytest.raises(auth.RateLimited):
        auth.authenticate(db, "rater1", PASSWORD, "203.0.113.7", policy)
    # ... while the owner, elsewhere, logs in at once.
    assert auth.authenticate(db, "rater1", PASSWORD, "198.51.100.20", policy).username == "rater1"


def test_failures_across_addresses_slow_the_account_without_locking_it(db: Database, people: dict[str, Any]) -> None:
    policy = auth.RateLimit(slow_after_failures=4, slowdown_s=0.1, max_slowdown_s=0.4)
    # A distributed guesser: one failure from each address, far within its free failures.
    delays = []
    for k in range(8):
        ip = f"203.0.113.{k}"
        admission = auth.admit_attempt(db, "rater1", ip, policy)
        delays.append(admission.delay_s)
        auth.withdraw_attempt(db, admission)
        _fail(db, "rater1", ip, policy)
    assert delays == [0, 0, 0, 0, 0.1, 0.2, 0.4, 0.4]
    # The owner is slowed by the capped delay, and let in.
    started = time.monotonic()
    assert auth.authenticate(db, "rater1", PASSWORD, "198.51.100.20", policy).username == "rater1"
    assert time.monotonic() - started >= 0.4


def test_one_users_failures_do_not_shut_out_the_others_behind_the_same_address(
    db: Database, people: dict[str, Any]
) -> None:
    policy = auth.RateLimit()
    nat = "192.0.2.1"
    for _ in range(200):  # a forgetful or scripted user behind the shared address
        with pytest.raises(auth.AuthError):
            auth.authenticate(db, "rater1", WRONG, nat, policy)
    for i in range(12):  # and a dozen others who mistype, each up to the free failures
        for _ in range(policy.free_failures):
            _fail(db, f"typo{i}", nat, policy)
    for name in ("rater2", "rater3", "admin", "res"):
        assert auth.authenticate(db, name, PASSWORD, nat, policy).username == name
    # The per-address budget still exists: spraying many names from one address runs into it.
    for i in range(policy.max_failures_per_ip):
        with pytest.raises(auth.AuthError):
            auth.authenticate(db, f"guess{i}", WRONG, "192.0.2.99", policy)
    with pytest.raises(auth.RateLimited, match="address"):
        auth.authenticate(db, "rater2", PASSWORD, "192.0.2.99", policy)
    assert auth.authenticate(db, "rater2", PASSWORD, nat, policy).username == "rater2"


def test_backoff_grows_with_each_failure_and_is_capped(db: Database, people: dict[str, Any]) -> None:
    policy = auth.RateLimit()
    ip = "203.0.113.50"
    now = utcnow()
    for _ in range(policy.free_failures):
        _fail(db, "rater1", ip, policy, now=now)
    waits: list[int] = []
    for _ in range(6):
        with pytest.raises(auth.RateLimited) as refused:
            auth.authenticate(db, "rater1", WRONG, ip, policy, now=now)
        waits.append(refused.value.retry_after_s)
        now += timedelta(seconds=refused.value.retry_after_s)
        _fail(db, "rater1", ip, policy, now=now)
    base = int(policy.backoff.total_seconds())
    cap = int(policy.max_backoff.total_seconds())
    assert waits == [min(cap, base * 2**k) for k in range(6)]
    assert waits[-1] == cap
    # A success from the address starts the count afresh.
    with pytest.raises(auth.RateLimited):
        auth.authenticate(db, "rater1", PASSWORD, ip, policy, now=now)
    now += policy.max_backoff
    assert auth.authenticate(db, "rater1", PASSWORD, ip, policy, now=now).username == "rater1"
    for _ in range(policy.free_failures):
        _fail(db, "rater1", ip, policy, now=now)


def test_owner_gets_in_through_the_app_while_an_attacker_hammers_from_elsewhere(
    db: Database, people: dict[str, Any]
) -> None:
    import asyncio

    app = create_app(db)

    async def run() -> tuple[list[int], int, int]:
        attacker = httpx.AsyncClient(
            transport=httpx.ASGITransport(app, client=("203.0.113.9", 4000)), base_url="http://t"
        )
        owner = httpx.AsyncClient(
            transport=httpx.ASGITransport(app, client=("198.51.100.3", 4001)), base_url="http://t"
        )
        async with attacker, owner:
            bad = await asyncio.gather(
                *(attacker.post("/api/login", json={"username": "rater1", "password": WRONG}) for _ in range(30))
            )
            mine = await owner.post("/api/login", json={"username": "rater1", "password": PASSWORD})
            again = await attacker.post("/api/login", json={"username": "rater1", "password": PASSWORD})
        return [r.status_code for r in bad], mine.status_code, again.status_code

    bad, mine, again = asyncio.run(run())
    assert bad.count(401) == auth.RateLimit().free_failures and bad.count(429) == 30 - bad.count(401)
    assert mine == 200
    assert again == 429
