"""Pages of the quality features: quizzes (raters and staff), checks, dashboard, adjudication, audit.

Raters: ``/quiz/{id}`` (take a quiz the studies they are in require; never any answer key).
Staff: ``/admin/quizzes`` (list, import, results), ``/admin/quizzes/review`` (grade text answers),
``/admin/studies/{id}/quality`` (settings, required quizzes, check items),
``/admin/studies/{id}/raters`` (dashboard; pause, resume, remove), ``/admin/studies/{id}/adjudication``,
``/admin/ratings/{id}/edit`` (audited edit). Admins: ``/admin/audit`` and its CSV/JSONL export.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from safetylens.errors import SafetylensError
from safetylens.human import adjudication, audit, dashboard, gold, quizzes, studies
from safetylens.human.deps import (
    AdminDep,
    CsrfAdminDep,
    CsrfRaterDep,
    CsrfStaffDep,
    DbDep,
    IdPath,
    IdQuery,
    RaterDep,
    StaffDep,
    page,
)
from safetylens.human.models import GoldItem, Quiz, Rating, Study, StudyMember, StudyQuiz
from safetylens.human.scales import scale_for

router = APIRouter()

MAX_UPLOAD = 20 * 1024 * 1024


def _error(request: Request, exc: SafetylensError, status: int = 400) -> Response:
    msg = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return page(request, "error.html", {"status": status, "message": msg}, status_code=status)  # type: ignore[no-any-return]


def _study(db: Any, study_id: int) -> Study:
    with db.read() as s:
        study = s.get(Study, study_id)
    if study is None:
        raise HTTPException(status_code=404, detail="no such study")
    return study  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------ rater side


def _rater_quiz(db: Any, quiz_id: int, user_id: int) -> Quiz:
    with db.read() as s:
        quiz = s.get(Quiz, quiz_id)
        # 404 either way: a rater learns nothing about quizzes outside their studies.
        if quiz is None or not quizzes.may_take(s, quiz_id, user_id):
            raise HTTPException(status_code=404, detail="no such quiz")
    return quiz  # type: ignore[no-any-return]


def rater_question_view(q: Any) -> dict[str, Any]:
    """What a candidate may see of a question: never the key, the reference or the rubric."""
    return {
        "id": q.id,
        "position": q.position,
        "section": q.section,
        "qtype": q.qtype,
        "text": q.text,
        "options": list(q.options) if q.qtype != "text" else [],
        "required": q.required,
    }


@router.get("/quiz/{quiz_id}", response_class=HTMLResponse)
def quiz_page(request: Request, quiz_id: IdPath, user: RaterDep, db: DbDep, m: str = "") -> Response:
    """A quiz: its state for this rater, and the questions while an attempt is in progress."""
    quiz = _rater_quiz(db, quiz_id, user.id)
    with db.read() as s:
        state = quizzes.quiz_state(s, quiz, user.id)
        questions = (
            [rater_question_view(q) for q in quizzes.questions_of(s, quiz.id)] if state.status == "in_progress" else []
        )
    score = state.attempt.score if state.attempt is not None and state.status in ("failed", "passed") else None
    return page(  # type: ignore[no-any-return]
        request,
        "quiz.html",
        {
            "quiz": quiz,
            "state": state,
            "questions": questions,
            "rules": quizzes.rule_texts(quiz),
            "score": score,
            "message": m[:200] if m else None,
        },
    )


@router.post("/quiz/{quiz_id}/start")
def quiz_start(request: Request, quiz_id: IdPath, user: CsrfRaterDep, db: DbDep) -> Response:
    """Start (or resume) an attempt."""
    _rater_quiz(db, quiz_id, user.id)
    try:
        quizzes.start_attempt(db, quiz_id, user.id)
    except quizzes.QuizError as exc:
        return _error(request, exc, status=409)
    return RedirectResponse(f"/quiz/{quiz_id}", status_code=303)


@router.post("/quiz/{quiz_id}/submit")
async def quiz_submit(request: Request, quiz_id: IdPath, user: CsrfRaterDep, db: DbDep) -> Response:
    """Submit the attempt in progress (fields ``q{id}`` and ``q{id}_{option}`` for ranks)."""
    from starlette.concurrency import run_in_threadpool

    _rater_quiz(db, quiz_id, user.id)
    form = await request.form()
    with db.read() as s:
        questions = quizzes.questions_of(s, quiz_id)
    answers: dict[int, Any] = {}
    for q in questions:
        if q.qtype == "ranking":
            answers[q.id] = [form.get(f"q{q.id}_{i}") for i in range(len(q.options))]
        else:
            value = form.get(f"q{q.id}")
            answers[q.id] = value if isinstance(value, str) else None
    try:
        await run_in_threadpool(quizzes.submit_attempt, db, quiz_id, user.id, answers)
    except quizzes.QuizError as exc:
        return _error(request, exc, status=422)
    return RedirectResponse(f"/quiz/{quiz_id}", status_code=303)


# ------------------------------------------------------------------------------------ staff: quizzes


@router.get("/admin/quizzes", response_class=HTMLResponse)
def quizzes_page(request: Request, user: StaffDep, db: DbDep) -> Response:
    """Every quiz, its attempts, the import form and the review queue size."""
    return page(  # type: ignore[no-any-return]
        request,
        "admin_quizzes.html",
        {"quizzes": quizzes.list_quizzes(db), "pending": len(quizzes.review_queue(db))},
    )


@router.post("/admin/quizzes/import")
async def quizzes_import(
    request: Request, user: CsrfAdminDep, db: DbDep, file: Annotated[UploadFile, File()]
) -> Response:
    """Create quizzes from an uploaded YAML or JSON file (admins only)."""
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(status_code=413, detail="quiz file too large")
    name = file.filename or "quiz.yaml"
    try:
        parsed, example = quizzes.parse_quiz_text(
            data.decode("utf-8", errors="replace"), name, yaml_ok=not name.endswith(".json")
        )
        quizzes.import_quizzes(db, parsed, example=example, actor_id=user.id)
    except SafetylensError as exc:
        return _error(request, exc, status=422)
    return RedirectResponse("/admin/quizzes", status_code=303)


@router.get("/admin/quizzes/review", response_class=HTMLResponse)
def review_page(request: Request, user: StaffDep, db: DbDep) -> Response:
    """Text answers waiting for a 1-5 grade."""
    return page(request, "admin_quiz_review.html", {"entries": quizzes.review_queue(db)})  # type: ignore[no-any-return]


@router.post("/admin/quizzes/answers/{answer_id}/grade")
def grade(
    request: Request,
    answer_id: IdPath,
    user: CsrfStaffDep,
    db: DbDep,
    grade: Annotated[int, Form(ge=1, le=5)],
    note: Annotated[str, Form(max_length=5000)] = "",
) -> Response:
    """Grade one text answer."""
    try:
        quizzes.grade_answer(db, answer_id, grade, grader_id=user.id, note=note)
    except SafetylensError as exc:
        return _error(request, exc, status=409)
    return RedirectResponse("/admin/quizzes/review", status_code=303)


@router.get("/admin/quizzes/{quiz_id}", response_class=HTMLResponse)
def quiz_admin_page(request: Request, quiz_id: IdPath, user: StaffDep, db: DbDep) -> Response:
    """A quiz with its answer key (staff only) and every attempt."""
    with db.read() as s:
        quiz = s.get(Quiz, quiz_id)
        if quiz is None:
            raise HTTPException(status_code=404, detail="no such quiz")
        questions = quizzes.questions_of(s, quiz_id)
    return page(  # type: ignore[no-any-return]
        request,
        "admin_quiz.html",
        {
            "quiz": quiz,
            "questions": questions,
            "rules": quizzes.rule_texts(quiz),
            "attempts": quizzes.quiz_results(db, quiz_id),
        },
    )


# ------------------------------------------------------------------------ staff: study quality


@router.get("/admin/studies/{study_id}/quality", response_class=HTMLResponse)
def quality_page(request: Request, study_id: IdPath, user: StaffDep, db: DbDep, added: int | None = None) -> Response:
    """Quality settings, required quizzes and check items of a study."""
    study = _study(db, study_id)
    with db.read() as s:
        required = {q.id for q in quizzes.required_quizzes(s, study_id)}
        all_quizzes = list(s.scalars(select(Quiz).order_by(Quiz.name)))
        checks = s.execute(
            select(GoldItem.check_kind, func.count()).where(GoldItem.study_id == study_id).group_by(GoldItem.check_kind)
        ).all()
    return page(  # type: ignore[no-any-return]
        request,
        "admin_quality.html",
        {
            "study": study,
            "settings": gold.quality_settings(study.settings),
            "quizzes": all_quizzes,
            "required": required,
            "checks": {k: int(n) for k, n in checks},
            "added": added,
        },
    )


@router.post("/admin/studies/{study_id}/quality/settings")
def quality_settings(
    request: Request,
    study_id: IdPath,
    user: CsrfStaffDep,
    db: DbDep,
    gold_rate: Annotated[float, Form(ge=0, le=0.5)] = 0.0,
    gold_min_checks: Annotated[int, Form(ge=1, le=10_000)] = 5,
    gold_min_accuracy: Annotated[float, Form(ge=0, le=1)] = 0.8,
    adaptive_overlap: Annotated[str, Form(max_length=8)] = "",
    adaptive_max_raters: Annotated[str, Form(max_length=4)] = "",
) -> Response:
    """Change the study's check rate, pause threshold and adaptive overlap."""
    _study(db, study_id)
    changes: dict[str, Any] = {
        "gold_rate": gold_rate,
        "gold_min_checks": gold_min_checks,
        "gold_min_accuracy": gold_min_accuracy,
        "adaptive_overlap": adaptive_overlap == "on",
        "adaptive_max_raters": int(adaptive_max_raters) if adaptive_max_raters.strip().isdigit() else None,
    }
    try:
        gold.update_quality_settings(db, study_id, changes, actor_id=user.id)
    except SafetylensError as exc:
        return _error(request, exc, status=422)
    return RedirectResponse(f"/admin/studies/{study_id}/quality", status_code=303)


