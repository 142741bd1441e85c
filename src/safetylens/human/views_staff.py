"""Pages for researchers and admins: studies, imports, rater pools, guidelines, results, users.

Every route here depends on :func:`~safetylens.human.deps.require_staff` (or ``require_admin``),
so raters get 403; every POST also checks the CSRF token.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from safetylens.errors import SafetylensError
from safetylens.human import auth, export, importing, results, studies
from safetylens.human.deps import AdminDep, CsrfAdminDep, CsrfStaffDep, DbDep, IdPath, StaffDep, page
from safetylens.human.models import ROLES, USER_STATUSES, Batch, Item, Prompt, Study, StudyMember, User
from safetylens.human.models import Response as ModelResponse
from safetylens.human.scales import ATTACK_VECTORS, RISK_CATEGORIES, STUDY_KINDS

router = APIRouter()

MAX_UPLOAD = 200 * 1024 * 1024


def _study_or_404(db: Any, study_id: int) -> Study:
    with db.read() as s:
        study = s.get(Study, study_id)
    if study is None:
        raise HTTPException(status_code=404, detail="no such study")
    return study  # type: ignore[no-any-return]


def _error_page(request: Request, exc: SafetylensError, status: int = 400) -> Response:
    msg = exc.message + (f" ({exc.hint})" if exc.hint else "")
    return page(request, "error.html", {"status": status, "message": msg}, status_code=status)  # type: ignore[no-any-return]


@router.get("/admin", response_class=HTMLResponse)
def studies_page(request: Request, user: StaffDep, db: DbDep) -> Response:
    """All studies with their progress, and the form for a new one."""
    rows = []
    with db.read() as s:
        for st in s.scalars(select(Study).order_by(Study.id.desc())):
            rows.append({"study": st, "progress": studies.study_progress(s, st.id)})
    return page(request, "admin_studies.html", {"rows": rows, "kinds": STUDY_KINDS})  # type: ignore[no-any-return]


def _parse_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for line in text.replace(",", "\n").splitlines():
        line = line.strip()
        if not line:
            continue
        if ":" not in line:
            raise SafetylensError(f"model pair {line!r} must be FIRST:SECOND")
        a, b = (x.strip() for x in line.split(":", 1))
        pairs.append((a, b))
    return pairs


@router.post("/admin/studies")
def create_study(
    request: Request,
    user: CsrfStaffDep,
    db: DbDep,
    name: Annotated[str, Form(max_length=100)],
    kind: Annotated[str, Form(max_length=16)],
    raters_per_item: Annotated[int, Form(ge=1, le=50)] = 3,
    description: Annotated[str, Form(max_length=5000)] = "",
    pairs: Annotated[str, Form(max_length=5000)] = "",
    reservation_timeout_min: Annotated[int, Form(ge=1, le=1440)] = 30,
) -> Response:
    """Create a study and open its page."""
    try:
        study = studies.create_study(
            db,
            name,
            kind,
            raters_per_item=raters_per_item,
            description=description,
            pairs=_parse_pairs(pairs),
            reservation_timeout_s=reservation_timeout_min * 60,
            actor_id=user.id,
        )
    except SafetylensError as exc:
        return _error_page(request, exc)
    return RedirectResponse(f"/admin/studies/{study.id}", status_code=303)


@router.get("/admin/studies/{study_id}", response_class=HTMLResponse)
def study_page(
    request: Request,
    study_id: IdPath,
    user: StaffDep,
    db: DbDep,
    imported: int | None = None,
    imported_prompts: int | None = None,
) -> Response:
    """A study: progress, batches, raters, guidelines, import form, links to results and exports."""
    with db.read() as s:
        study = s.get(Study, study_id)
        if study is None:
            raise HTTPException(status_code=404, detail="no such study")
        progress = studies.study_progress(s, study_id)
        guide = studies.current_guidelines(s, study_id)
        batches = s.execute(
            select(Batch.name, func.count(Item.id))
            .outerjoin(Item, Item.batch_id == Batch.id)
            .where(Batch.study_id == study_id)
            .group_by(Batch.id, Batch.name)
            .order_by(Batch.id)
        ).all()
        members = s.execute(
            select(User.id, User.username, User.pseudonym, User.status)
            .join(StudyMember, StudyMember.user_id == User.id)
            .where(StudyMember.study_id == study_id)
            .order_by(User.username)
        ).all()
        member_ids = {m.id for m in members}
        candidates = [
            u
            for u in s.scalars(
                select(User).where(User.role == "rater", User.status == "active").order_by(User.username)
            )
            if u.id not in member_ids
        ]
        models = s.scalars(
            select(ModelResponse.model)
            .distinct()
            .join(Prompt, Prompt.id == ModelResponse.prompt_id)
            .where(Prompt.study_id == study_id)
        ).all()
    return page(  # type: ignore[no-any-return]
        request,
        "admin_study.html",
        {
            "study": study,
            "progress": progress,
            "guide": guide,
            "batches": batches,
            "members": members,
            "candidates": candidates,
            "models": sorted(models),
            "imported": imported,
            "imported_prompts": imported_prompts,
            "risk_categories": RISK_CATEGORIES,
            "attack_vectors": ATTACK_VECTORS,
        },
    )


@router.post("/admin/studies/{study_id}/import")
async def import_upload(
    request: Request,
    study_id: IdPath,
    user: CsrfStaffDep,
    db: DbDep,
    file: Annotated[UploadFile, File()],
    fmt: Annotated[str, Form(max_length=16)] = "auto",
    model: Annotated[str, Form(max_length=255)] = "",
    batch: Annotated[str, Form(max_length=100)] = "",
    category_field: Annotated[str, Form(max_length=100)] = "",
    default_category: Annotated[str, Form(max_length=100)] = "",
    prompts_only: Annotated[bool, Form()] = False,
) -> Response:
    """Import an uploaded generations.jsonl, JSONL or CSV file (all or nothing)."""
    from starlette.concurrency import run_in_threadpool

    _study_or_404(db, study_id)
    if fmt not in ("auto", "generations", "jsonl", "csv"):
        raise HTTPException(status_code=422, detail="format must be auto, generations, jsonl or csv")
    # Messages name the file as the user knows it (its base name), never a path on the server.
    name = Path(file.filename or "").name or "upload.jsonl"
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(status_code=413, detail=f"file larger than {MAX_UPLOAD // 2**20} MiB; use the CLI")
    try:
        summary = await run_in_threadpool(
            importing.import_data,
            db,
            study_id,
            data,
            name,
            fmt=fmt,  # type: ignore[arg-type]
            model=model.strip() or None,
            batch=batch.strip() or None,
            fields=importing.FieldMap(category=category_field.strip() or None),
            default_category=default_category.strip() or None,
            prompts_only=prompts_only,
            actor_id=user.id,
        )
    except SafetylensError as exc:
        return _error_page(request, exc, status=422)
    return RedirectResponse(
        f"/admin/studies/{study_id}?imported={summary.items_added}&imported_prompts={summary.prompts_added}",
        status_code=303,
    )


@router.post("/admin/studies/{study_id}/members")
def add_members(
    request: Request, study_id: IdPath, user: CsrfStaffDep, db: DbDep, usernames: Annotated[str, Form(max_length=10000)]
) -> Response:
    """Admit raters (comma- or newline-separated user names) to the study."""
    _study_or_404(db, study_id)
    names = [n.strip() for n in usernames.replace(",", "\n").splitlines() if n.strip()]
    try:
        studies.add_members(db, study_id, names, actor_id=user.id)
    except SafetylensError as exc:
        return _error_page(request, exc)
    return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)


@router.post("/admin/studies/{study_id}/members/{user_id}/remove")
def remove_member(request: Request, study_id: IdPath, user_id: IdPath, user: CsrfStaffDep, db: DbDep) -> Response:
    """Take a rater out of the study's pool."""
    _study_or_404(db, study_id)
    studies.remove_member(db, study_id, user_id, actor_id=user.id)
    return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)


