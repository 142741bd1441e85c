"""JSON API: the same operations as the pages, for scripts, integrations and load tests.

Authentication is the session cookie (``POST /api/login`` sets it and returns the CSRF token);
every POST except login must send the token in ``X-CSRF-Token``. Errors are ``{"error": ...}``
with 401 (not logged in), 403 (wrong role, not your item, bad CSRF token), 404, 409 or 422.

Rating endpoints authenticate inside the endpoint and talk to the database through hand-written
SQL (:mod:`safetylens.human.store`); on SQLite they run on the event loop whenever the write
lock is free (see :func:`run_hot`): they are the hot path of a rating session.
``POST /api/assignments/{id}/rating?next=true`` records a rating and reserves the next item in
one round trip.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from safetylens.human import assignment as asg_mod
from safetylens.human import auth, results
from safetylens.human.db import Database, utcnow
from safetylens.human.deps import IdPath, api_user, authorize, check_origin
from safetylens.human.models import Study, StudyMember
from safetylens.human.scales import scale_for
from safetylens.human.store import caps, queries
from safetylens.human.store.sql import as_json, one
from safetylens.human.studies import acknowledge_guidelines, current_guidelines

router = APIRouter(prefix="/api")


class LoginBody(BaseModel):
    """Credentials."""

    username: str = Field(max_length=200)
    password: str = Field(max_length=1000)


class RatingBody(BaseModel):
    """A rating submission."""

    value: int
    comment: str = Field("", max_length=asg_mod.MAX_COMMENT)
    time_spent_ms: int | None = Field(None, ge=0)


class AckBody(BaseModel):
    """Confirmation of a guidelines version."""

    version: int


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _json(obj: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(obj, status_code=status_code)


def error_response(exc: HTTPException | asg_mod.AssignmentError) -> JSONResponse:
    """The API's error answer: ``{"error": ...}`` with the exception's status (and headers)."""
    if isinstance(exc, HTTPException):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=exc.headers)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


@router.post("/login")
async def api_login(request: Request, body: LoginBody) -> Response:
    """Log in; sets the session cookie and returns the CSRF token for later requests."""
    from safetylens.human.app import set_cookie

    check_origin(request)
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(status_code=415, detail="send JSON")
    db = _db(request)
    ip = request.client.host if request.client else "unknown"
    state = request.app.state
    try:
        user = await auth.authenticate_async(
            db, body.username, body.password, ip, state.rate_limit, state.password_gate
        )
    except auth.RateLimited as exc:
        return JSONResponse(
            {"error": exc.message}, status_code=exc.status, headers={"Retry-After": str(exc.retry_after_s)}
        )
    except auth.AuthError as exc:
        return JSONResponse({"error": exc.message}, status_code=401)
    token, csrf = await run_in_threadpool(auth.start_session, db, user.id)
    resp = JSONResponse({"username": user.username, "role": user.role, "csrf_token": csrf})
    set_cookie(request, resp, auth.SESSION_COOKIE, token, int(auth.SESSION_TTL.total_seconds()), strict=False)
    return resp


@router.get("/me")
def me(request: Request) -> Response:
    """Who is logged in (and the session's CSRF token)."""
    user = api_user(request)
    return _json(
        {"username": user.username, "role": user.role, "pseudonym": user.pseudonym, "csrf_token": user.csrf_token}
    )


@router.get("/studies")
def my_studies(request: Request) -> Response:
    """The rater's studies with progress and the current guidelines version."""
    user = api_user(request, role="rater")
    out = []
    with _db(request).read() as s:
        for st in s.scalars(
            select(Study).join(StudyMember, StudyMember.study_id == Study.id).where(StudyMember.user_id == user.id)
        ):
            prog = asg_mod.rater_progress(s, st, user.id)
            guide = current_guidelines(s, st.id)
            out.append(
                {
                    "id": st.id,
                    "name": st.name,
                    "kind": st.kind,
                    "status": st.status,
                    "done": prog.done,
                    "total": prog.total,
                    "guidelines_version": guide.version if guide else None,
                }
            )
    return _json(out)


@router.post("/studies/{study_id}/guidelines/ack")
def ack(request: Request, study_id: IdPath, body: AckBody) -> Response:
    """Confirm the current guidelines version."""
    from safetylens.human.views_rater import member_study

    user = api_user(request, role="rater", csrf=True)
    db = _db(request)
    with db.read() as s:
        member_study(s, study_id, user.id)
        guide = current_guidelines(s, study_id)
    if guide is None or guide.version != body.version:
        raise HTTPException(status_code=409, detail="that is not the current guidelines version")
    acknowledge_guidelines(db, study_id, user.id, body.version)
    return _json({"acknowledged": body.version})


def _reserve_next(db: Database, study_id: int, rater_id: int) -> dict[str, Any]:
    try:
        res = asg_mod.next_assignment(db, study_id, rater_id)
    except asg_mod.GuidelinesRequired as exc:
        raise HTTPException(status_code=409, detail=exc.message) from exc
    return _item_payload(db, res)


def _item_payload(db: Database, res: asg_mod.Reservation | None) -> dict[str, Any]:
    if res is None:
        return {"done": True}
    with db.read_conn() as conn:
        return _item_payload_in(conn, res)


def _item_payload_in(conn: Connection, res: asg_mod.Reservation | None) -> dict[str, Any]:
    if res is None:
        return {"done": True}
    row = res.content if res.content is not None else one(conn, queries.ITEM_OF_ASSIGNMENT, {"aid": res.assignment_id})
    assert row is not None
    scale = scale_for(row["kind"])
    return {
        "done": False,
        "assignment_id": res.assignment_id,
        "expires_at": res.expires_at.isoformat() + "Z",
        "item": {
            "conversation": as_json(row["conversation"]),
            "multi_turn": row["n_user_turns"] > 1,
            "response_a": row["response_a"],
            "response_b": row["response_b"],
        },
        "scale": {"question": scale.question, "points": [{"value": p.value, "label": p.label} for p in scale.points]},
    }


def default_db_concurrency() -> int:
    """Rating transactions one server process runs at once on PostgreSQL: twice the CPUs, at least 2."""
    return max(2, 2 * (os.cpu_count() or 1))


class HotExecutor:
    """Threads of their own for rating transactions: at most ``size`` at once, the rest in arrival order.

    A plain executor hop costs about half the CPU of anyio's ``to_thread`` with a capacity
    limiter (measured: ~45 vs ~115 us per call, 50 concurrent callers), and its ``size``
    threads are the bound itself. A waiting call whose client goes away is dropped before it
    starts; a started one finishes (its transaction commits or rolls back whole).

    Args:
        size: Threads, hence transactions at once.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="safetylens-db")

    async def run(self, fn: Callable[[], Response]) -> Response:
        """Run ``fn`` on one of the threads and return its result."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    def shutdown(self) -> None:
        """Let the threads exit once their queue is empty, and stop the cap cache's refresher.

        The app calls this on shutdown; the refresher serves the same rating transactions.
        """
        self._pool.shutdown(wait=False)
        caps.shutdown()


async def run_hot(request: Request, fn: Callable[[], Response]) -> Response:
    """Run a rating endpoint's short transaction: on the event loop when SQLite's write lock is free.

    A thread hop costs more CPU than a whole SQLite rating transaction; PostgreSQL (network round
    trips) and a busy SQLite lock (a long import) go to the thread pool so the loop never waits.
    On PostgreSQL at most ``db_concurrency`` (:func:`safetylens.human.app.create_app`) of these
    transactions run at once (:class:`HotExecutor`; the rest wait their turn in order): with one per request in flight
    (50 clients), the database spent its CPU switching between backends and skipping each other's
    locked rows, and served fewer ratings per second (measured: ~250-330/s unlimited, ~370-500/s
    at 3-6, 2 cores).
    """
    db = _db(request)
    if db.is_postgres:
        hot: HotExecutor = request.app.state.hot_executor
        return await hot.run(fn)
    if db.try_write_lock():
        try:
            return fn()
        finally:
            db.release_write_lock()
    return await run_in_threadpool(fn)


@router.post("/studies/{study_id}/next")
async def next_item(request: Request, study_id: IdPath) -> Response:
    """Reserve the next item (or return the one held): ``{"done": true}`` when there is none."""
    return await run_hot(request, lambda: reserve_next_response(request, study_id))


def reserve_next_response(request: Request, study_id: int) -> Response:
    """The body of :func:`next_item` (also called by :mod:`safetylens.human.fastpath`)."""
    user = api_user(request, role="rater", csrf=True)
    return _json(_reserve_next(_db(request), study_id, user.id))


@router.post("/assignments/{assignment_id}/rating")
async def rate(request: Request, assignment_id: IdPath, body: RatingBody, next: bool = False) -> Response:
    """Submit a rating for one of the rater's reserved items (``?next=true``: and reserve the next).

    Authentication, the rating, the next reservation and its content are read and written in
    one transaction: one connection, one commit.
    """
    return await run_hot(request, lambda: rate_response(request, assignment_id, body, next))


def rate_response(request: Request, assignment_id: int, body: RatingBody, next: bool) -> Response:
    """The body of :func:`rate` (also called by :mod:`safetylens.human.fastpath`)."""
    db = _db(request)
    now = utcnow()
    token = request.cookies.get(auth.SESSION_COOKIE, "")
    for _attempt in range(8):
        try:
            with db.write_conn() as conn:
                # The session, the assignment and (with next) the next item's checks in one query.
                loaded, session_hash = None, ""
                if token and len(token) <= auth.MAX_TOKEN_LEN:
                    session_hash = auth.token_hash(token)
                    loaded = asg_mod.load_submission(conn, db, assignment_id, session_hash, then_next=next)
                if loaded is None:  # 401, 403 or 404: decided the long way
                    user = api_user(request, role="rater", csrf=True, conn=conn)
                else:
                    user = authorize(request, auth.user_from_row(loaded, session_hash), role="rater", csrf=True)
                res = asg_mod.submit_in_txn(
                    conn,
                    db,
                    assignment_id,
                    user.id,
                    body.value,
                    comment=body.comment,
                    time_spent_ms=body.time_spent_ms,
                    now=now,
                    then_next=next,
                    loaded=loaded,
                )
                payload = _item_payload_in(conn, res.next) if next and res.next is not None else None
            break
        except IntegrityError:
            continue
    else:
        raise HTTPException(status_code=409, detail="concurrent updates; try again")
    out: dict[str, Any] = {"rating_id": res.rating_id, "duplicate": res.duplicate}
    if next:
        if payload is None:
            res = asg_mod.finish_next(db, res, user.id, now)
            payload = {"error": res.next_error} if res.next_error else _item_payload(db, res.next)
        out["next"] = payload
    return _json(out)


@router.get("/studies/{study_id}/results")
def study_results(
    request: Request,
    study_id: IdPath,
    weights: str | None = None,
    tie_rule: str | None = None,
    min_ratings: int | None = None,
    pairwise_rule: str | None = None,
) -> Response:
    """Study results (staff only)."""
    from safetylens.human.views_staff import _result_options, _study_or_404

    api_user(request, role="staff")
    db = _db(request)
    _study_or_404(db, study_id)
    return _json(results.compute_results(db, study_id, _result_options(weights, tie_rule, min_ratings, pairwise_rule)))