@router.post("/admin/studies/{study_id}/quality/quizzes")
async def quality_quizzes(request: Request, study_id: IdPath, user: CsrfStaffDep, db: DbDep) -> Response:
    """Set the quizzes the study's raters must pass (checkboxes ``quiz``)."""
    _study(db, study_id)
    form = await request.form()
    try:
        ids = [int(str(v)) for v in form.getlist("quiz")]
        quizzes.set_required_quizzes(db, study_id, ids, actor_id=user.id)
    except (ValueError, SafetylensError) as exc:
        return _error(request, exc if isinstance(exc, SafetylensError) else SafetylensError(str(exc)), status=422)
    return RedirectResponse(f"/admin/studies/{study_id}/quality", status_code=303)


@router.post("/admin/studies/{study_id}/gold/import")
async def gold_import(
    request: Request, study_id: IdPath, user: CsrfStaffDep, db: DbDep, file: Annotated[UploadFile, File()]
) -> Response:
    """Add gold/attention-check items from an uploaded JSONL file."""
    _study(db, study_id)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(status_code=413, detail="file too large")
    rows = []
    try:
        for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise SafetylensError(f"line {n}: not JSON ({exc.msg})") from exc
        added = gold.add_gold_items(db, study_id, gold.parse_gold_records(rows, "upload"), actor_id=user.id)
    except SafetylensError as exc:
        return _error(request, exc, status=422)
    return RedirectResponse(f"/admin/studies/{study_id}/quality?added={added}", status_code=303)


