"""Adjudication: a queue of items whose raters disagree, and final labels with reasons.

An item enters the queue once all its rating slots are filled (after any adaptive-overlap
extra rater) and its raters disagree: on the violation flag in safety studies (some gave 1-2,
others 3-5), on the preferred side in pairwise studies. Items without a majority (e.g. a 2-2
tie after a fourth rater) come first. An adjudicator (admin or researcher) records a final
rating on the study's scale and a reason; it is audited, can be revised (audited again), and
results then take the item's label from it and say so (``source: "adjudication"``) instead of
the majority vote (``source: "majority"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from safetylens.errors import ConfigError
from safetylens.human.db import Database, utcnow
from safetylens.human.gold import raters_disagree
from safetylens.human.models import Adjudication, Item, Study, User
from safetylens.human.results import RatingRow, load_ratings
from safetylens.human.scales import is_violation, scale_for
from safetylens.human.studies import audit, find_study
from safetylens.stats.vote import majority_violation

MAX_REASON = 5000


@dataclass
class QueueEntry:
    """An item in the adjudication queue (staff only: model names included).

    Attributes:
        item_id: The item.
        ratings: Its ratings, oldest first.
        majority: Safety: the majority verdict (None when tied); pairwise: None.
        adjudication: The recorded decision, if any: value, reason, adjudicator, time.
    """

    item_id: int
    ratings: list[RatingRow]
    majority: bool | None
    adjudication: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def first(self) -> RatingRow:
        """A rating of the item (for its prompt and responses)."""
        return self.ratings[0]


def adjudications(s: Session, study_id: int) -> dict[int, dict[str, Any]]:
    """The study's adjudications by item id."""
    rows = s.execute(
        select(Adjudication, User.pseudonym)
        .outerjoin(User, User.id == Adjudication.adjudicator_id)
        .where(Adjudication.study_id == study_id)
    ).all()
    return {
        a.item_id: {
            "value": a.value,
            "reason": a.reason,
            "adjudicator": pseudonym,
            "at": (a.updated_at or a.created_at).isoformat(timespec="seconds") + "Z",
        }
        for a, pseudonym in rows
    }


def queue(db: Database, study_ref: str | int, *, include_decided: bool = True) -> tuple[Study, list[QueueEntry]]:
    """Fully rated items whose raters disagree, ties first, then by item id.

    Args:
        db: Database.
        study_ref: Study name or id.
        include_decided: Also list items that already have an adjudication.
    """
    with db.read() as s:
        study = find_study(s, study_ref)
        rows = load_ratings(s, study)
        done = {
            i
            for (i,) in s.execute(
                select(Item.id).where(Item.study_id == study.id, Item.completed >= Item.target_ratings)
            ).all()
        }
        decided = adjudications(s, study.id)
    by_item: dict[int, list[RatingRow]] = {}
    for r in rows:
        by_item.setdefault(r.item_id, []).append(r)
    out = []
    for item_id, ratings in by_item.items():
        values = [r.value for r in ratings]
        if item_id not in done or len(values) < 2 or not raters_disagree(study.kind, values):
            continue
        if item_id in decided and not include_decided:
            continue
        majority = majority_violation(values, tie_rule="adjudicate", min_ratings=1) if study.kind == "safety" else None
        out.append(QueueEntry(item_id, ratings, majority, decided.get(item_id)))
    out.sort(key=lambda e: (e.adjudication is not None, e.majority is not None, e.item_id))
    return study, out


def adjudicate(db: Database, study_id: int, item_id: int, value: int, reason: str, *, actor_id: int) -> None:
    """Record (or revise) the final label of an item; audited with the old and new decision.

    Raises:
        ConfigError: Unknown item, a check item, a value off the scale, or no reason.
    """
    reason = reason.strip()
    if not reason:
        raise ConfigError("an adjudication needs a reason")
    if len(reason) > MAX_REASON:
        raise ConfigError(f"reasons are at most {MAX_REASON} characters")
    now = utcnow()
    with db.write() as s:
        study = s.get(Study, study_id)
        item = s.get(Item, item_id)
        if study is None or item is None or item.study_id != study_id:
            raise ConfigError(f"no item {item_id} in study {study_id}")
        if item.is_gold:
            raise ConfigError("check items have a known answer; they are not adjudicated")
        scale = scale_for(study.kind)
        if value not in scale.values:
            raise ConfigError(f"the label must be one of {', '.join(map(str, scale.values))}, got {value}")
        existing = s.scalar(select(Adjudication).where(Adjudication.item_id == item_id))
        if existing is None:
            s.add(
                Adjudication(
                    study_id=study_id,
                    item_id=item_id,
                    value=value,
                    reason=reason,
                    adjudicator_id=actor_id,
                    created_at=now,
                )
            )
            audit(
                s,
                actor_id,
                "adjudication.create",
                "item",
                item_id,
                study_id=study_id,
                details={"value": value, "reason": reason},
            )
        else:
            details = {
                "value": {"from": existing.value, "to": value},
                "reason": {"from": existing.reason, "to": reason},
                "adjudicator": {"from": existing.adjudicator_id, "to": actor_id},
            }
            existing.value, existing.reason, existing.adjudicator_id, existing.updated_at = value, reason, actor_id, now
            audit(s, actor_id, "adjudication.update", "item", item_id, study_id=study_id, details=details)


def label_of(kind: str, value: int) -> str:
    """A human-readable final label: ``violation``/``no violation`` or the 7-point wording."""
    if kind == "safety":
        return "violation" if is_violation(value) else "no violation"
    return scale_for(kind).label(value)
