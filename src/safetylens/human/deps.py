"""Request dependencies of the web app: the database, the current user, role checks, CSRF.

Pages answer an anonymous visitor with a redirect to the login page; the JSON API answers 401.
A logged-in user without the required role gets 403 on both. Every state-changing request
(POST) must carry the session's CSRF token, as the ``csrf_token`` form field or the
``X-CSRF-Token`` header; a request whose ``Origin`` header names another site is refused too.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, HTTPException, Path, Query, Request
from fastapi.templating import Jinja2Templates
from sqlalchemy import Connection

from safetylens.human.auth import (
    SESSION_COOKIE,
    CurrentUser,
    constant_time_equal,
    resolve_session,
    resolve_session_in,
)
from safetylens.human.db import Database


class LoginRequired(Exception):
    """Raised for anonymous visitors of pages; the app turns it into a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


async def get_db(request: Request) -> Database:
    """The app's database (async: no thread hop for a plain attribute read)."""
    db: Database = request.app.state.db
    return db


def get_templates(request: Request) -> Jinja2Templates:
    """The app's Jinja2 environment."""
    templates: Jinja2Templates = request.app.state.templates
    return templates


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def optional_user(request: Request) -> CurrentUser | None:
    """The logged-in user, or None."""
    cached: CurrentUser | None = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    token = request.cookies.get(SESSION_COOKIE, "")
    user = resolve_session(request.app.state.db, token) if token else None
    request.state.user = user
    return user


def current_user(request: Request, user: Annotated[CurrentUser | None, Depends(optional_user)]) -> CurrentUser:
    """The logged-in user; anonymous page requests are redirected to the login page.

    Raises:
        HTTPException: 401 for anonymous API requests.
        LoginRequired: For anonymous page requests.
    """
    if user is None:
        if _is_api(request):
            raise HTTPException(status_code=401, detail="log in first")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(quote(target, safe="/?=&"))
    return user


