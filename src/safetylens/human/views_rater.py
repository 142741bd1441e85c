"""Rater pages: the study list, guidelines, and one item per page.

Raters see only studies they are members of and only their own assignments; no page shows a
model name, another rater's rating, or whether an item is a check.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from safetylens.human import assignment as asg_mod
from safetylens.human.db import Database
from safetylens.human.deps import CsrfRaterDep, DbDep, IdPath, RaterDep, page
from safetylens.human.models import Assignment, Item, Prompt, Rating, Study, StudyMember
from safetylens.human.models import Response as ModelResponse
from safetylens.human.scales import scale_for
from safetylens.human.studies import acknowledge_guidelines, acknowledged_version, current_guidelines

router = APIRouter()

MESSAGES = {
    "done": "You have rated every item assigned to you in this study. Thank you!",
    "saved": "Rating saved.",
    "ack": "Thank you for reading the guidelines.",
    "gone": "That item was given to other raters after your reservation expired; here is your next one.",
    # Quality
    "quiz": "Pass this study's qualification quizzes before rating.",
    "paused": "Your work in this study is paused; your coordinator will contact you.",
    "skipped": "Item skipped.",
}


def member_study(s: Session, study_id: int, user_id: int) -> Study:
    """A study the rater belongs to.

    Raises:
        HTTPException: 404 for unknown studies, 403 for studies the rater is not in.
    """
    study = s.get(Study, study_id)
    if study is None:
        raise HTTPException(status_code=404, detail="no such study")
    if s.get(StudyMember, (study_id, user_id)) is None:
        raise HTTPException(status_code=403, detail="you are not a rater in this study")
    return study


@router.get("/rate", response_class=HTMLResponse)
def rater_home(request: Request, user: RaterDep, db: DbDep, m: str = "") -> Response:
    """The rater's studies with their progress."""
    from safetylens.human.views_quality import rater_quiz_rows

    rows: list[dict[str, Any]] = []
    quiz_rows = rater_quiz_rows(db, user.id)
    with db.read() as s:
        studies = s.scalars(
            select(Study)
            .join(StudyMember, StudyMember.study_id == Study.id)
            .where(StudyMember.user_id == user.id)
            .order_by(Study.id)
        ).all()
        for st in studies:
            prog = asg_mod.rater_progress(s, st, user.id)
            guide = current_guidelines(s, st.id)
            acked = acknowledged_version(s, st.id, user.id) or 0
            member = s.get(StudyMember, (st.id, user.id))
            quiz_list = quiz_rows.get(st.id, [])
            rows.append(
                {
                    "study": st,
                    "progress": prog,
                    "needs_ack": guide is not None and acked < guide.version,
                    "quizzes": quiz_list,
                    "needs_quiz": any(q["state"].status != "passed" for q in quiz_list),
                    "paused": member is not None and member.status != "active",
                }
            )
    return page(request, "rater_home.html", {"rows": rows, "message": MESSAGES.get(m)})  # type: ignore[no-any-return]


@router.get("/rate/{study_id}/guidelines", response_class=HTMLResponse)
def guidelines_page(request: Request, study_id: IdPath, user: RaterDep, db: DbDep) -> Response:
    """The current guidelines; confirming them unlocks rating."""
    with db.read() as s:
        study = member_study(s, study_id, user.id)
        guide = current_guidelines(s, study_id)
        acked = acknowledged_version(s, study_id, user.id) or 0
    return page(  # type: ignore[no-any-return]
        request,
        "guidelines.html",
        {"study": study, "guide": guide, "needs_ack": guide is not None and acked < guide.version},
    )


@router.post("/rate/{study_id}/guidelines")
def acknowledge(
    request: Request, study_id: IdPath, user: CsrfRaterDep, db: DbDep, version: Annotated[int, Form()]
) -> Response:
    """Confirm a guidelines version, then go to the first item."""
    with db.read() as s:
        member_study(s, study_id, user.id)
        guide = current_guidelines(s, study_id)
    if guide is None or version != guide.version:
        raise HTTPException(status_code=409, detail="the guidelines changed; please read the new version")
    acknowledge_guidelines(db, study_id, user.id, version)
    return RedirectResponse(f"/rate/{study_id}/next", status_code=303)


