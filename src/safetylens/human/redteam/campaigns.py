"""Red-team campaigns: creation, lookup, membership and status."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from safetylens.errors import ConfigError
from safetylens.human.db import Database, find_by_ref, utcnow
from safetylens.human.models import RedTeamCampaign, RedTeamDialogue, RedTeamMember, User
from safetylens.human.redteam.base import DEFAULT_DECODING, DEFAULT_IDLE_CAP_S, RedTeamError
from safetylens.human.scales import ATTACK_VECTORS, RISK_CATEGORIES
from safetylens.human.studies import audit


def _clean_list(values: Sequence[str] | None, default: Sequence[str]) -> list[str]:
    out: list[str] = []
    for v in values if values else default:
        text = " ".join(str(v).split())[:100]
        if text and text not in out:
            out.append(text)
    return out


def create_campaign(
    db: Database,
    name: str,
    *,
    target: dict[str, Any] | None = None,
    target_label: str | None = None,
    system_prompt: str = "",
    decoding: dict[str, Any] | None = None,
    risk_categories: Sequence[str] | None = None,
    attack_vectors: Sequence[str] | None = None,
    description: str = "",
    idle_cap_s: int = DEFAULT_IDLE_CAP_S,
    actor_id: int | None = None,
) -> RedTeamCampaign:
    """Create a campaign.

    Args:
        db: Database.
        name: Unique campaign name.
        target: Model spec of live chats (``safetylens.spec.ModelSpec`` fields; default the built-in model).
        target_label: Model name recorded with the dialogues (default: the spec's name).
        system_prompt: Sent before the first user turn of every live chat.
        decoding: Decoding of live chats (default: the paper's 0.1 / 0.9, 256 new tokens).
        risk_categories: Taxonomy offered to red teamers (default: Llama 2 §4.2.1).
        attack_vectors: Taxonomy offered to red teamers (default: Llama 2 §4.2.1).
        description: Shown to staff.
        idle_cap_s: Longest gap counted as active time.
        actor_id: Who creates it (audit log).

    Raises:
        ConfigError: Invalid settings or the name is taken.
    """
    from pydantic import ValidationError

    from safetylens.models.base import Decoding
    from safetylens.spec import ModelSpec

    name = name.strip()
    if not name or len(name) > 100:
        raise ConfigError("a campaign needs a name of 1-100 characters")
    spec_dict = dict(target or {"name": "builtin"})
    try:
        spec = ModelSpec(**spec_dict)
        dec = Decoding(**{**DEFAULT_DECODING, **(decoding or {})})
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"invalid campaign model settings: {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
    if idle_cap_s < 10:
        raise ConfigError("the idle cap must be at least 10 seconds")
    label = (target_label or spec.name).strip()[:255]
    now = utcnow()
    try:
        with db.write() as s:
            campaign = RedTeamCampaign(
                name=name,
                description=description,
                target=spec.model_dump(mode="json", exclude_defaults=True) or {"name": spec.name},
                target_label=label,
                system_prompt=system_prompt,
                decoding=dec.model_dump(mode="json"),
                risk_categories=_clean_list(risk_categories, RISK_CATEGORIES),
                attack_vectors=_clean_list(attack_vectors, ATTACK_VECTORS),
                status="active",
                settings={"idle_cap_s": int(idle_cap_s)},
                created_at=now,
                created_by=actor_id,
            )
            s.add(campaign)
            s.flush()
            audit(s, actor_id, "redteam.campaign.create", "redteam_campaign", campaign.id, details={"name": name})
    except IntegrityError as exc:
        raise ConfigError(f"a campaign named {name!r} already exists") from exc
    return campaign


def find_campaign(s: Session, ref: str | int) -> RedTeamCampaign:
    """A campaign by id or name.

    Raises:
        ConfigError: No such campaign.
    """
    return find_by_ref(s, RedTeamCampaign, ref, "red-team campaign", "list them with: safetylens human redteam list")


def get_campaign(db: Database, ref: str | int) -> RedTeamCampaign:
    """A campaign by id or name (see :func:`find_campaign`)."""
    with db.read() as s:
        return find_campaign(s, ref)


def list_campaigns(db: Database) -> list[dict[str, Any]]:
    """Every campaign with its counts, newest first."""
    out = []
    with db.read() as s:
        for c in s.scalars(select(RedTeamCampaign).order_by(RedTeamCampaign.id.desc())):
            n_dialogues, n_violating = s.execute(
                select(
                    func.count(RedTeamDialogue.id),
                    func.coalesce(func.sum(case((RedTeamDialogue.violation.is_(True), 1), else_=0)), 0),
                ).where(RedTeamDialogue.campaign_id == c.id)
            ).one()
            members = s.scalar(select(func.count()).select_from(RedTeamMember).where(RedTeamMember.campaign_id == c.id))
            out.append(
                {
                    "campaign": c,
                    "dialogues": int(n_dialogues),
                    "violating": int(n_violating),
                    "members": int(members or 0),
                }
            )
    return out


def add_redteamers(
    db: Database, campaign_id: int, usernames: Sequence[str], *, expertise: str = "", actor_id: int | None = None
) -> int:
    """Admit users to a campaign as red teamers; returns how many were new.

    Raises:
        ConfigError: An unknown user.
    """
    added = 0
    with db.write() as s:
        for username in usernames:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise ConfigError(f"no user {username!r}", hint="add it with: safetylens human add-user")
            if s.get(RedTeamMember, (campaign_id, user.id)) is None:
                s.add(RedTeamMember(campaign_id=campaign_id, user_id=user.id, expertise=expertise, added_at=utcnow()))
                audit(
                    s,
                    actor_id,
                    "redteam.member.add",
                    "redteam_campaign",
                    campaign_id,
                    details={"user_id": user.id},
                )
                added += 1
    return added


def is_member(s: Session, campaign_id: int, user_id: int) -> bool:
    """Whether a user red-teams in a campaign."""
    return s.get(RedTeamMember, (campaign_id, user_id)) is not None


def set_campaign_status(db: Database, campaign_id: int, status: str, *, actor_id: int | None = None) -> None:
    """Open (``active``) or close a campaign (closed campaigns take no new dialogues or turns).

    Raises:
        ConfigError: Unknown status.
    """
    if status not in ("active", "closed"):
        raise ConfigError(f"unknown campaign status {status!r}", hint="active or closed")
    with db.write() as s:
        c = s.get(RedTeamCampaign, campaign_id)
        if c is None:
            raise ConfigError(f"no red-team campaign with id {campaign_id}")
        c.status = status
        audit(s, actor_id, "redteam.campaign.status", "redteam_campaign", campaign_id, details={"to": status})


# ----------------------------------------------------------------------------------- dialogues


def open_campaign(s: Session, campaign_id: int) -> RedTeamCampaign:
    """A campaign that takes new dialogues and turns.

    Raises:
        ConfigError: No such campaign.
        RedTeamError: The campaign is closed.
    """
    c = s.get(RedTeamCampaign, campaign_id)
    if c is None:
        raise ConfigError(f"no red-team campaign with id {campaign_id}")
    if c.status != "active":
        raise RedTeamError(f"campaign {c.name!r} is closed")
    return c