def require_staff(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
    """An admin or researcher.

    Raises:
        HTTPException: 403 for raters.
    """
    if not user.is_staff:
        raise HTTPException(status_code=403, detail="this page is for researchers and administrators")
    return user


def require_admin(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
    """An admin.

    Raises:
        HTTPException: 403 for everyone else.
    """
    if user.role != "admin":
        raise HTTPException(status_code=403, detail="this page is for administrators")
    return user


def require_rater(user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
    """A rater.

    Raises:
        HTTPException: 403 for staff (they do not take rating work).
    """
    if user.role != "rater":
        raise HTTPException(status_code=403, detail="rating pages are for raters")
    return user


def api_user(
    request: Request, *, role: str | None = None, csrf: bool = False, conn: Connection | None = None
) -> CurrentUser:
    """Authenticate a JSON API request inside its endpoint (one thread hop per request).

    Args:
        request: The request.
        role: ``rater``, ``staff``, ``admin``, or None for any logged-in user.
        csrf: Require the ``X-CSRF-Token`` header (state-changing requests).
        conn: Look the session up on this connection (inside the caller's transaction).

    Raises:
        HTTPException: 401 anonymous, 403 wrong role or bad CSRF token.
    """
    token = request.cookies.get(SESSION_COOKIE, "")
    if not token:
        user = None
    elif conn is not None:
        user = resolve_session_in(conn, token)
    else:
        user = resolve_session(request.app.state.db, token)
    return authorize(request, user, role=role, csrf=csrf)


def authorize(
    request: Request, user: CurrentUser | None, *, role: str | None = None, csrf: bool = False
) -> CurrentUser:
    """The checks of :func:`api_user` on a user whose session was already looked up.

    Raises:
        HTTPException: 401 anonymous, 403 wrong role or bad CSRF token.
    """
    request.state.user = user
    if user is None:
        raise HTTPException(status_code=401, detail="log in first")
    if role == "rater" and user.role != "rater":
        raise HTTPException(status_code=403, detail="this API is for raters")
    if role == "staff" and not user.is_staff:
        raise HTTPException(status_code=403, detail="this API is for researchers and administrators")
    if role == "admin" and user.role != "admin":
        raise HTTPException(status_code=403, detail="this API is for administrators")
    if csrf:
        check_origin(request)
        sent = request.headers.get("x-csrf-token", "")
        if not sent or not constant_time_equal(sent, user.csrf_token):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token (send X-CSRF-Token)")
    return user


def check_origin(request: Request) -> None:
    """Refuse cross-site requests that announce themselves through ``Origin`` or ``Referer``.

    Raises:
        HTTPException: 403.
    """
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc != host:
        raise HTTPException(status_code=403, detail="cross-site request refused")


async def csrf_token_of(request: Request) -> str | None:
    """The CSRF token a request carries (header, or form field)."""
    token = request.headers.get("x-csrf-token")
    if token:
        return token
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else None
    return None


async def verify_csrf(request: Request, user: CurrentUser) -> None:
    """Check a logged-in user's request for the session's CSRF token.

    Raises:
        HTTPException: 403 when it is missing or wrong.
    """
    check_origin(request)
    token = await csrf_token_of(request)
    if not token or not constant_time_equal(token, user.csrf_token):
        raise HTTPException(status_code=403, detail="missing or invalid CSRF token; reload the page and try again")


async def csrf_user(request: Request, user: Annotated[CurrentUser, Depends(current_user)]) -> CurrentUser:
    """The current user of a POST request whose CSRF token checks out."""
    await verify_csrf(request, user)
    return user


async def csrf_staff(request: Request, user: Annotated[CurrentUser, Depends(require_staff)]) -> CurrentUser:
    """A staff user of a POST request whose CSRF token checks out."""
    await verify_csrf(request, user)
    return user


async def csrf_admin(request: Request, user: Annotated[CurrentUser, Depends(require_admin)]) -> CurrentUser:
    """An admin's POST request whose CSRF token checks out."""
    await verify_csrf(request, user)
    return user


async def csrf_rater(request: Request, user: Annotated[CurrentUser, Depends(require_rater)]) -> CurrentUser:
    """A rater's POST request whose CSRF token checks out."""
    await verify_csrf(request, user)
    return user


def page(request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200) -> Any:
    """Render a template with the current user and CSRF token in its context."""
    user: CurrentUser | None = getattr(request.state, "user", None)
    ctx: dict[str, Any] = {"user": user, "csrf_token": user.csrf_token if user else ""}
    ctx.update(context or {})
    return get_templates(request).TemplateResponse(request, name, ctx, status_code=status_code)


# Every id column is an INTEGER: 32 bits on PostgreSQL (64 on SQLite, which never gets near 2**31
# rows). A number outside 1..2**31-1 in a URL names no row, and handing it to the database overflows
# (a 500: OverflowError on SQLite past 2**63, "integer out of range" on PostgreSQL past 2**31). The
# app answers a path id out of this range with 404, like any id that names nothing (``create_app``).
MAX_ID = 2**31 - 1
ID_OUT_OF_RANGE = ("greater_than_equal", "less_than_equal")
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
"""An integer id in a URL path; every route takes its ids as this type."""
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
"""An optional integer id in the query string (a filter; out of range is a 422 that names it)."""

DbDep = Annotated[Database, Depends(get_db)]
UserDep = Annotated[CurrentUser, Depends(current_user)]
StaffDep = Annotated[CurrentUser, Depends(require_staff)]
AdminDep = Annotated[CurrentUser, Depends(require_admin)]
RaterDep = Annotated[CurrentUser, Depends(require_rater)]
CsrfUserDep = Annotated[CurrentUser, Depends(csrf_user)]
CsrfStaffDep = Annotated[CurrentUser, Depends(csrf_staff)]
CsrfAdminDep = Annotated[CurrentUser, Depends(csrf_admin)]
CsrfRaterDep = Annotated[CurrentUser, Depends(csrf_rater)]