@router.get("/rate/{study_id}/next")
def next_item(request: Request, study_id: IdPath, user: RaterDep, db: DbDep, m: str = "") -> Response:
    """Reserve the rater's next item (or resume the one they hold) and show it."""
    with db.read() as s:
        member_study(s, study_id, user.id)
    try:
        res = asg_mod.next_assignment(db, study_id, user.id)
    except asg_mod.GuidelinesRequired:
        return RedirectResponse(f"/rate/{study_id}/guidelines", status_code=303)
    except asg_mod.QualificationRequired:
        return RedirectResponse("/rate?m=quiz", status_code=303)
    except asg_mod.RaterPaused:
        return RedirectResponse("/rate?m=paused", status_code=303)
    if res is None:
        return RedirectResponse("/rate?m=done", status_code=303)
    suffix = f"?m={m}" if m in MESSAGES else ""
    return RedirectResponse(f"/rate/item/{res.assignment_id}{suffix}", status_code=303)


def item_view(s: Session, asg: Assignment) -> dict[str, Any]:
    """What a rater may see of an assigned item: the conversation and the response text(s)."""
    item = s.get(Item, asg.item_id)
    assert item is not None
    prompt = s.get(Prompt, item.prompt_id)
    assert prompt is not None
    resp_a = s.get(ModelResponse, item.response_id)
    assert resp_a is not None
    resp_b = s.get(ModelResponse, item.response_b_id) if item.response_b_id is not None else None
    return {
        "conversation": prompt.conversation,
        "multi_turn": prompt.n_user_turns > 1,
        "response_a": resp_a.text,
        "response_b": resp_b.text if resp_b is not None else None,
    }


def _render_item(request: Request, db: Database, assignment_id: int, user_id: int, message: str | None) -> Response:
    with db.read() as s:
        asg = asg_mod.load_assignment(s, assignment_id, user_id)
        if asg.status == "submitted":
            return RedirectResponse(f"/rate/{asg.study_id}/next", status_code=303)
        if asg.status == "skipped":  # given back: it can no longer be rated (a back button, a stale tab)
            return RedirectResponse(f"/rate/{asg.study_id}/next?m=skipped", status_code=303)
        study = s.get(Study, asg.study_id)
        assert study is not None
        view = item_view(s, asg)
        progress = asg_mod.rater_progress(s, study, user_id)
        guide = current_guidelines(s, study.id)
    scale = scale_for(study.kind)
    return page(  # type: ignore[no-any-return]
        request,
        "rate.html",
        {
            "study": study,
            "assignment_id": asg.id,
            "view": view,
            "scale": scale,
            "progress": progress,
            "position": min(progress.done + 1, progress.total),
            "guide": guide,
            "message": message,
            "expired": asg.status == "expired",
        },
    )


@router.get("/rate/item/{assignment_id}", response_class=HTMLResponse)
def show_item(request: Request, assignment_id: IdPath, user: RaterDep, db: DbDep, m: str = "") -> Response:
    """One item: the conversation, the response(s), the scale."""
    return _render_item(request, db, assignment_id, user.id, MESSAGES.get(m))


@router.post("/rate/item/{assignment_id}")
def submit_item(
    request: Request,
    assignment_id: IdPath,
    user: CsrfRaterDep,
    db: DbDep,
    value: Annotated[int | None, Form()] = None,
    comment: Annotated[str, Form(max_length=asg_mod.MAX_COMMENT)] = "",
    time_spent_ms: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Store the rating and continue with the next item."""
    with db.read() as s:
        asg = asg_mod.load_assignment(s, assignment_id, user.id)
        study_id, skipped = asg.study_id, asg.status == "skipped"
        already = s.scalar(select(Rating.id).where(Rating.assignment_id == assignment_id))
    if skipped:
        return RedirectResponse(f"/rate/{study_id}/next?m=skipped", status_code=303)
    if value is None:
        return _render_item(request, db, assignment_id, user.id, "Choose a rating before submitting.")
    spent = int(time_spent_ms) if time_spent_ms.isdigit() else None
    try:
        asg_mod.submit_rating(db, assignment_id, user.id, value, comment=comment, time_spent_ms=spent)
    except asg_mod.InvalidRating as exc:
        return _render_item(request, db, assignment_id, user.id, exc.message)
    except asg_mod.AssignmentError as exc:
        if already is None and "expired" in exc.message:
            return RedirectResponse(f"/rate/{study_id}/next?m=gone", status_code=303)
        raise
    return RedirectResponse(f"/rate/{study_id}/next?m=saved", status_code=303)


@router.post("/rate/item/{assignment_id}/skip")
def skip_item(request: Request, assignment_id: IdPath, user: CsrfRaterDep, db: DbDep) -> Response:
    """Give the item back unrated (it is not offered to this rater again) and continue."""
    study_id = asg_mod.skip_assignment(db, assignment_id, user.id)
    return RedirectResponse(f"/rate/{study_id}/next?m=skipped", status_code=303)
