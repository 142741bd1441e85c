"""Red-teaming pages: live chat, recording and tagging for red teamers; campaigns for staff.

Red teamers chat with the campaign's model or record a dialogue; staff manage campaigns, read
every dialogue, see roll-ups and γ, import dialogues and replay violating prompts.

Access: a red teamer is a campaign member (any role); they see only their own dialogues (someone
else's dialogue answers 404, like an unknown one). Staff (admins and researchers) see every
dialogue and the campaign pages. Only admins choose a campaign's model other than the built-in one
and start replays, because loading a model or calling a server is the server's own action.

Model replies are generated in a worker thread (``run_in_threadpool``) so the event loop keeps
serving other requests; replies are plain text, escaped by the templates like everything else.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from safetylens.errors import SafetylensError
from safetylens.human import redteam as rt
from safetylens.human.db import Database
from safetylens.human.deps import CsrfStaffDep, CsrfUserDep, DbDep, IdPath, StaffDep, UserDep, page
from safetylens.human.models import RedTeamCampaign, RedTeamDialogue, RedTeamMember, User

router = APIRouter()

MAX_UPLOAD = 50 * 1024 * 1024
_pool_guard = threading.Lock()

MESSAGES = {
    "submitted": "Dialogue submitted. Thank you!",
    "recorded": "Dialogue recorded.",
}


def backend_pool(request: Request) -> rt.BackendPool:
    """The app's pool of model backends for live chats (created on first use)."""
    with _pool_guard:
        pool: rt.BackendPool | None = getattr(request.app.state, "redteam_pool", None)
        if pool is None:
            pool = rt.BackendPool()
            request.app.state.redteam_pool = pool
        return pool


def _error(request: Request, exc: SafetylensError, status: int = 409) -> Response:
    msg = exc.message + (f" ({exc.hint})" if exc.hint else "")
    if msg == "no such dialogue":
        status = 404
    return page(request, "error.html", {"status": status, "message": msg}, status_code=status)  # type: ignore[no-any-return]


def _digest(messages: list[dict[str, str]]) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]


def _campaign_or_404(db: Database, campaign_id: int) -> RedTeamCampaign:
    with db.read() as s:
        c = s.get(RedTeamCampaign, campaign_id)
    if c is None:
        raise HTTPException(status_code=404, detail="no such campaign")
    return c


# ------------------------------------------------------------------------------ red teamers


@router.get("/redteam", response_class=HTMLResponse)
def my_campaigns(request: Request, user: UserDep, db: DbDep, m: str = "") -> Response:
    """The user's campaigns and their dialogues in each."""
    with db.read() as s:
        campaigns = s.scalars(
            select(RedTeamCampaign)
            .join(RedTeamMember, RedTeamMember.campaign_id == RedTeamCampaign.id)
            .where(RedTeamMember.user_id == user.id)
            .order_by(RedTeamCampaign.id)
        ).all()
        rows = []
        for c in campaigns:
            mine = s.scalars(
                select(RedTeamDialogue)
                .where(RedTeamDialogue.campaign_id == c.id, RedTeamDialogue.redteamer_id == user.id)
                .order_by(RedTeamDialogue.id.desc())
            ).all()
            rows.append({"campaign": c, "dialogues": mine})
    return page(request, "redteam_home.html", {"rows": rows, "message": MESSAGES.get(m)})  # type: ignore[no-any-return]