@router.post("/admin/studies/{study_id}/guidelines")
def new_guidelines(
    request: Request, study_id: IdPath, user: CsrfStaffDep, db: DbDep, text: Annotated[str, Form(max_length=200_000)]
) -> Response:
    """Publish a new guidelines version."""
    _study_or_404(db, study_id)
    try:
        studies.add_guidelines(db, study_id, text, actor_id=user.id)
    except SafetylensError as exc:
        return _error_page(request, exc)
    return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)


@router.post("/admin/studies/{study_id}/status")
def set_status(
    request: Request, study_id: IdPath, user: CsrfStaffDep, db: DbDep, status: Annotated[str, Form(max_length=16)]
) -> Response:
    """Open, pause or close the study."""
    _study_or_404(db, study_id)
    try:
        studies.set_status(db, study_id, status, actor_id=user.id)
    except SafetylensError as exc:
        return _error_page(request, exc)
    return RedirectResponse(f"/admin/studies/{study_id}", status_code=303)


def _result_options(
    weights: str | None, tie_rule: str | None, min_ratings: int | None, pairwise_rule: str | None
) -> results.ResultOptions:
    opts: dict[str, Any] = {}
    if weights:
        opts["irr_weights"] = weights
    if tie_rule:
        opts["tie_rule"] = tie_rule
    if min_ratings:
        opts["min_ratings"] = min_ratings
    if pairwise_rule:
        opts["pairwise_rule"] = pairwise_rule
    try:
        return results.ResultOptions(**opts)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=f"invalid result options: {exc.errors()[0]['msg']}") from exc


