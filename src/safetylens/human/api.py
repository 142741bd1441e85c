"""JSON API: the same operations as the pages, for scripts, integrations and load tests.

Authentication is the session cookie (``POST /api/login`` sets it and returns the CSRF token);
every POST except login must send the token in ``X-CSRF-Token``. Errors are ``{"error": ...}``
with 401 (not logged in), 403 (wrong role, not your item, bad CSRF token), 404, 409 or 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from safetylens.human import assignment as asg_mod
from safetylens.human import auth, results
from safetylens.human.deps import CsrfRaterDep, DbDep, RaterDep, StaffDep, UserDep, check_origin
from safetylens.human.models import Study, StudyMember
from safetylens.human.scales import scale_for
from safetylens.human.studies import acknowledge_guidelines, current_guidelines
from safetylens.human.views_rater import item_view, member_study

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


@router.post("/login")
def api_login(request: Request, db: DbDep, body: LoginBody) -> Response:
    """Log in; sets the session cookie and returns the CSRF token for later requests."""
    from safetylens.human.app import _set_cookie

    check_origin(request)
    if not request.headers.get("content-type", "").startswith("application/json"):
        raise HTTPException(status_code=415, detail="send JSON")
    ip = request.client.host if request.client else "unknown"
    try:
        user = auth.authenticate(db, body.username, body.password, ip, request.app.state.rate_limit)
    except auth.RateLimited as exc:
        return JSONResponse({"error": exc.message}, status_code=429, headers={"Retry-After": str(exc.retry_after_s)})
    except auth.AuthError as exc:
        return JSONResponse({"error": exc.message}, status_code=401)
    token, csrf = auth.start_session(db, user.id)
    resp = JSONResponse({"username": user.username, "role": user.role, "csrf_token": csrf})
    _set_cookie(request, resp, auth.SESSION_COOKIE, token, int(auth.SESSION_TTL.total_seconds()), strict=False)
    return resp


@router.get("/me")
def me(user: UserDep) -> dict[str, Any]:
    """Who is logged in (and the session's CSRF token)."""
    return {"username": user.username, "role": user.role, "pseudonym": user.pseudonym, "csrf_token": user.csrf_token}


@router.get("/studies")
def my_studies(user: RaterDep, db: DbDep) -> list[dict[str, Any]]:
    """The rater's studies with progress and the current guidelines version."""
    out = []
    with db.read() as s:
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
    return out


@router.post("/studies/{study_id}/guidelines/ack")
def ack(study_id: int, user: CsrfRaterDep, db: DbDep, body: AckBody) -> dict[str, Any]:
    """Confirm the current guidelines version."""
    with db.read() as s:
        member_study(s, study_id, user.id)
        guide = current_guidelines(s, study_id)
    if guide is None or guide.version != body.version:
        raise HTTPException(status_code=409, detail="that is not the current guidelines version")
    acknowledge_guidelines(db, study_id, user.id, body.version)
    return {"acknowledged": body.version}


@router.post("/studies/{study_id}/next")
def next_item(study_id: int, user: CsrfRaterDep, db: DbDep) -> dict[str, Any]:
    """Reserve the next item (or return the one held): ``{"done": true}`` when there is none."""
    with db.read() as s:
        member_study(s, study_id, user.id)
    try:
        res = asg_mod.next_assignment(db, study_id, user.id)
    except asg_mod.GuidelinesRequired as exc:
        raise HTTPException(status_code=409, detail=exc.message) from exc
    if res is None:
        return {"done": True}
    with db.read() as s:
        asg = asg_mod.load_assignment(s, res.assignment_id, user.id)
        study = s.get(Study, study_id)
        assert study is not None
        view = item_view(s, asg)
    scale = scale_for(study.kind)
    return {
        "done": False,
        "assignment_id": res.assignment_id,
        "expires_at": res.expires_at.isoformat() + "Z",
        "item": view,
        "scale": {"question": scale.question, "points": [{"value": p.value, "label": p.label} for p in scale.points]},
    }


@router.post("/assignments/{assignment_id}/rating")
def rate(assignment_id: int, user: CsrfRaterDep, db: DbDep, body: Annotated[RatingBody, Body()]) -> dict[str, Any]:
    """Submit a rating for one of the rater's reserved items."""
    res = asg_mod.submit_rating(
        db, assignment_id, user.id, body.value, comment=body.comment, time_spent_ms=body.time_spent_ms
    )
    return {"rating_id": res.rating_id, "duplicate": res.duplicate}


@router.get("/studies/{study_id}/results")
def study_results(
    study_id: int,
    user: StaffDep,
    db: DbDep,
    weights: str | None = None,
    tie_rule: str | None = None,
    min_ratings: int | None = None,
    pairwise_rule: str | None = None,
) -> dict[str, Any]:
    """Study results (staff only)."""
    from safetylens.human.views_staff import _result_options, _study_or_404

    _study_or_404(db, study_id)
    return results.compute_results(db, study_id, _result_options(weights, tie_rule, min_ratings, pairwise_rule))