@router.get("/admin/studies/{study_id}/raters", response_class=HTMLResponse)
def raters_page(request: Request, study_id: IdPath, user: StaffDep, db: DbDep) -> Response:
    """The rater dashboard."""
    study = _study(db, study_id)
    return page(  # type: ignore[no-any-return]
        request, "admin_raters.html", {"study": study, "d": dashboard.rater_dashboard(db, study_id)}
    )


@router.get("/admin/studies/{study_id}/raters.json")
def raters_json(study_id: IdPath, user: StaffDep, db: DbDep) -> Response:
    """The rater dashboard as JSON."""
    from fastapi.responses import JSONResponse

    _study(db, study_id)
    return JSONResponse(dashboard.rater_dashboard(db, study_id))


@router.post("/admin/studies/{study_id}/raters/{user_id}/{action}")
def rater_action(
    request: Request, study_id: IdPath, user_id: IdPath, action: str, user: CsrfStaffDep, db: DbDep
) -> Response:
    """Resume, pause or remove a rater in this study (audited)."""
    _study(db, study_id)
    try:
        if action == "resume":
            gold.set_member_status(db, study_id, user_id, "active", actor_id=user.id)
        elif action == "pause":
            gold.set_member_status(db, study_id, user_id, "paused", actor_id=user.id)
        elif action == "remove":
            studies.remove_member(db, study_id, user_id, actor_id=user.id)
            from safetylens.human.assignment import invalidate_caches

            invalidate_caches(study_id)
        else:
            raise HTTPException(status_code=404, detail="unknown action")
    except SafetylensError as exc:
        return _error(request, exc, status=409)
    return RedirectResponse(f"/admin/studies/{study_id}/raters", status_code=303)


