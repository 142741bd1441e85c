"""Users, passwords, sessions, CSRF tokens and login rate limiting.

- Passwords are hashed with Argon2id (OWASP's parameters); hashes are upgraded on login when
  the parameters change.
- A session cookie carries a random token; the database stores only its sha256, so a leaked
  database does not leak live sessions. Each session has its own CSRF token, which every form
  and every state-changing API call must echo back.
- Login attempts are recorded; too many failures for one user name or from one address within
  the window are refused with HTTP 429 before the password is even checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safetylens.errors import ConfigError, SafetylensError
from safetylens.human.db import Database, utcnow
from safetylens.human.fastsql import Sql, as_datetime, one
from safetylens.human.models import ROLES, USER_STATUSES, AuditLog, AuthSession, LoginAttempt, User

SESSION_COOKIE = "sl_session"
LOGIN_CSRF_COOKIE = "sl_login_csrf"
SESSION_TTL = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 8
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


@dataclass(frozen=True)
class RateLimit:
    """Login rate-limit policy.

    Attributes:
        window: The sliding window.
        max_failures_per_user: Failed attempts for one user name allowed within the window.
        max_failures_per_ip: Failed attempts from one client address allowed within the window.
    """

    window: timedelta = timedelta(minutes=15)
    max_failures_per_user: int = 5
    max_failures_per_ip: int = 50


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
    """Too many failed logins; ``retry_after_s`` says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, hint=f"try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


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
            s.add(
                AuditLog(
                    at=utcnow(),
                    actor_id=actor_id,
                    action="user.create",
                    entity="user",
                    entity_id=str(user.id),
                    details={"username": username, "role": role},
                )
            )
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
        s.add(AuditLog(at=utcnow(), actor_id=actor_id, action="user.password", entity="user", entity_id=str(user.id)))


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
            s.add(
                AuditLog(
                    at=utcnow(),
                    actor_id=actor_id,
                    action="user.update",
                    entity="user",
                    entity_id=str(user.id),
                    details=changes,
                )
            )
    from safetylens.human.assignment import invalidate_caches

    invalidate_caches()
    return user


def _check_rate_limit(s: Session, username: str, ip: str, now: datetime, policy: RateLimit) -> None:
    since = now - policy.window
    by_user = s.scalars(
        select(LoginAttempt.at)
        .where(LoginAttempt.username == username, LoginAttempt.at > since, LoginAttempt.success.is_(False))
        .order_by(LoginAttempt.at)
    ).all()
    if len(by_user) >= policy.max_failures_per_user:
        wait = by_user[-policy.max_failures_per_user] + policy.window - now
        raise RateLimited(
            "too many failed logins for this user; wait before trying again", max(1, int(wait.total_seconds()) + 1)
        )
    n_ip = s.scalar(
        select(func.count()).where(LoginAttempt.ip == ip, LoginAttempt.at > since, LoginAttempt.success.is_(False))
    )
    if (n_ip or 0) >= policy.max_failures_per_ip:
        raise RateLimited(
            "too many failed logins from this address; wait before trying again", int(policy.window.total_seconds())
        )


def authenticate(db: Database, username: str, password: str, ip: str, policy: RateLimit | None = None) -> User:
    """Check credentials, record the attempt, and return the user.

    Raises:
        RateLimited: Too many recent failures for this user name or address.
        AuthError: Wrong user name or password, or the account is not active.
    """
    policy = policy or RateLimit()
    username = username.strip()[:64]
    now = utcnow()
    with db.read() as s:
        _check_rate_limit(s, username, ip, now, policy)
        user = s.scalar(select(User).where(User.username == username))
    ok = False
    rehash: str | None = None
    if user is None:
        with contextlib.suppress(VerificationError):
            _hasher().verify(_dummy_hash(), password)
    else:
        try:
            hasher = _hasher()
            ok = hasher.verify(user.password_hash, password)
            if ok and hasher.check_needs_rehash(user.password_hash):
                rehash = hasher.hash(password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
    active = ok and user is not None and user.status == "active"
    with db.write() as s:
        s.add(LoginAttempt(username=username, ip=ip, at=now, success=active))
        # Old attempts only matter inside the window; keep the table small.
        s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=1)))
        if active and user is not None:
            u = s.get(User, user.id)
            assert u is not None
            u.last_login_at = now
            if rehash:
                u.password_hash = rehash
    if not ok or user is None:
        raise AuthError("wrong user name or password")
    if user.status != "active":
        raise AuthError(f"this account is {user.status}; ask an administrator")
    return user


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
_RESOLVE = Sql(
    """
    SELECT s.expires_at AS session_expires_at, s.csrf_token, u.id AS user_id, u.username, u.role, u.pseudonym,
        u.status AS user_status
    FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = :h
    """
)


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
    row = one(conn, _RESOLVE, {"h": h})
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
