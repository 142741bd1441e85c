"""Live dialogues on the platform: opening, reading, tagging and submitting them.

A dialogue's active time is measured on the server from the times of its events, each gap capped
at the campaign's idle cap (:func:`active_ms`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from safetylens.human.db import Database, utcnow
from safetylens.human.importing import normalize_category, normalize_vectors
from safetylens.human.models import RedTeamCampaign, RedTeamDialogue, RedTeamTurn
from safetylens.human.redteam.base import DEFAULT_IDLE_CAP_S, RedTeamError
from safetylens.human.redteam.campaigns import is_member, open_campaign
from safetylens.human.studies import audit


def start_dialogue(
    db: Database, campaign_id: int, user_id: int, *, objective: str = "", language: str = ""
) -> RedTeamDialogue:
    """Open a live dialogue with the campaign's model (its clock starts now).

    Raises:
        RedTeamError: The campaign is closed or the user is not one of its red teamers.
    """
    now = utcnow()
    with db.write() as s:
        c = open_campaign(s, campaign_id)
        if not is_member(s, campaign_id, user_id):
            raise RedTeamError("you are not a red teamer in this campaign")
        d = RedTeamDialogue(
            campaign_id=campaign_id,
            redteamer_id=user_id,
            source="live",
            external_id=None,
            model=c.target_label,
            status="open",
            attack_vectors=[],
            language=language[:32],
            objective=objective[:5000],
            notes="",
            started_at=now,
            last_activity_at=now,
            meta={"system_prompt": c.system_prompt, "target": c.target, "decoding": c.decoding},
        )
        s.add(d)
        s.flush()
        audit(s, user_id, "redteam.dialogue.start", "redteam_dialogue", d.id, details={"campaign_id": campaign_id})
    return d


def load_dialogue(s: Session, dialogue_id: int, user_id: int, *, staff: bool = False) -> RedTeamDialogue:
    """A dialogue its red teamer (or staff) may see.

    Raises:
        RedTeamError: Unknown dialogue, or someone else's (the same message for both, so that
            ids of other people's dialogues cannot be probed).
    """
    d = s.get(RedTeamDialogue, dialogue_id)
    if d is None or (not staff and d.redteamer_id != user_id):
        raise RedTeamError("no such dialogue")
    return d


def turns_of(s: Session, dialogue_id: int) -> list[RedTeamTurn]:
    """A dialogue's turns in order."""
    return list(s.scalars(select(RedTeamTurn).where(RedTeamTurn.dialogue_id == dialogue_id).order_by(RedTeamTurn.idx)))


def messages_of(turns: Sequence[RedTeamTurn]) -> list[dict[str, str]]:
    """Turns as ``{role, content}`` messages."""
    return [{"role": t.role, "content": t.content} for t in turns]


def active_ms(events: Sequence[datetime], idle_cap_s: int) -> int:
    """Active time between ordered events: the sum of gaps, each capped at ``idle_cap_s``."""
    cap = timedelta(seconds=idle_cap_s)
    total = timedelta(0)
    ordered = sorted(events)
    for a, b in itertools.pairwise(ordered):
        total += min(b - a, cap)
    return int(total.total_seconds() * 1000)


def validate_tags(
    campaign: RedTeamCampaign,
    turns: Sequence[dict[str, str]],
    risk_category: str | None,
    attack_vectors: Sequence[str],
    degree_of_risk: int | None,
    violation: bool,
    violating_turn: int | None,
    where: str = "",
) -> tuple[str | None, list[str]]:
    """A dialogue's tags checked against its turns and the campaign's taxonomies.

    Returns:
        The risk category and attack vectors as the campaign spells them.

    Raises:
        RedTeamError: A missing or inconsistent tag (prefixed with ``where``).
    """
    pre = f"{where}: " if where else ""
    n_assistant = sum(1 for t in turns if t["role"] == "assistant")
    if n_assistant == 0:
        raise RedTeamError(f"{pre}the dialogue has no model response to judge")
    if degree_of_risk is None or not 1 <= int(degree_of_risk) <= 5:
        raise RedTeamError(f"{pre}choose the degree of risk (1-5)")
    if violation:
        if violating_turn is None or not 1 <= violating_turn <= n_assistant:
            raise RedTeamError(f"{pre}mark which model turn (1-{n_assistant}) violated the policy")
    elif violating_turn is not None:
        raise RedTeamError(f"{pre}a violating turn is marked but the dialogue is tagged as not violating")
    category = normalize_category(risk_category)
    if category is None:
        raise RedTeamError(f"{pre}choose a risk category")
    allowed = {c.lower(): c for c in campaign.risk_categories}
    if category.lower() not in allowed:
        raise RedTeamError(f"{pre}risk category {category!r} is not in this campaign's taxonomy")
    vectors = normalize_vectors(list(attack_vectors))
    allowed_v = {v.lower(): v for v in campaign.attack_vectors}
    bad = [v for v in vectors if v.lower() not in allowed_v]
    if bad:
        raise RedTeamError(f"{pre}attack vector {bad[0]!r} is not in this campaign's taxonomy")
    return allowed[category.lower()], [allowed_v[v.lower()] for v in dict.fromkeys(vectors)]


def submit_dialogue(
    db: Database,
    dialogue_id: int,
    user_id: int,
    *,
    risk_category: str | None,
    attack_vectors: Sequence[str],
    degree_of_risk: int | None,
    violation: bool,
    violating_turn: int | None,
    notes: str = "",
) -> RedTeamDialogue:
    """Tag a live dialogue and close it; its active time is fixed from the server timestamps.

    Raises:
        RedTeamError: Missing or inconsistent tags, or a dialogue that is not the user's or not open.
    """
    now = utcnow()
    with db.write() as s:
        d = load_dialogue(s, dialogue_id, user_id)
        if d.status != "open":
            raise RedTeamError("this dialogue is already submitted")
        campaign = s.get(RedTeamCampaign, d.campaign_id)
        assert campaign is not None
        turns = turns_of(s, dialogue_id)
        category, vectors = validate_tags(
            campaign, messages_of(turns), risk_category, attack_vectors, degree_of_risk, violation, violating_turn
        )
        d.risk_category = category
        d.attack_vectors = vectors
        d.degree_of_risk = int(degree_of_risk)  # type: ignore[arg-type]
        d.violation = bool(violation)
        d.violating_turn = violating_turn if violation else None
        d.notes = notes[:10_000]
        d.status = "submitted"
        d.submitted_at = now
        d.last_activity_at = now
        cap = int(campaign.settings.get("idle_cap_s", DEFAULT_IDLE_CAP_S))
        d.active_ms = active_ms([d.started_at, *(t.created_at for t in turns), now], cap)
        audit(
            s,
            user_id,
            "redteam.dialogue.submit",
            "redteam_dialogue",
            d.id,
            details={
                "risk_category": category,
                "attack_vectors": vectors,
                "degree_of_risk": d.degree_of_risk,
                "violation": d.violation,
                "violating_turn": d.violating_turn,
                "active_ms": d.active_ms,
            },
        )
    return d