# ------------------------------------------------------------------------------- adjudication


@router.get("/admin/studies/{study_id}/adjudication", response_class=HTMLResponse)
def adjudication_page(request: Request, study_id: IdPath, user: StaffDep, db: DbDep, all: int = 1) -> Response:
    """Items whose raters disagree, with the form for a final label."""
    _study(db, study_id)
    study, entries = adjudication.queue(db, study_id, include_decided=bool(all))
    return page(  # type: ignore[no-any-return]
        request,
        "admin_adjudication.html",
        {"study": study, "entries": entries, "scale": scale_for(study.kind), "label_of": adjudication.label_of},
    )


@router.post("/admin/studies/{study_id}/adjudication/{item_id}")
def adjudicate(
    request: Request,
    study_id: IdPath,
    item_id: IdPath,
    user: CsrfStaffDep,
    db: DbDep,
    value: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=adjudication.MAX_REASON)],
) -> Response:
    """Record the final label of an item."""
    _study(db, study_id)
    try:
        adjudication.adjudicate(db, study_id, item_id, value, reason, actor_id=user.id)
    except SafetylensError as exc:
        return _error(request, exc, status=422)
    return RedirectResponse(f"/admin/studies/{study_id}/adjudication", status_code=303)


@router.post("/admin/ratings/{rating_id}/edit")
def edit_rating(
    request: Request,
    rating_id: IdPath,
    user: CsrfStaffDep,
    db: DbDep,
    value: Annotated[int, Form()],
    reason: Annotated[str, Form(max_length=5000)],
) -> Response:
    """Change a submitted rating; the old and new value and the reason go to the audit log."""
    with db.read() as s:
        rating = s.get(Rating, rating_id)
    if rating is None:
        raise HTTPException(status_code=404, detail="no such rating")
    try:
        audit.edit_rating(db, rating_id, value, reason, actor_id=user.id)
    except SafetylensError as exc:
        return _error(request, exc, status=422)
    return RedirectResponse(f"/admin/studies/{rating.study_id}/adjudication", status_code=303)


# ------------------------------------------------------------------------------------ audit log


def _audit_filters(study: int | None, action: str | None) -> dict[str, Any]:
    return {"study_id": study, "action_prefix": action or None}


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(
    request: Request, user: AdminDep, db: DbDep, study: IdQuery = None, action: str | None = None
) -> Response:
    """The newest 500 audit-log entries, with download links for the whole log."""
    records = audit.audit_records(db, limit=500, **_audit_filters(study, action))
    records.reverse()
    return page(  # type: ignore[no-any-return]
        request, "admin_audit.html", {"records": records, "study": study, "action": action or ""}
    )


@router.get("/admin/audit.{fmt}")
def audit_export(fmt: str, user: AdminDep, db: DbDep, study: IdQuery = None, action: str | None = None) -> Response:
    """The audit log as CSV or JSON lines."""
    if fmt not in ("csv", "jsonl"):
        raise HTTPException(status_code=404, detail="audit export formats: csv, jsonl")
    records = audit.audit_records(db, **_audit_filters(study, action))
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
    return Response(
        audit.export_text(records, fmt),  # type: ignore[arg-type]
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="audit-log.{fmt}"'},
    )


# ------------------------------------------------------------------------- rater home helpers


def rater_quiz_rows(db: Any, user_id: int) -> dict[int, list[dict[str, Any]]]:
    """Per study id: the quizzes it requires and this rater's state for each."""
    out: dict[int, list[dict[str, Any]]] = {}
    with db.read() as s:
        rows = s.execute(
            select(StudyQuiz.study_id, Quiz)
            .join(Quiz, Quiz.id == StudyQuiz.quiz_id)
            .join(StudyMember, StudyMember.study_id == StudyQuiz.study_id)
            .where(StudyMember.user_id == user_id)
            .order_by(Quiz.name)
        ).all()
        for study_id, quiz in rows:
            st = quizzes.quiz_state(s, quiz, user_id)
            out.setdefault(study_id, []).append({"quiz": quiz, "state": st})
    return out


def member_status(db: Any, study_id: int, user_id: int) -> str | None:
    """The rater's status in a study (``active`` or ``paused``), None when not a member."""
    with db.read() as s:
        m = s.get(StudyMember, (study_id, user_id))
    return m.status if m is not None else None