@router.get("/admin/studies/{study_id}/results", response_class=HTMLResponse)
def results_page(
    request: Request,
    study_id: IdPath,
    user: StaffDep,
    db: DbDep,
    weights: str | None = None,
    tie_rule: str | None = None,
    min_ratings: int | None = None,
    pairwise_rule: str | None = None,
) -> Response:
    """Violation %, mean rating or win rates with CIs, IRR, and per-rater statistics."""
    study = _study_or_404(db, study_id)
    opts = _result_options(weights, tie_rule, min_ratings, pairwise_rule)
    res = results.compute_results(db, study_id, opts)
    return page(request, "admin_results.html", {"study": study, "r": res, "opts": opts})  # type: ignore[no-any-return]


@router.get("/admin/studies/{study_id}/results.json")
def results_json(
    study_id: IdPath,
    user: StaffDep,
    db: DbDep,
    weights: str | None = None,
    tie_rule: str | None = None,
    min_ratings: int | None = None,
    pairwise_rule: str | None = None,
) -> Response:
    """The results as JSON (for reports)."""
    study = _study_or_404(db, study_id)
    opts = _result_options(weights, tie_rule, min_ratings, pairwise_rule)
    res = results.compute_results(db, study_id, opts)
    return JSONResponse(
        res, headers={"Content-Disposition": f'attachment; filename="{_file_stem(study.name)}-results.json"'}
    )


def _file_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:60] or "study"


@router.get("/admin/studies/{study_id}/export.{fmt}")
def export_ratings(study_id: IdPath, fmt: str, user: StaffDep, db: DbDep) -> Response:
    """All ratings with provenance as CSV, JSONL or Parquet."""
    study = _study_or_404(db, study_id)
    if fmt not in export.EXPORT_FORMATS:
        raise HTTPException(status_code=404, detail="export formats: csv, jsonl, parquet")
    _, records = export.export_rows(db, study_id)
    disposition = {"Content-Disposition": f'attachment; filename="{_file_stem(study.name)}-ratings.{fmt}"'}
    if fmt == "csv":
        return Response(export.to_csv(records), media_type="text/csv; charset=utf-8", headers=disposition)
    if fmt == "jsonl":
        return Response(export.to_jsonl(records), media_type="application/x-ndjson", headers=disposition)
    return Response(export.to_parquet_bytes(records), media_type="application/vnd.apache.parquet", headers=disposition)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: AdminDep, db: DbDep) -> Response:
    """Every user, with forms to add users and change roles or status."""
    with db.read() as s:
        users = s.scalars(select(User).order_by(User.username)).all()
    return page(  # type: ignore[no-any-return]
        request, "admin_users.html", {"users": users, "roles": ROLES, "statuses": USER_STATUSES}
    )


@router.post("/admin/users")
def add_user(
    request: Request,
    user: CsrfAdminDep,
    db: DbDep,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1000)],
    role: Annotated[str, Form(max_length=16)],
) -> Response:
    """Create a user."""
    try:
        auth.create_user(db, username.strip(), password, role, actor_id=user.id)
    except SafetylensError as exc:
        return _error_page(request, exc)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}")
def change_user(
    request: Request,
    user_id: IdPath,
    user: CsrfAdminDep,
    db: DbDep,
    role: Annotated[str, Form(max_length=16)] = "",
    status: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """Change a user's role or status (pause or remove a rater)."""
    if user_id == user.id and ((role and role != "admin") or (status and status != "active")):
        raise HTTPException(status_code=409, detail="you cannot demote or deactivate your own account")
    try:
        auth.update_user(db, user_id, role=role or None, status=status or None, actor_id=user.id)
    except SafetylensError as exc:
        return _error_page(request, exc)
    return RedirectResponse("/admin/users", status_code=303)
