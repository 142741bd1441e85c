"""Dialogues held elsewhere: parsing transcripts and JSONL records, recording and exporting them."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safetylens.errors import DataError
from safetylens.human.db import Database, utcnow
from safetylens.human.importing import normalize_vectors
from safetylens.human.models import RedTeamCampaign, RedTeamDialogue, RedTeamTurn, User
from safetylens.human.redteam.base import DEFAULT_IDLE_CAP_S, MAX_ACTIVE_S, MAX_MESSAGE, MAX_TURNS, RedTeamError
from safetylens.human.redteam.campaigns import find_campaign, is_member, open_campaign
from safetylens.human.redteam.dialogues import messages_of, turns_of, validate_tags
from safetylens.human.studies import audit


@dataclass
class ExternalDialogue:
    """A dialogue held outside the platform, to be recorded.

    Attributes:
        external_id: Its id (unique within the campaign; makes re-imports idempotent).
        redteamer: User name of the red teamer.
        model: The model that answered.
        messages: ``{role, content}`` messages (system, user, assistant).
        active_s: Time spent on it, in seconds (None = unknown: left out of γ).
        started_at: When it started (default: the time of recording).
    """

    external_id: str
    redteamer: str
    model: str
    messages: list[dict[str, str]]
    risk_category: str | None = None
    attack_vectors: list[str] = field(default_factory=list)
    degree_of_risk: int | None = None
    violation: bool = False
    violating_turn: int | None = None
    active_s: float | None = None
    started_at: datetime | None = None
    language: str = ""
    objective: str = ""
    notes: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


def _check_messages(messages: object, where: str) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: the dialogue must be a non-empty list of {{role, content}} messages")
    out = []
    for i, m in enumerate(messages):
        if (
            not isinstance(m, dict)
            or m.get("role") not in ("system", "user", "assistant")
            or not isinstance(m.get("content"), str)
        ):
            raise DataError(f"{where}: message {i} must be {{'role': system/user/assistant, 'content': text}}")
        if len(m["content"]) > MAX_MESSAGE:
            raise DataError(f"{where}: message {i} is longer than {MAX_MESSAGE} characters")
        out.append({"role": str(m["role"]), "content": str(m["content"])})
    # Text after trimming: a transcript of bare "User:" / "Assistant:" headers records nothing.
    if not any(m["role"] == "user" and m["content"].strip() for m in out) or not any(
        m["role"] == "assistant" and m["content"].strip() for m in out
    ):
        raise DataError(f"{where}: a dialogue needs at least one user and one assistant message with text")
    if len(out) > MAX_TURNS:
        raise DataError(f"{where}: more than {MAX_TURNS} messages")
    return out


def parse_dialogue_obj(obj: dict[str, Any], where: str, *, default_redteamer: str | None = None) -> ExternalDialogue:
    """An :class:`ExternalDialogue` from one JSON object (an import line or a pasted record).

    Fields: ``id``, ``redteamer``, ``model``, ``messages`` (or ``conversation``/``dialogue``),
    ``risk_category``, ``attack_vectors``, ``degree_of_risk``, ``violation``, ``violating_turn``,
    ``time_spent_s`` (or ``active_minutes``), ``started_at`` (ISO 8601, UTC), ``language``,
    ``objective``, ``notes``.

    Raises:
        DataError: Missing or malformed fields.
    """
    if not isinstance(obj, dict):
        raise DataError(f"{where}: expected a JSON object")
    ext = obj.get("id", obj.get("dialogue_id"))
    if ext is None or not str(ext).strip():
        raise DataError(f"{where}: no id")
    redteamer = obj.get("redteamer") or default_redteamer
    if not redteamer:
        raise DataError(f"{where}: no redteamer (user name)")
    model = obj.get("model")
    if not model:
        raise DataError(f"{where}: no model name")
    messages = _check_messages(obj.get("messages", obj.get("conversation", obj.get("dialogue"))), where)
    active_s: float | None = None
    try:
        if obj.get("time_spent_s") is not None:
            active_s = float(obj["time_spent_s"])
        elif obj.get("active_minutes") is not None:
            active_s = 60.0 * float(obj["active_minutes"])
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: time spent must be a number (time_spent_s in seconds, active_minutes)") from exc
    if active_s is not None and not (math.isfinite(active_s) and 0 < active_s <= MAX_ACTIVE_S):
        raise DataError(
            f"{where}: time spent must be more than 0 and at most {MAX_ACTIVE_S // 60} minutes (24 hours) "
            f"per dialogue, got {active_s / 60:g} minutes",
            hint="leave it out when unknown: the dialogue is then counted as untimed",
        )
    started: datetime | None = None
    if obj.get("started_at"):
        try:
            started = datetime.fromisoformat(str(obj["started_at"]).replace("Z", "+00:00"))
        except ValueError as exc:
            raise DataError(f"{where}: started_at is not an ISO 8601 time") from exc
        if started.tzinfo is not None:
            started = started.astimezone(UTC).replace(tzinfo=None)
    vt = obj.get("violating_turn")
    degree = obj.get("degree_of_risk")
    try:
        return ExternalDialogue(
            external_id=str(ext).strip()[:255],
            redteamer=str(redteamer),
            model=str(model)[:255],
            messages=messages,
            risk_category=obj.get("risk_category"),
            attack_vectors=normalize_vectors(obj.get("attack_vectors", obj.get("attack_vector"))),
            degree_of_risk=int(degree) if degree is not None else None,
            violation=bool(obj.get("violation", vt is not None)),
            violating_turn=int(vt) if vt is not None else None,
            active_s=active_s,
            started_at=started,
            language=str(obj.get("language", ""))[:32],
            objective=str(obj.get("objective", ""))[:5000],
            notes=str(obj.get("notes", ""))[:10_000],
            meta=dict(obj.get("meta") or {}),
        )
    except (TypeError, ValueError) as exc:
        raise DataError(f"{where}: degree_of_risk and violating_turn must be integers") from exc


def read_dialogues_jsonl(path: Path, *, default_redteamer: str | None = None) -> list[ExternalDialogue]:
    """Every dialogue of a JSONL file (read fully before any database change).

    Raises:
        DataError: Missing file or malformed lines (with the line number).
    """
    from safetylens.util import read_jsonl

    if not path.is_file():
        raise DataError(f"no such file: {path}")
    return [
        parse_dialogue_obj(obj, f"{path}:{i}", default_redteamer=default_redteamer)
        for i, obj in enumerate(read_jsonl(path), start=1)
    ]


def parse_transcript(text: str) -> list[dict[str, str]]:
    """Messages from a pasted transcript.

    Accepts a JSON list of ``{role, content}`` messages, JSON lines of such messages, or plain
    text whose turns start with ``User:``, ``Assistant:`` (or ``Model:``) or ``System:`` on their
    own line; following lines belong to the same turn.

    Raises:
        DataError: Nothing recognisable, or malformed JSON.
    """
    stripped = text.strip()
    if not stripped:
        raise DataError("the transcript is empty")
    if stripped.startswith("["):
        try:
            return _check_messages(json.loads(stripped), "transcript")
        except json.JSONDecodeError as exc:
            raise DataError(f"transcript: not valid JSON ({exc.msg})") from exc
    if stripped.startswith("{"):
        try:
            return _check_messages([json.loads(line) for line in stripped.splitlines() if line.strip()], "transcript")
        except json.JSONDecodeError as exc:
            raise DataError(f"transcript: not valid JSON lines ({exc.msg})") from exc
    roles = {"user": "user", "assistant": "assistant", "model": "assistant", "system": "system"}
    messages: list[dict[str, str]] = []
    for line in stripped.splitlines():
        head, sep, rest = line.partition(":")
        role = roles.get(head.strip().lower()) if sep else None
        if role is not None:
            messages.append({"role": role, "content": rest.strip()})
        elif messages:
            messages[-1]["content"] += "\n" + line
        else:
            raise DataError("transcript: start every turn with 'User:' or 'Assistant:'")
    for m in messages:
        m["content"] = m["content"].strip()
    return _check_messages(messages, "transcript")


def _same_external(d: RedTeamDialogue, turns: Sequence[RedTeamTurn], e: ExternalDialogue) -> bool:
    return messages_of(turns) == e.messages and d.model == e.model


def _record_one(
    s: Session,
    campaign: RedTeamCampaign,
    e: ExternalDialogue,
    *,
    now: datetime,
    actor_id: int | None,
    only_user_id: int | None,
) -> bool:
    """Add one external dialogue to the session; False when it is already recorded with this content.

    Raises:
        RedTeamError: Unknown or non-member red teamer, bad tags, or an id reused for another dialogue.
    """
    where = f"dialogue {e.external_id!r}"
    user = s.scalar(select(User).where(User.username == e.redteamer))
    if user is None:
        raise RedTeamError(f"{where}: no user {e.redteamer!r}")
    if only_user_id is not None and user.id != only_user_id:
        raise RedTeamError(f"{where}: you can only record your own dialogues")
    if not is_member(s, campaign.id, user.id):
        raise RedTeamError(f"{where}: {e.redteamer!r} is not a red teamer in this campaign")
    existing = s.scalar(
        select(RedTeamDialogue).where(
            RedTeamDialogue.campaign_id == campaign.id, RedTeamDialogue.external_id == e.external_id
        )
    )
    if existing is not None:
        if _same_external(existing, turns_of(s, existing.id), e):
            return False
        raise RedTeamError(f"{where} is already recorded with a different content", hint="give it another id")
    turns = [m for m in e.messages if m["role"] != "system"]
    system = "\n\n".join(m["content"] for m in e.messages if m["role"] == "system")
    category, vectors = validate_tags(
        campaign, turns, e.risk_category, e.attack_vectors, e.degree_of_risk, e.violation, e.violating_turn, where
    )
    cap = int(campaign.settings.get("idle_cap_s", DEFAULT_IDLE_CAP_S))
    d = RedTeamDialogue(
        campaign_id=campaign.id,
        redteamer_id=user.id,
        source="external",
        external_id=e.external_id,
        model=e.model,
        status="submitted",
        risk_category=category,
        attack_vectors=vectors,
        degree_of_risk=int(e.degree_of_risk),  # type: ignore[arg-type]
        violation=e.violation,
        violating_turn=e.violating_turn if e.violation else None,
        language=e.language,
        objective=e.objective,
        notes=e.notes,
        started_at=e.started_at or now,
        last_activity_at=now,
        submitted_at=now,
        active_ms=int(e.active_s * 1000) if e.active_s is not None else None,
        meta={**e.meta, "system_prompt": system, "idle_cap_s": cap, "recorded_by": actor_id},
    )
    s.add(d)
    s.flush()
    # Turn timestamps of an external dialogue are when it was recorded, not when it was held.
    s.add_all(
        RedTeamTurn(dialogue_id=d.id, idx=i, role=m["role"], content=m["content"], created_at=now, meta={})
        for i, m in enumerate(turns)
    )
    return True


def record_dialogues(
    db: Database,
    campaign_id: int,
    dialogues: Sequence[ExternalDialogue],
    *,
    actor_id: int | None = None,
    only_user_id: int | None = None,
) -> dict[str, int]:
    """Record external dialogues (all or nothing; the same id again with the same content is skipped).

    Args:
        db: Database.
        campaign_id: Campaign.
        dialogues: The dialogues, already tagged.
        actor_id: Who records them (audit log).
        only_user_id: When a red teamer records their own dialogue: every dialogue must be theirs.

    Returns:
        ``{"added": n, "unchanged": m}``.

    Raises:
        RedTeamError: Unknown or non-member red teamer, bad tags, or an id reused for another dialogue.
    """
    added = unchanged = 0
    now = utcnow()
    with db.write() as s:
        campaign = open_campaign(s, campaign_id)
        for e in dialogues:
            if _record_one(s, campaign, e, now=now, actor_id=actor_id, only_user_id=only_user_id):
                added += 1
            else:
                unchanged += 1
        audit(
            s,
            actor_id,
            "redteam.dialogue.record",
            "redteam_campaign",
            campaign_id,
            details={"added": added, "unchanged": unchanged},
        )
    return {"added": added, "unchanged": unchanged}


def export_dialogues(db: Database, campaign_ref: str | int) -> list[dict[str, Any]]:
    """Every dialogue of a campaign in the import format (plus status, source and times).

    Red teamers appear by pseudonym only; a file written by this can be imported into another
    campaign once ``redteamer`` is mapped to user names there.
    """
    out = []
    with db.read() as s:
        c = find_campaign(s, campaign_ref)
        pseudonyms = dict(s.execute(select(User.id, User.pseudonym)).all())
        for d in s.scalars(
            select(RedTeamDialogue).where(RedTeamDialogue.campaign_id == c.id).order_by(RedTeamDialogue.id)
        ):
            turns = turns_of(s, d.id)
            system = str(d.meta.get("system_prompt") or "")
            out.append(
                {
                    "id": d.external_id or f"live-{d.id}",
                    "campaign": c.name,
                    "redteamer": pseudonyms.get(d.redteamer_id, "?"),
                    "model": d.model,
                    "source": d.source,
                    "status": d.status,
                    "messages": ([{"role": "system", "content": system}] if system else []) + messages_of(turns),
                    "turn_times": [t.created_at.isoformat() + "Z" for t in turns] if d.source == "live" else None,
                    "risk_category": d.risk_category,
                    "attack_vectors": list(d.attack_vectors or []),
                    "degree_of_risk": d.degree_of_risk,
                    "violation": d.violation,
                    "violating_turn": d.violating_turn,
                    "time_spent_s": d.active_ms / 1000 if d.active_ms is not None else None,
                    "started_at": d.started_at.isoformat() + "Z",
                    "submitted_at": d.submitted_at.isoformat() + "Z" if d.submitted_at else None,
                    "language": d.language,
                    "objective": d.objective,
                    "notes": d.notes,
                }
            )
    return out