@router.post("/redteam/{campaign_id}/dialogues")
def new_dialogue(
    request: Request,
    campaign_id: IdPath,
    user: CsrfUserDep,
    db: DbDep,
    objective: Annotated[str, Form(max_length=5000)] = "",
    language: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Start a live dialogue (its clock starts now)."""
    _campaign_or_404(db, campaign_id)
    try:
        d = rt.start_dialogue(db, campaign_id, user.id, objective=objective, language=language)
    except rt.RedTeamError as exc:
        return _error(request, exc, 403)
    return RedirectResponse(f"/redteam/dialogues/{d.id}", status_code=303)


def _dialogue_page(
    request: Request,
    db: Database,
    dialogue_id: int,
    user: Any,
    *,
    error: str | None = None,
    status: int = 200,
    message: str | None = None,
) -> Response:
    with db.read() as s:
        d = rt.load_dialogue(s, dialogue_id, user.id, staff=user.is_staff)
        c = s.get(RedTeamCampaign, d.campaign_id)
        turns = rt.turns_of(s, dialogue_id)
        owner = s.get(User, d.redteamer_id)
    numbered = []
    k = 0
    for t in turns:
        if t.role == "assistant":
            k += 1
        numbered.append({"turn": t, "number": k if t.role == "assistant" else None})
    mine = d.redteamer_id == user.id
    return page(  # type: ignore[no-any-return]
        request,
        "redteam_dialogue.html",
        {
            "d": d,
            "campaign": c,
            "turns": numbered,
            "n_assistant": k,
            "can_chat": mine and d.status == "open" and d.source == "live" and c is not None and c.status == "active",
            "can_tag": mine and d.status == "open" and k > 0,
            "owner": owner.pseudonym if owner else "?",
            "risk_levels": rt.RISK_LEVELS,
            "error": error,
            "message": message,
        },
        status_code=status,
    )


@router.get("/redteam/dialogues/{dialogue_id}", response_class=HTMLResponse)
def dialogue_page(request: Request, dialogue_id: IdPath, user: UserDep, db: DbDep, m: str = "") -> Response:
    """A dialogue: the transcript, the message box while open, the tagging form."""
    try:
        return _dialogue_page(request, db, dialogue_id, user, message=MESSAGES.get(m))
    except rt.RedTeamError as exc:
        return _error(request, exc, 404)


@router.post("/redteam/dialogues/{dialogue_id}/message")
async def send_message(
    request: Request,
    dialogue_id: IdPath,
    user: CsrfUserDep,
    db: DbDep,
    text: Annotated[str, Form(max_length=rt.MAX_MESSAGE)],
) -> Response:
    """Send a message; the model's reply is generated in a worker thread."""
    pool = backend_pool(request)
    try:
        await run_in_threadpool(rt.chat, db, pool, dialogue_id, user.id, text)
    except SafetylensError as exc:
        try:
            return await run_in_threadpool(
                _dialogue_page, request, db, dialogue_id, user, error=exc.message, status=409
            )
        except rt.RedTeamError as exc2:
            return _error(request, exc2, 404)
    return RedirectResponse(f"/redteam/dialogues/{dialogue_id}#end", status_code=303)


@router.post("/redteam/dialogues/{dialogue_id}/submit")
async def submit_dialogue(request: Request, dialogue_id: IdPath, user: CsrfUserDep, db: DbDep) -> Response:
    """Tag the dialogue and close it."""
    form = await request.form()

    def field(name: str) -> str:
        v = form.get(name)
        return v[:10_000] if isinstance(v, str) else ""

    def as_int(name: str) -> int | None:
        v = field(name).strip()
        return int(v) if v.isdigit() else None

    violation = field("violation") == "yes"
    try:
        d = await run_in_threadpool(
            lambda: rt.submit_dialogue(
                db,
                dialogue_id,
                user.id,
                risk_category=field("risk_category") or None,
                attack_vectors=[v for v in form.getlist("attack_vectors") if isinstance(v, str)],
                degree_of_risk=as_int("degree_of_risk"),
                violation=violation,
                violating_turn=as_int("violating_turn") if violation else None,
                notes=field("notes"),
            )
        )
    except rt.RedTeamError as exc:
        try:
            return await run_in_threadpool(
                _dialogue_page, request, db, dialogue_id, user, error=exc.message, status=422
            )
        except rt.RedTeamError as exc2:
            return _error(request, exc2, 404)
    return RedirectResponse(f"/redteam/dialogues/{d.id}?m=submitted", status_code=303)


@router.get("/redteam/{campaign_id}/record", response_class=HTMLResponse)
def record_form(request: Request, campaign_id: IdPath, user: UserDep, db: DbDep) -> Response:
    """The form to record a dialogue held elsewhere."""
    c = _campaign_or_404(db, campaign_id)
    with db.read() as s:
        if not rt.is_member(s, campaign_id, user.id):
            raise HTTPException(status_code=403, detail="you are not a red teamer in this campaign")
    return page(  # type: ignore[no-any-return]
        request,
        "redteam_record.html",
        {"campaign": c, "risk_levels": rt.RISK_LEVELS, "max_minutes": rt.MAX_ACTIVE_S // 60},
    )


@router.post("/redteam/{campaign_id}/record")
async def record_dialogue(request: Request, campaign_id: IdPath, user: CsrfUserDep, db: DbDep) -> Response:
    """Record a pasted dialogue with its tags (the red teamer's own)."""
    _campaign_or_404(db, campaign_id)
    form = await request.form()

    def field(name: str, limit: int = 10_000) -> str:
        v = form.get(name)
        return v[:limit] if isinstance(v, str) else ""

    try:
        messages = rt.parse_transcript(field("transcript", 2_000_000))
        minutes = field("minutes").strip()
        obj: dict[str, Any] = {
            # Pasting the same transcript twice records it once.
            "id": field("external_id", 255).strip() or f"paste-{user.id}-{_digest(messages)}",
            "redteamer": user.username,
            "model": field("model", 255).strip(),
            "messages": messages,
            "risk_category": field("risk_category") or None,
            "attack_vectors": [v for v in form.getlist("attack_vectors") if isinstance(v, str)],
            "degree_of_risk": int(field("degree_of_risk")) if field("degree_of_risk").isdigit() else None,
            "violation": field("violation") == "yes",
            "violating_turn": int(field("violating_turn")) if field("violating_turn").isdigit() else None,
            "active_minutes": float(minutes) if minutes else None,
            "notes": field("notes"),
        }
        if not obj["violation"]:
            obj["violating_turn"] = None
        e = rt.parse_dialogue_obj(obj, "form")
        await run_in_threadpool(rt.record_dialogues, db, campaign_id, [e], actor_id=user.id, only_user_id=user.id)
    except ValueError:
        return _error(request, SafetylensError("minutes must be a number"), 422)
    except SafetylensError as exc:
        return _error(request, exc, 422)
    return RedirectResponse("/redteam?m=recorded", status_code=303)


# ------------------------------------------------------------------------------------- staff


@router.get("/admin/redteam", response_class=HTMLResponse)
def campaigns_page(request: Request, user: StaffDep, db: DbDep) -> Response:
    """Every campaign, and the form for a new one."""
    return page(request, "redteam_admin.html", {"rows": rt.list_campaigns(db)})  # type: ignore[no-any-return]


@router.post("/admin/redteam")
def create_campaign(
    request: Request,
    user: CsrfStaffDep,
    db: DbDep,
    name: Annotated[str, Form(max_length=100)],
    description: Annotated[str, Form(max_length=5000)] = "",
    model: Annotated[str, Form(max_length=500)] = "builtin",
    backend: Annotated[str, Form(max_length=16)] = "",
    base_url: Annotated[str, Form(max_length=500)] = "",
    label: Annotated[str, Form(max_length=255)] = "",
    system_prompt: Annotated[str, Form(max_length=20_000)] = "",
    max_new_tokens: Annotated[int, Form(ge=1, le=4096)] = 256,
    temperature: Annotated[float, Form(ge=0.0, le=2.0)] = 0.1,
    idle_cap_s: Annotated[int, Form(ge=10, le=86_400)] = rt.DEFAULT_IDLE_CAP_S,
) -> Response:
    """Create a campaign (a model other than the built-in one: admins only)."""
    target: dict[str, Any] = {"name": model.strip() or "builtin"}
    if backend.strip():
        target["backend"] = backend.strip()
    if base_url.strip():
        target["base_urls"] = [base_url.strip()]
    if target != {"name": "builtin"} and user.role != "admin":
        raise HTTPException(status_code=403, detail="only administrators choose a model other than the built-in one")
    try:
        c = rt.create_campaign(
            db,
            name,
            target=target,
            target_label=label.strip() or None,
            system_prompt=system_prompt,
            decoding={"max_new_tokens": max_new_tokens, "temperature": temperature},
            description=description,
            idle_cap_s=idle_cap_s,
            actor_id=user.id,
        )
    except SafetylensError as exc:
        return _error(request, exc, 400)
    return RedirectResponse(f"/admin/redteam/{c.id}", status_code=303)


@router.get("/admin/redteam/{campaign_id}", response_class=HTMLResponse)
def campaign_page(
    request: Request, campaign_id: IdPath, user: StaffDep, db: DbDep, imported: int | None = None
) -> Response:
    """A campaign: members, dialogues, roll-ups with γ, replays with their mitigation rates."""
    c = _campaign_or_404(db, campaign_id)
    with db.read() as s:
        members = s.execute(
            select(User.username, User.pseudonym, RedTeamMember.expertise)
            .join(RedTeamMember, RedTeamMember.user_id == User.id)
            .where(RedTeamMember.campaign_id == campaign_id)
            .order_by(User.username)
        ).all()
        dialogues = s.execute(
            select(RedTeamDialogue, User.pseudonym)
            .join(User, User.id == RedTeamDialogue.redteamer_id)
            .where(RedTeamDialogue.campaign_id == campaign_id)
            .order_by(RedTeamDialogue.id.desc())
        ).all()
    roll = rt.rollup(db, campaign_id, n_resamples=2000)
    replays = []
    for rep in rt.list_replays(db, campaign_id):
        try:
            mit: dict[str, Any] | None = rt.mitigation(db, rep.study_id)
        except SafetylensError:
            mit = None
        replays.append({"replay": rep, "mitigation": mit})
    return page(  # type: ignore[no-any-return]
        request,
        "redteam_campaign.html",
        {
            "c": c,
            "members": members,
            "dialogues": dialogues,
            "r": roll,
            "replays": replays,
            "imported": imported,
        },
    )


@router.get("/admin/redteam/{campaign_id}/rollup.json")
def rollup_json(campaign_id: IdPath, user: StaffDep, db: DbDep, include_open_time: bool = True) -> Response:
    """The roll-ups as JSON."""
    _campaign_or_404(db, campaign_id)
    return JSONResponse(rt.rollup(db, campaign_id, include_open_time=include_open_time))


@router.post("/admin/redteam/{campaign_id}/members")
def add_members(
    request: Request,
    campaign_id: IdPath,
    user: CsrfStaffDep,
    db: DbDep,
    usernames: Annotated[str, Form(max_length=10_000)],
    expertise: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """Admit red teamers (comma- or newline-separated user names)."""
    _campaign_or_404(db, campaign_id)
    names = [n.strip() for n in usernames.replace(",", "\n").splitlines() if n.strip()]
    try:
        rt.add_redteamers(db, campaign_id, names, expertise=expertise, actor_id=user.id)
    except SafetylensError as exc:
        return _error(request, exc, 400)
    return RedirectResponse(f"/admin/redteam/{campaign_id}", status_code=303)


@router.post("/admin/redteam/{campaign_id}/status")
def set_status(
    request: Request, campaign_id: IdPath, user: CsrfStaffDep, db: DbDep, status: Annotated[str, Form(max_length=16)]
) -> Response:
    """Open or close the campaign."""
    _campaign_or_404(db, campaign_id)
    try:
        rt.set_campaign_status(db, campaign_id, status, actor_id=user.id)
    except SafetylensError as exc:
        return _error(request, exc, 400)
    return RedirectResponse(f"/admin/redteam/{campaign_id}", status_code=303)


@router.post("/admin/redteam/{campaign_id}/import")
async def import_dialogues(
    request: Request, campaign_id: IdPath, user: CsrfStaffDep, db: DbDep, file: Annotated[UploadFile, File()]
) -> Response:
    """Import tagged dialogues from a JSONL upload (all or nothing)."""
    import tempfile
    from pathlib import Path

    _campaign_or_404(db, campaign_id)
    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise HTTPException(status_code=413, detail=f"file larger than {MAX_UPLOAD // 2**20} MiB; use the CLI")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dialogues.jsonl"
        path.write_bytes(data)
        try:
            dialogues = rt.read_dialogues_jsonl(path)
            res = await run_in_threadpool(rt.record_dialogues, db, campaign_id, dialogues, actor_id=user.id)
        except SafetylensError as exc:
            return _error(request, exc, 422)
    return RedirectResponse(f"/admin/redteam/{campaign_id}?imported={res['added']}", status_code=303)


@router.post("/admin/redteam/{campaign_id}/replay")
async def start_replay(
    request: Request,
    campaign_id: IdPath,
    user: CsrfStaffDep,
    db: DbDep,
    model: Annotated[str, Form(max_length=500)] = "builtin",
    backend: Annotated[str, Form(max_length=16)] = "",
    base_url: Annotated[str, Form(max_length=500)] = "",
    name: Annotated[str, Form(max_length=255)] = "",
    study_name: Annotated[str, Form(max_length=100)] = "",
    max_new_tokens: Annotated[int, Form(ge=1, le=4096)] = 256,
    include_original: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Replay the violating prompts on a model and create the rating study (admins only)."""
    from safetylens.models.base import Decoding

    if user.role != "admin":
        raise HTTPException(status_code=403, detail="only administrators start replays")
    _campaign_or_404(db, campaign_id)
    target: dict[str, Any] = {"name": model.strip() or "builtin"}
    if backend.strip():
        target["backend"] = backend.strip()
    if base_url.strip():
        target["base_urls"] = [base_url.strip()]
    pool = backend_pool(request)

    def run() -> rt.ReplaySummary:
        with pool.using(target) as be:
            return rt.replay(
                db,
                campaign_id,
                be,
                study_name=study_name.strip() or None,
                model_name=name.strip() or None,
                decoding=Decoding(max_new_tokens=max_new_tokens),
                include_original=include_original == "yes",
                actor_id=user.id,
            )

    try:
        summary = await run_in_threadpool(run)
    except SafetylensError as exc:
        return _error(request, exc, 422)
    return RedirectResponse(f"/admin/studies/{summary.study_id}", status_code=303)
