"""The human-evaluation web app (FastAPI, server-rendered Jinja2 pages, no CDN).

Create it with :func:`create_app` and serve it with uvicorn (``safetylens human serve``). Pages:

- ``/login``, ``/logout``;
- raters: ``/rate`` (their studies), ``/rate/{study}/guidelines``, ``/rate/{study}/next``,
  ``/rate/item/{assignment}`` (one item per page, keyboard shortcuts);
- staff: ``/admin`` (studies), ``/admin/studies/{id}`` (import, raters, guidelines, status),
  ``/admin/studies/{id}/results``, exports, ``/admin/users`` (admins only);
- JSON API under ``/api`` for scripts and load tests (same session cookie, CSRF header).

Every response carries a strict Content-Security-Policy (scripts and styles only from this
origin, no inline script), so even a template mistake could not run a model's ``<script>``.
Request bodies are capped per route before anything parses them (:mod:`safetylens.human.bodylimit`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from safetylens.errors import ConfigError
from safetylens.human import api, auth, bodylimit
from safetylens.human.api import error_response
from safetylens.human.assignment import AssignmentError
from safetylens.human.db import Database
from safetylens.human.deps import ID_OUT_OF_RANGE, DbDep, LoginRequired, check_origin, optional_user, page
from safetylens.human.fastpath import RatingFastPath
from safetylens.human.rendering import render_markdown
from safetylens.util import format_interval

HERE = Path(__file__).resolve().parent
# Read by :func:`app_from_env` (``human serve --db-concurrency`` sets it for its workers).
ENV_DB_CONCURRENCY = "SAFETYLENS_HUMAN_DB_CONCURRENCY"

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on and add the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in SECURITY_HEADERS if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int, *, strict: bool) -> None:
    """Set an HttpOnly cookie (SameSite Strict or Lax; Secure over HTTPS or when configured)."""
    secure = request.app.state.secure_cookies or request.url.scheme == "https"
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict" if strict else "lax",
        secure=secure,
        path="/",
    )


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _interval_filter(est: Any, digits: int = 1) -> str:
    """Jinja filter: the ``[low, high]`` of an estimate dict, or ``[n/a: n < 2]`` when not estimable."""
    get = est.get if isinstance(est, dict) else (lambda k: getattr(est, k, None))
    return format_interval(get("ci_low"), get("ci_high"), digits)


def create_app(
    db: Database | str,
    *,
    secure_cookies: bool = False,
    rate_limit: auth.RateLimit | None = None,
    check_schema: bool = True,
    db_concurrency: int | None = None,
    max_body_bytes: int = bodylimit.DEFAULT_MAX_BODY,
    max_upload_bytes: int | None = None,
) -> FastAPI:
    """Build the web app.

    Args:
        db: A :class:`Database` or a database URL / SQLite path.
        secure_cookies: Mark cookies ``Secure`` (always done for HTTPS requests).
        rate_limit: Login rate-limit policy, with the bound on password hashes computed at once.
        check_schema: Refuse to start on a database that is not migrated.
        db_concurrency: PostgreSQL: rating transactions run at once by this process (default
            :func:`safetylens.human.api.default_db_concurrency`); see :func:`safetylens.human.api.run_hot`.
        max_body_bytes: Largest request body of every route but the uploads (413 beyond it).
        max_upload_bytes: Largest request body of the upload routes (default
            :data:`safetylens.human.bodylimit.DEFAULT_MAX_UPLOAD_BODY`).

    Raises:
        ConfigError: ``db_concurrency`` below 1, or a body cap below 1 byte.
    """
    if db_concurrency is not None and db_concurrency < 1:
        raise ConfigError(f"db_concurrency must be at least 1, got {db_concurrency}")
    database = db if isinstance(db, Database) else Database(db)
    if check_schema:
        database.check_schema()
    app = FastAPI(title="safetylens human evaluation", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = database
    app.state.secure_cookies = secure_cookies
    app.state.rate_limit = rate_limit or auth.RateLimit()
    # One app per server process, so this bounds the process's concurrent password hashes.
    app.state.password_gate = auth.PasswordGate(app.state.rate_limit.max_concurrent_hashes)
    app.state.hot_executor = api.HotExecutor(db_concurrency or api.default_db_concurrency())
    app.router.on_shutdown.append(app.state.hot_executor.shutdown)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.autoescape = True
    templates.env.filters["markdown"] = render_markdown
    templates.env.filters["interval"] = _interval_filter
    app.state.templates = templates
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    # Inner to SecurityHeaders (added after it), so fast-path responses get the same headers.
    app.add_middleware(RatingFastPath)
    # Outside the fast path, which reads bodies itself; inside SecurityHeaders, so 413s get them too.
    app.add_middleware(
        bodylimit.BodySizeLimit,
        max_body=max_body_bytes,
        max_upload_body=max_upload_bytes or bodylimit.DEFAULT_MAX_UPLOAD_BODY,
    )
    app.add_middleware(SecurityHeaders)

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={exc.next_url}", status_code=303)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/api/"):
            return error_response(exc)
        resp: Response = page(
            request, "error.html", {"status": exc.status_code, "message": exc.detail}, status_code=exc.status_code
        )
        if exc.headers:
            resp.headers.update(exc.headers)
        return resp

    @app.exception_handler(AssignmentError)
    async def _assignment_error(request: Request, exc: AssignmentError) -> Response:
        if request.url.path.startswith("/api/"):
            return error_response(exc)
        resp: Response = page(
            request, "error.html", {"status": exc.status, "message": exc.message}, status_code=exc.status
        )
        return resp

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        if any(_id_out_of_range(e) for e in exc.errors()):
            # No row has such an id: the same answer as for any id that names nothing.
            return await _http_error(request, HTTPException(status_code=404, detail="not found"))
        msgs = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": msgs}, status_code=422)
        resp: Response = page(request, "error.html", {"status": 422, "message": msgs}, status_code=422)
        return resp

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        # Pages name their icon; browsers still ask for this one on anything else (JSON, exports).
        return FileResponse(HERE / "static" / "favicon.svg", media_type="image/svg+xml")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        user = optional_user(request)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/admin" if user.is_staff else "/rate", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/") -> Response:
        return _login_page(request, next, None)

    def _login_page(request: Request, next_url: str, error: str | None, status_code: int = 200) -> Response:
        import secrets

        token = secrets.token_urlsafe(32)
        resp = page(
            request,
            "login.html",
            {"login_csrf": token, "next": _safe_next(next_url), "error": error},
            status_code=status_code,
        )
        set_cookie(request, resp, auth.LOGIN_CSRF_COOKIE, token, 3600, strict=True)
        return resp  # type: ignore[no-any-return]

    @app.post("/login", response_class=HTMLResponse)
    async def login(
        request: Request,
        db: DbDep,
        username: Annotated[str, Form(max_length=200)] = "",
        password: Annotated[str, Form(max_length=1000)] = "",
        csrf_token: Annotated[str, Form(max_length=200)] = "",
        next: Annotated[str, Form(max_length=2000)] = "/",
    ) -> Response:
        check_origin(request)
        cookie = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
        if not cookie or not csrf_token or not auth.constant_time_equal(cookie, csrf_token):
            raise HTTPException(status_code=403, detail="missing or invalid CSRF token; reload the login page")
        ip = request.client.host if request.client else "unknown"
        state = request.app.state
        try:
            user = await auth.authenticate_async(db, username, password, ip, state.rate_limit, state.password_gate)
        except auth.RateLimited as exc:
            resp = _login_page(request, next, exc.message, status_code=exc.status)
            resp.headers["Retry-After"] = str(exc.retry_after_s)
            return resp
        except auth.AuthError as exc:
            return _login_page(request, next, exc.message, status_code=401)
        token, _csrf = await run_in_threadpool(auth.start_session, db, user.id)
        target = _safe_next(next)
        if target == "/":
            target = "/admin" if user.role in ("admin", "researcher") else "/rate"
        resp = RedirectResponse(target, status_code=303)
        set_cookie(request, resp, auth.SESSION_COOKIE, token, int(auth.SESSION_TTL.total_seconds()), strict=False)
        resp.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/")
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        from safetylens.human.deps import verify_csrf

        user = optional_user(request)
        if user is not None:
            await verify_csrf(request, user)
            auth.end_session(request.app.state.db, user.session_hash)
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(auth.SESSION_COOKIE, path="/")
        return resp

    from safetylens.human import views_quality, views_rater, views_staff

    app.include_router(views_rater.router)
    app.include_router(views_staff.router)
    app.include_router(api.router)
    app.include_router(views_quality.router)

    # --- red teaming ---
    from safetylens.human import redteam_views

    app.include_router(redteam_views.router)
    # --- end red teaming ---
    return app


def _id_out_of_range(error: Any) -> bool:
    """Whether a validation error is a path id (:data:`~safetylens.human.deps.IdPath`) out of range."""
    loc: tuple[Any, ...] = tuple(error.get("loc") or ())
    return len(loc) > 0 and loc[0] == "path" and error.get("type") in ID_OUT_OF_RANGE


def app_from_env() -> Any:
    """Factory for ``uvicorn --factory safetylens.human.app:app_from_env``.

    Reads ``$SAFETYLENS_HUMAN_DB``, ``$SAFETYLENS_SECURE_COOKIES``, :data:`ENV_DB_CONCURRENCY` and
    :data:`safetylens.human.bodylimit.ENV_MAX_UPLOAD_MB`.
    """
    import gc
    import os

    from safetylens.human.db import Database, default_url

    concurrency = os.environ.get(ENV_DB_CONCURRENCY, "").strip()
    if concurrency and not (concurrency.isdigit() and int(concurrency) >= 1):
        raise ConfigError(f"{ENV_DB_CONCURRENCY} must be a whole number of at least 1, got {concurrency!r}")
    db = Database(default_url(), background_checkpoint=True)
    app = create_app(
        db,
        secure_cookies=os.environ.get("SAFETYLENS_SECURE_COOKIES") == "1",
        db_concurrency=int(concurrency) if concurrency else None,
        max_upload_bytes=bodylimit.max_upload_from_env(),
    )
    # A long-lived server: park everything allocated at start-up (FastAPI, SQLAlchemy, NumPy, the
    # templates) where the cyclic collector never walks it again, so its collections scan only
    # what requests allocate. Full collections otherwise walk the whole heap and stall every
    # request in flight (measured: p99 of a rating at 300/s).
    gc.collect()
    gc.freeze()
    return app
