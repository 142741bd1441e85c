"""Users, passwords, sessions, CSRF tokens and login rate limiting.

- Passwords are hashed with Argon2id (OWASP's parameters); hashes are upgraded on login when
  the parameters change.
- A session cookie carries a random token; the database stores only its sha256, so a leaked
  database does not leak live sessions. Each session has its own CSRF token, which every form
  and every state-changing API call must echo back.
- Login throttling slows guessing without letting anyone lock a user out (see
  :class:`RateLimit` for the numbers):

  - per (user name, client address): a few free failures, then each further attempt must wait
    after the last failure, the wait doubling with every failure up to a cap; a success from
    that address starts afresh. An attacker on one address thus throttles only that pair: the
    owner logging in from any other address is not affected;
  - per client address, across user names: a much larger budget of failures in a sliding
    window, against password spraying. One user's failures count only until their pair is
    throttled, so people sharing an address (one NAT for a whole rater pool) are not shut out
    by one of them;
  - per user name, across addresses: past a number of failures in the window, every attempt at
    that account is delayed (a growing, capped delay) before its password is checked, never
    refused, so a guesser spread over many addresses is slowed and the owner still gets in.

  Refused attempts (HTTP 429 with ``Retry-After``) are never hashed and do not extend any wait.
- Attempts are counted before the password is checked: one transaction that cannot interleave
  with another login's (SQLite's write lock; on PostgreSQL a lock on the attempts table) checks
  the limits and records the attempt as a failure, which a correct password then turns into a
  success, so parallel guesses see each other.
- Argon2 costs memory (19 MiB a hash), so each server process computes at most
  :attr:`RateLimit.max_concurrent_hashes` hashes at once; a login that finds no free slot within
  :attr:`RateLimit.hash_wait_s` is answered 503 and its attempt is not held against anyone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from safetylens.errors import ConfigError, SafetylensError
from safetylens.human.db import Database, utcnow
from safetylens.human.models import ROLES, USER_STATUSES, AuthSession, LoginAttempt, User
from safetylens.human.store import queries
from safetylens.human.store.audit_log import audit
from safetylens.human.store.caps import invalidate_caches
from safetylens.human.store.sql import as_datetime, one, run

SESSION_COOKIE = "sl_session"
LOGIN_CSRF_COOKIE = "sl_login_csrf"
SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def default_hash_slots() -> int:
    """Password hashes one process computes at once by default: one per CPU, at most 8.

    Argon2 runs outside the GIL, so more than one per CPU only queues them in memory.
    """
    return max(1, min(8, os.cpu_count() or 1))


# How long login attempts are kept; a (user name, address) pair's failures count this far back.
ATTEMPT_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class RateLimit:
    """Login throttling policy (the scheme is described in the module docstring).

    Attributes:
        free_failures: Failures one user name may have from one address (since its last success
            there, within :data:`ATTEMPT_RETENTION`) before backoff starts.
        backoff: The wait after the first failure past the free ones; it doubles with each further one.
        max_backoff: The longest wait of that backoff.
        window: The sliding window of the per-address budget and of the per-account slowdown.
        max_failures_per_ip: Failures from one address, over all user names, within the window.
        slow_after_failures: Failures for one user name, over all addresses, within the window
            after which each attempt at that account is delayed.
        slowdown_s: The first such delay; it doubles with each further failure.
        max_slowdown_s: The longest such delay.
        max_concurrent_hashes: Password hashes one server process computes at once.
        hash_wait_s: How long a login waits for a free hashing slot before it is answered 503.
    """

    free_failures: int = 5
    backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(minutes=15)
    window: timedelta = timedelta(minutes=15)
    max_failures_per_ip: int = 100
    slow_after_failures: int = 10
    slowdown_s: float = 1.0
    max_slowdown_s: float = 10.0
    max_concurrent_hashes: int = field(default_factory=default_hash_slots)
    hash_wait_s: float = 2.0

    def __post_init__(self) -> None:
        """Reject a policy that could never let anyone in.

        Raises:
            ConfigError: A count below 1, or a negative or inconsistent duration.
        """
        for name in ("free_failures", "max_failures_per_ip", "slow_after_failures", "max_concurrent_hashes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not timedelta(0) < self.backoff <= self.max_backoff:
            raise ConfigError(f"need 0 < backoff <= max_backoff, got {self.backoff} and {self.max_backoff}")
        if self.window <= timedelta(0):
            raise ConfigError(f"window must be positive, got {self.window}")
        if not 0 <= self.slowdown_s <= self.max_slowdown_s:
            raise ConfigError(
                f"need 0 <= slowdown_s <= max_slowdown_s, got {self.slowdown_s} and {self.max_slowdown_s}"
            )
        if self.hash_wait_s < 0:
            raise ConfigError(f"hash_wait_s must not be negative, got {self.hash_wait_s}")


ARGON2_ENV = "SAFETYLENS_ARGON2_PROFILE"
# OWASP's recommended Argon2id configuration (19 MiB, 2 passes, 1 lane): about 50 ms per hash on
# one core, so logins stay cheap for the server while offline guessing stays expensive. The
# "test" profile (8 MiB, 1 pass) exists only to keep test suites that create many users fast;
# hashes record their parameters, so either profile verifies the other's hashes.
ARGON2_PROFILES: dict[str, tuple[int, int, int]] = {
    # (time_cost, memory_cost in KiB, parallelism)
    "default": (2, 19_456, 1),
    "test": (1, 8_192, 1),
}


@lru_cache(maxsize=4)
def _hasher_for(profile: str) -> tuple[PasswordHasher, str]:
    if profile not in ARGON2_PROFILES:
        raise ConfigError(f"{ARGON2_ENV}={profile!r}: unknown profile", hint=f"one of {', '.join(ARGON2_PROFILES)}")
    time_cost, memory_cost, parallelism = ARGON2_PROFILES[profile]
    hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    # Verifying against a dummy hash when the user does not exist keeps the response time of
    # unknown and known user names alike.
    return hasher, hasher.hash(secrets.token_urlsafe(16))


def _hasher() -> PasswordHasher:
    return _hasher_for(os.environ.get(ARGON2_ENV, "default"))[0]


def _dummy_hash() -> str:
    return _hasher_for(os.environ.get(ARGON2_ENV, "default"))[1]


class AuthError(SafetylensError):
    """Bad credentials or an invalid user definition."""


class RateLimited(AuthError):
    """Too many failed logins; ``retry_after_s`` says when to try again.

    Attributes:
        status: The HTTP status to answer with.
        retry_after_s: Seconds to wait (the ``Retry-After`` header).
    """

    status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, hint=f"try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class LoginBusy(RateLimited):
    """Every password-hashing slot of this process stayed busy; the attempt was not counted."""

    status = 503


class PasswordGate:
    """Bounds the password hashes a process computes at once.

    Args:
        slots: Hashes allowed at once.

    Raises:
        ConfigError: ``slots`` below 1.
    """

    # How often a waiting request looks for a free slot (a request waits at most hash_wait_s).
    POLL_S = 0.005

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ConfigError(f"a password gate needs at least 1 slot, got {slots}")
        self.slots = slots
        self._sem = threading.BoundedSemaphore(slots)

    def acquire(self, timeout_s: float) -> bool:
        """Take a slot, waiting (blocking this thread) up to ``timeout_s``; False if none came free."""
        return self._sem.acquire(timeout=timeout_s)

    async def acquire_async(self, timeout_s: float) -> bool:
        """Take a slot, waiting on the event loop up to ``timeout_s``; False if none came free.

        Waiting polls instead of blocking a worker thread: a burst of logins must not take the
        thread pool away from every other request while it waits.
        """
        deadline = time.monotonic() + timeout_s
        while not self._sem.acquire(blocking=False):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(self.POLL_S)
        return True

    def release(self) -> None:
        """Give a slot back."""
        self._sem.release()


# Used by :func:`authenticate`; a web app has its own (``app.state.password_gate``).
DEFAULT_GATE = PasswordGate(default_hash_slots())


def hash_password(password: str) -> str:
    """Argon2id hash of a password."""
    return _hasher().hash(password)


def token_hash(token: str) -> str:
    """sha256 of a session token (what the database stores)."""
    return hashlib.sha256(token.encode()).hexdigest()


def constant_time_equal(a: str, b: str) -> bool:
    """Compare two secrets without leaking where they differ."""
    return hmac.compare_digest(a.encode(), b.encode())


def validate_new_user(username: str, password: str, role: str) -> None:
    """Check a user definition.

    Raises:
        ConfigError: Bad user name, short password or unknown role.
    """
    if not USERNAME_RE.match(username):
        raise ConfigError(f"invalid user name {username!r}", hint="1-64 characters: letters, digits and _ . @ -")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"password too short (at least {MIN_PASSWORD_LENGTH} characters)")
    if role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"one of {', '.join(ROLES)}")


def _new_pseudonym(session: Session, role: str) -> str:
    prefix = {"rater": "R", "researcher": "S", "admin": "A"}[role]
    while True:
        candidate = f"{prefix}-{secrets.token_hex(3)}"
        if session.scalar(select(User.id).where(User.pseudonym == candidate)) is None:
            return candidate


def create_user(db: Database, username: str, password: str, role: str, *, actor_id: int | None = None) -> User:
    """Add a user with a random pseudonym.

    Raises:
        ConfigError: Invalid definition or the user name is taken.
    """
    validate_new_user(username, password, role)
    pw_hash = hash_password(password)
    try:
        with db.write() as s:
            user = User(
                username=username,
                password_hash=pw_hash,
                role=role,
                status="active",
                pseudonym=_new_pseudonym(s, role),
                created_at=utcnow(),
            )
            s.add(user)
            s.flush()
            audit(s, actor_id, "user.create", "user", user.id, details={"username": username, "role": role})
    except IntegrityError as exc:
        raise ConfigError(f"user {username!r} already exists") from exc
    return user


def set_password(db: Database, username: str, password: str, *, actor_id: int | None = None) -> None:
    """Change a password and end the user's sessions.

    Raises:
        ConfigError: Unknown user or short password.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigError(f"password too short (at least {MIN_PASSWORD_LENGTH} characters)")
    pw_hash = hash_password(password)
    with db.write() as s:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise ConfigError(f"no user {username!r}")
        user.password_hash = pw_hash
        s.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
        audit(s, actor_id, "user.password", "user", user.id)


def update_user(
    db: Database, user_id: int, *, role: str | None = None, status: str | None = None, actor_id: int | None = None
) -> User:
    """Change a user's role or status (pausing or removing a user ends their sessions).

    Raises:
        ConfigError: Unknown user, role or status.
    """
    if role is not None and role not in ROLES:
        raise ConfigError(f"unknown role {role!r}", hint=f"one of {', '.join(ROLES)}")
    if status is not None and status not in USER_STATUSES:
        raise ConfigError(f"unknown status {status!r}", hint=f"one of {', '.join(USER_STATUSES)}")
    with db.write() as s:
        user = s.get(User, user_id)
        if user is None:
            raise ConfigError(f"no user with id {user_id}")
        changes: dict[str, str] = {}
        if role is not None and role != user.role:
            changes["role"] = f"{user.role} -> {role}"
            user.role = role
        if status is not None and status != user.status:
            changes["status"] = f"{user.status} -> {status}"
            user.status = status
            if status != "active":
                s.execute(delete(AuthSession).where(AuthSession.user_id == user.id))
        if changes:
            audit(s, actor_id, "user.update", "user", user.id, details=changes)
    # A role or status change moves the user in or out of every study's active pool.
    invalidate_caches()
    return user


def _seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from ``now`` to ``moment``, at least 1 (a ``Retry-After`` value)."""
    return max(1, math.ceil((moment - now).total_seconds()))


def _check_rate_limit(s: Session, username: str, ip: str, now: datetime, policy: RateLimit) -> float:
    """Refuse an attempt over the pair's backoff or the address's budget; else its account delay in seconds."""
    failed = LoginAttempt.success.is_(False)
    pair = (LoginAttempt.username == username) & (LoginAttempt.ip == ip)
    last_success = s.scalar(select(func.max(LoginAttempt.at)).where(pair, LoginAttempt.success.is_(True)))
    since = max(now - ATTEMPT_RETENTION, last_success or now - ATTEMPT_RETENTION)
    n_pair, last_failure = s.execute(
        select(func.count(), func.max(LoginAttempt.at)).where(pair, failed, LoginAttempt.at > since)
    ).one()
    if n_pair >= policy.free_failures and last_failure is not None:
        # The k-th failure past the free ones waits backoff * 2**(k-1), up to max_backoff.
        doublings = min(n_pair - policy.free_failures, 30)
        wait = min(policy.max_backoff, policy.backoff * 2**doublings)
        if now < last_failure + wait:
            raise RateLimited(
                "too many failed logins for this user name from this address; wait before trying again",
                _seconds_until(last_failure + wait, now),
            )
    window_start = now - policy.window
    # The budget-th most recent failure from this address: once it leaves the window, the
    # address is under its budget again.
    oldest_counted = s.scalar(
        select(LoginAttempt.at)
        .where(LoginAttempt.ip == ip, failed, LoginAttempt.at > window_start)
        .order_by(LoginAttempt.at.desc())
        .offset(policy.max_failures_per_ip - 1)
        .limit(1)
    )
    if oldest_counted is not None:
        raise RateLimited(
            "too many failed logins from this address; wait before trying again",
            _seconds_until(oldest_counted + policy.window, now),
        )
    n_account = s.scalar(
        select(func.count()).where(LoginAttempt.username == username, failed, LoginAttempt.at > window_start)
    )
    excess = int(n_account or 0) - policy.slow_after_failures
    if excess < 0:
        return 0.0
    return float(min(policy.max_slowdown_s, policy.slowdown_s * 2 ** min(excess, 30)))


@dataclass(frozen=True)
class Admission:
    """A login attempt that passed the limits and is recorded (as a failure until proven otherwise).

    Attributes:
        attempt_id: Its ``login_attempts`` row.
        username: The user name tried (trimmed).
        ip: The client address.
        at: When it was admitted.
        delay_s: How long to wait before checking the password (the account's slowdown).
    """

    attempt_id: int
    username: str
    ip: str
    at: datetime
    delay_s: float = 0.0


@dataclass(frozen=True)
class _Verdict:
    user: User | None
    ok: bool
    rehash: str | None


def normalize_username(username: str) -> str:
    """The user name as it is looked up and counted (trimmed, at most 64 characters)."""
    return username.strip()[:64]


def admit_attempt(
    db: Database, username: str, ip: str, policy: RateLimit | None = None, *, now: datetime | None = None
) -> Admission:
    """Check the limits and record the attempt, before any password is hashed.

    Args:
        db: The database.
        username: The user name given.
        ip: The client address.
        policy: The throttling policy (default :class:`RateLimit`).
        now: The time of the attempt (default: now).

    The check and the record are one transaction that no other login's can interleave with:
    on SQLite every write transaction holds the database's write lock; on PostgreSQL, READ
    COMMITTED would let two logins both count four failures and both go ahead, so the
    transaction first locks the attempts table against other writers (plain reads go on).

    Raises:
        RateLimited: This user name is in backoff at this address, or the address is over its budget.
    """
    policy = policy or RateLimit()
    username = normalize_username(username)
    now = now or utcnow()
    with db.write() as s:
        if db.is_postgres:
            run(s.connection(), queries.LOCK_LOGIN_ATTEMPTS).close()
        delay_s = _check_rate_limit(s, username, ip, now, policy)
        attempt = LoginAttempt(username=username, ip=ip, at=now, success=False)
        s.add(attempt)
        s.flush()
        return Admission(attempt.id, username, ip, now, delay_s)


def withdraw_attempt(db: Database, admission: Admission) -> None:
    """Forget an admitted attempt whose password was never checked (no hashing slot came free)."""
    with db.write() as s:
        s.execute(delete(LoginAttempt).where(LoginAttempt.id == admission.attempt_id))


def _check_password(db: Database, username: str, password: str) -> _Verdict:
    with db.read() as s:
        user = s.scalar(select(User).where(User.username == username))
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher().verify(_dummy_hash(), password)
        return _Verdict(None, False, None)
    try:
        hasher = _hasher()
        ok = hasher.verify(user.password_hash, password)
        rehash = hasher.hash(password) if ok and hasher.check_needs_rehash(user.password_hash) else None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return _Verdict(user, False, None)
    return _Verdict(user, ok, rehash)


def _finish(db: Database, admission: Admission, verdict: _Verdict) -> User:
    user = verdict.user
    active = verdict.ok and user is not None and user.status == "active"
    with db.write() as s:
        if active and user is not None:
            s.execute(update(LoginAttempt).where(LoginAttempt.id == admission.attempt_id).values(success=True))
            u = s.get(User, user.id)
            assert u is not None
            u.last_login_at = admission.at
            if verdict.rehash:
                u.password_hash = verdict.rehash
        # Older attempts count for nothing; keep the table small.
        s.execute(delete(LoginAttempt).where(LoginAttempt.at < admission.at - ATTEMPT_RETENTION))
    if not verdict.ok or user is None:
        raise AuthError("wrong user name or password")
    if user.status != "active":
        raise AuthError(f"this account is {user.status}; ask an administrator")
    return user


def _busy(policy: RateLimit) -> LoginBusy:
    return LoginBusy("the server is busy checking other logins; try again", max(1, round(policy.hash_wait_s)))


def authenticate(
    db: Database,
    username: str,
    password: str,
    ip: str,
    policy: RateLimit | None = None,
    gate: PasswordGate | None = None,
    *,
    now: datetime | None = None,
) -> User:
    """Check credentials, record the attempt, and return the user.

    Args:
        db: The database.
        username: The user name given.
        password: The password given.
        ip: The client address.
        policy: The throttling policy (default :class:`RateLimit`).
        gate: Bounds the hashes computed at once (default :data:`DEFAULT_GATE`).
        now: The time of the attempt (default: now).

    Raises:
        RateLimited: This user name is in backoff at this address, or the address is over its budget.
        LoginBusy: No hashing slot came free within the policy's ``hash_wait_s``.
        AuthError: Wrong user name or password, or the account is not active.
    """
    policy = policy or RateLimit()
    gate = gate or DEFAULT_GATE
    admission = admit_attempt(db, username, ip, policy, now=now)
    if admission.delay_s:
        time.sleep(admission.delay_s)
    if not gate.acquire(policy.hash_wait_s):
        withdraw_attempt(db, admission)
        raise _busy(policy)
    try:
        verdict = _check_password(db, admission.username, password)
    finally:
        gate.release()
    return _finish(db, admission, verdict)


async def authenticate_async(
    db: Database, username: str, password: str, ip: str, policy: RateLimit, gate: PasswordGate
) -> User:
    """:func:`authenticate` for request handlers: database work and hashing in the thread pool.

    A request slowed down by its account's failures, or waiting for a hashing slot, waits on
    the event loop, holding no thread: many of them must not starve every other request.

    Raises:
        RateLimited: This user name is in backoff at this address, or the address is over its budget.
        LoginBusy: No hashing slot came free within the policy's ``hash_wait_s``.
        AuthError: Wrong user name or password, or the account is not active.
    """
    admission = await run_in_threadpool(admit_attempt, db, username, ip, policy)
    if admission.delay_s:
        await asyncio.sleep(admission.delay_s)
    if not await gate.acquire_async(policy.hash_wait_s):
        await run_in_threadpool(withdraw_attempt, db, admission)
        raise _busy(policy)
    try:
        verdict = await run_in_threadpool(_check_password, db, admission.username, password)
    finally:
        gate.release()
    return await run_in_threadpool(_finish, db, admission, verdict)


def start_session(db: Database, user_id: int) -> tuple[str, str]:
    """Open a session and return ``(cookie token, CSRF token)``."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = utcnow()
    with db.write() as s:
        s.add(
            AuthSession(
                token_hash=token_hash(token),
                user_id=user_id,
                csrf_token=csrf,
                created_at=now,
                expires_at=now + SESSION_TTL,
            )
        )
        s.execute(delete(AuthSession).where(AuthSession.expires_at < now))
    return token, csrf


@dataclass(frozen=True)
class CurrentUser:
    """The logged-in user of a request.

    Attributes:
        id: User id.
        username: Login name.
        role: ``admin``, ``researcher`` or ``rater``.
        pseudonym: Name shown in results and exports.
        csrf_token: The session's CSRF token.
        session_hash: sha256 of the session token.
    """

    id: int
    username: str
    role: str
    pseudonym: str
    csrf_token: str
    session_hash: str

    @property
    def is_staff(self) -> bool:
        """Admins and researchers manage studies; raters only rate."""
        return self.role in ("admin", "researcher")


# Longer session cookies are refused without a lookup (ours are ~43 characters).
MAX_TOKEN_LEN = 200
# The columns a session lookup reads, under these names wherever it is done (here, and joined to
# a rating's assignment by :func:`safetylens.human.assignment.load_submission`).
SESSION_COLUMNS = ("session_expires_at", "csrf_token", "user_id", "username", "role", "pseudonym", "user_status")


def resolve_session(db: Database, token: str) -> CurrentUser | None:
    """The active user behind a session cookie, or None (expired, unknown, user not active)."""
    if not token or len(token) > MAX_TOKEN_LEN:
        return None
    with db.read_conn() as conn:
        return resolve_session_in(conn, token)


def resolve_session_in(conn: Connection, token: str) -> CurrentUser | None:
    """:func:`resolve_session` on an open connection (inside the caller's transaction)."""
    if not token or len(token) > MAX_TOKEN_LEN:
        return None
    h = token_hash(token)
    row = one(conn, queries.RESOLVE_SESSION, {"h": h})
    return None if row is None else user_from_row(row, h)


def user_from_row(row: Mapping[str, Any], session_hash: str) -> CurrentUser | None:
    """The user of a session row (:data:`SESSION_COLUMNS`); None when it expired or the user is not active."""
    if as_datetime(row["session_expires_at"]) < utcnow() or row["user_status"] != "active":
        return None
    return CurrentUser(
        id=row["user_id"],
        username=row["username"],
        role=row["role"],
        pseudonym=row["pseudonym"],
        csrf_token=row["csrf_token"],
        session_hash=session_hash,
    )


def end_session(db: Database, session_hash: str) -> None:
    """Log out: delete the session."""
    with db.write() as s:
        s.execute(delete(AuthSession).where(AuthSession.token_hash == session_hash))
