"""Gold and attention checks, per-study rater pauses, and adaptive overlap.

A study's quality settings live in ``studies.settings["quality"]`` (:class:`QualitySettings`);
every change is audited.

**Gold and attention checks.** Check items are ordinary items (``items.is_gold``) whose known
answer sits in ``gold_items``, a table no rater page or API reads. They are rendered with the
same template and the same JSON shape as every other item, so nothing in a rater's HTML or API
response tells them apart. They are interleaved at ``gold_rate`` (the share of the items a rater
is shown that are checks): a rater's items are cut into blocks of ``round(1 / gold_rate)`` and
one check lands at a pseudo-random position in each block (drawn from the study seed, the rater
and the block number, so a rater cannot learn "every 10th item"). A rater never gets the same
check twice; when a rater has seen every check, regular items continue. Checks do not count
towards the balanced per-rater cap.

After each check a rater submits, their accuracy on the checks since they were last
(re)admitted is compared with ``gold_min_accuracy`` once there are at least
``gold_min_checks``; below it, the rater is paused *in this study* (``study_members.status``)
and gets no more items there until an admin resumes them (which starts a fresh window) or
removes them from the study. Both are audited.

**Adaptive overlap.** With ``adaptive_overlap`` on, an item whose first N raters do not agree
(safety: on the violation flag, rating 1-2 vs 3-5; pairwise: on the direction A better / tie /
B better) gets one more rater, up to ``adaptive_max_raters`` (default N + 1). The paper used
3 raters and a majority vote; with 4 raters a 2-2 tie can remain and goes to adjudication.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from safetylens.errors import ConfigError
from safetylens.human.db import Database, utcnow
from safetylens.human.models import (
    CHECK_KINDS,
    MEMBER_STATUSES,
    GoldItem,
    Item,
    Prompt,
    Rating,
    Response,
    Study,
    StudyMember,
)
from safetylens.human.scales import is_violation, scale_for
from safetylens.human.store import queries as q
from safetylens.human.store.audit_log import audit
from safetylens.human.store.caps import invalidate_caches
from safetylens.human.store.sql import as_json, one, rowcount, run, scalar
from safetylens.human.studies import get_or_create_batch

# Gold items are shown to every rater once; their slot count only has to exceed any pool size.
GOLD_TARGET = 1_000_000
GOLD_MODEL = "(check item)"
GOLD_BATCH = "checks"


class QualitySettings(BaseModel):
    """A study's quality-control options (stored in ``studies.settings["quality"]``).

    Attributes:
        gold_rate: Share of the items shown to a rater that are gold/attention checks (0 = off).
        gold_min_checks: Checks a rater must have answered before an automatic pause can happen.
        gold_min_accuracy: A rater whose share of correct checks is below this is paused. The
            paper states no such threshold; 0.8 mirrors its 80% agreement bar for quiz 2.
        adaptive_overlap: Add a rater to items whose first raters disagree.
        adaptive_max_raters: Most raters an item can get that way (None = raters per item + 1).
    """

    model_config = ConfigDict(extra="forbid")

    gold_rate: float = Field(0.0, ge=0.0, le=0.5)
    gold_min_checks: int = Field(5, ge=1, le=10_000)
    gold_min_accuracy: float = Field(0.8, ge=0.0, le=1.0)
    adaptive_overlap: bool = False
    adaptive_max_raters: int | None = Field(None, ge=2, le=50)

    @model_validator(mode="after")
    def _rate_block(self) -> QualitySettings:
        if self.gold_rate and round(1 / self.gold_rate) < 2:
            raise ValueError("gold_rate must be at most 0.5 (at least one regular item per check)")
        return self


def quality_settings(settings: dict[str, Any] | str | None) -> QualitySettings:
    """The quality settings inside a study's ``settings`` JSON (defaults when absent)."""
    raw = as_json(settings) if settings is not None else {}
    return QualitySettings(**((raw or {}).get("quality") or {}))


def update_quality_settings(
    db: Database, study_id: int, changes: dict[str, Any], *, actor_id: int | None = None
) -> QualitySettings:
    """Change some quality settings of a study (audited with the old and new values).

    Raises:
        ConfigError: Unknown study or invalid values.
    """
    with db.write() as s:
        study = s.get(Study, study_id)
        if study is None:
            raise ConfigError(f"no study with id {study_id}")
        old = quality_settings(study.settings)
        try:
            new = QualitySettings(**{**old.model_dump(), **changes})
        except ValidationError as exc:
            err = exc.errors()[0]
            raise ConfigError(f"invalid quality setting {'.'.join(map(str, err['loc']))}: {err['msg']}") from exc
        diff = {
            k: {"from": getattr(old, k), "to": getattr(new, k)}
            for k in QualitySettings.model_fields
            if getattr(old, k) != getattr(new, k)
        }
        if diff:
            # A new dict: SQLAlchemy does not track in-place changes of JSON columns.
            study.settings = {**(study.settings or {}), "quality": new.model_dump()}
            audit(s, actor_id, "study.settings.update", "study", study_id, study_id=study_id, details=diff)
    invalidate_caches(study_id)
    return new


# ------------------------------------------------------------------------------------- gold items


@dataclass(frozen=True)
class GoldSpec:
    """A gold or attention-check item to add.

    Attributes:
        external_id: Id in the source file (unique within the study's prompts).
        conversation: The prompt conversation (ends with a user turn).
        response: The response shown (Model A in pairwise studies).
        response_b: Pairwise studies: the response shown as Model B.
        accepted: Ratings counted as correct (on the study's scale, as shown).
        check_kind: ``gold`` or ``attention``.
        explanation: Why these answers are right (staff only).
    """

    external_id: str
    conversation: list[dict[str, str]]
    response: str
    accepted: tuple[int, ...]
    response_b: str | None = None
    check_kind: str = "gold"
    explanation: str = ""


def parse_gold_records(rows: Sequence[dict[str, Any]], where: str = "input") -> list[GoldSpec]:
    """Gold specs from JSON objects.

    Fields: ``id``, ``prompt`` or ``conversation``, ``response`` (and ``response_b`` for
    pairwise studies), ``accepted`` (list of ratings), optional ``kind`` and ``explanation``.

    Raises:
        ConfigError: A missing or malformed field, with its line.
    """
    out: list[GoldSpec] = []
    for n, row in enumerate(rows, 1):
        loc = f"{where}, record {n}"
        if not isinstance(row, dict):
            raise ConfigError(f"{loc}: expected an object")
        ext = str(row.get("id") or "").strip()
        if not ext:
            raise ConfigError(f"{loc}: missing id")
        conv = row.get("conversation")
        if conv is None:
            prompt = row.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise ConfigError(f"{loc}: needs a prompt or a conversation")
            conv = [{"role": "user", "content": prompt}]
        if (
            not isinstance(conv, list)
            or not conv
            or not all(isinstance(t, dict) and isinstance(t.get("content"), str) for t in conv)
            or conv[-1].get("role") != "user"
        ):
            raise ConfigError(f"{loc}: the conversation must be a list of turns ending with a user turn")
        response = row.get("response")
        if not isinstance(response, str):
            raise ConfigError(f"{loc}: missing response")
        accepted = row.get("accepted")
        if isinstance(accepted, int):
            accepted = [accepted]
        if not isinstance(accepted, list) or not accepted or not all(isinstance(v, int) for v in accepted):
            raise ConfigError(f"{loc}: accepted must be a rating or a list of ratings")
        kind = str(row.get("kind", "gold"))
        if kind not in CHECK_KINDS:
            raise ConfigError(f"{loc}: kind must be one of {', '.join(CHECK_KINDS)}")
        rb = row.get("response_b")
        out.append(
            GoldSpec(
                external_id=ext,
                conversation=[{"role": str(t.get("role", "user")), "content": t["content"]} for t in conv],
                response=response,
                response_b=rb if isinstance(rb, str) else None,
                accepted=tuple(sorted(set(accepted))),
                check_kind=kind,
                explanation=str(row.get("explanation", "")),
            )
        )
    return out


def load_gold_file(path: Path) -> list[GoldSpec]:
    """Gold specs from a JSON lines file (see :func:`parse_gold_records`).

    Raises:
        ConfigError: Unreadable file or a bad record.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n}: not JSON ({exc.msg})") from exc
    return parse_gold_records(rows, str(path))


def add_gold_items(db: Database, study_id: int, specs: Sequence[GoldSpec], *, actor_id: int | None = None) -> int:
    """Add check items to a study (all or nothing); returns how many were added.

    Raises:
        ConfigError: Unknown study, an accepted value off the study's scale, a missing
            ``response_b`` in a pairwise study, or an id already used by a prompt of the study.
    """
    now = utcnow()
    with db.write() as s:
        study = s.get(Study, study_id)
        if study is None:
            raise ConfigError(f"no study with id {study_id}")
        scale = scale_for(study.kind)
        batch = get_or_create_batch(s, study_id, GOLD_BATCH)
        for spec in specs:
            bad = [v for v in spec.accepted if v not in scale.values]
            if bad:
                raise ConfigError(f"check {spec.external_id!r}: {bad} not on the study's scale {scale.values}")
            if (study.kind == "pairwise") != (spec.response_b is not None):
                raise ConfigError(
                    f"check {spec.external_id!r}: pairwise studies need response and response_b, "
                    "safety studies only response"
                )
            if s.scalar(select(Prompt.id).where(Prompt.study_id == study_id, Prompt.external_id == spec.external_id)):
                raise ConfigError(f"check {spec.external_id!r}: the study already has a prompt with this id")
            prompt = Prompt(
                study_id=study_id,
                external_id=spec.external_id,
                conversation=spec.conversation,
                n_user_turns=sum(1 for t in spec.conversation if t["role"] == "user"),
                risk_category=None,
                attack_vectors=[],
                meta={},
                source="check",
                created_at=now,
            )
            s.add(prompt)
            s.flush()
            ra = Response(prompt_id=prompt.id, model=GOLD_MODEL, text=spec.response, source="check", created_at=now)
            s.add(ra)
            rb = None
            if spec.response_b is not None:
                rb = Response(
                    prompt_id=prompt.id, model=GOLD_MODEL + " B", text=spec.response_b, source="check", created_at=now
                )
                s.add(rb)
            s.flush()
            key = f"g:{prompt.id}"
            item = Item(
                study_id=study_id,
                batch_id=batch.id,
                kind="pairwise" if rb is not None else "rating",
                prompt_id=prompt.id,
                response_id=ra.id,
                response_b_id=rb.id if rb is not None else None,
                dedupe_key=key,
                target_ratings=GOLD_TARGET,
                claimed=0,
                completed=0,
                order_key=random.Random(f"{study.seed}:{key}").randrange(2_147_483_647),
                is_gold=True,
                created_at=now,
            )
            s.add(item)
            s.flush()
            s.add(
                GoldItem(
                    item_id=item.id,
                    study_id=study_id,
                    check_kind=spec.check_kind,
                    accepted=list(spec.accepted),
                    explanation=spec.explanation,
                )
            )
            audit(
                s,
                actor_id,
                "gold.create",
                "item",
                item.id,
                study_id=study_id,
                details={"external_id": spec.external_id, "kind": spec.check_kind, "accepted": list(spec.accepted)},
            )
    return len(specs)


# ------------------------------------------------------------------------- interleaving (hot path)


def check_due(seed: int, rater_id: int, taken_regular: int, taken_checks: int, rate: float) -> bool:
    """Whether the rater's next item should be a check (see the module docstring).

    Args:
        seed: The study's seed.
        rater_id: The rater.
        taken_regular: Regular items the rater holds or has rated.
        taken_checks: Checks the rater holds or has rated.
        rate: The study's ``gold_rate``.
    """
    if rate <= 0:
        return False
    block_size = max(2, round(1 / rate))
    position = taken_regular + taken_checks
    block = position // block_size
    digest = hashlib.sha256(f"{seed}:{rater_id}:{block}".encode()).digest()
    slot = int.from_bytes(digest[:8], "big") % block_size
    due = block + (1 if position % block_size >= slot else 0)
    return taken_checks < due


def pick_check(conn: Connection, is_postgres: bool, study_id: int, rater_id: int) -> int | None:
    """Claim a check item this rater has never been given (None when there is none left)."""
    item_id = scalar(conn, q.PICK_GOLD[is_postgres], {"sid": study_id, "rid": rater_id, "true": True})
    return int(item_id) if item_id is not None else None


def after_check_rating(
    conn: Connection, study_id: int, rater_id: int, settings: QualitySettings, now: datetime
) -> bool:
    """Pause the rater in this study if their check accuracy fell below the threshold.

    Returns:
        True when the rater was paused now.
    """
    cur = run(conn, q.GOLD_WINDOW, {"sid": study_id, "rid": rater_id})
    rows = cur.fetchall()
    cur.close()
    n = len(rows)
    correct = sum(1 for value, accepted in rows if value in (as_json(accepted) or []))
    if n < settings.gold_min_checks or correct / n >= settings.gold_min_accuracy:
        return False
    if rowcount(conn, q.PAUSE, {"now": now, "sid": study_id, "rid": rater_id}) != 1:
        return False
    audit(
        conn,
        None,
        "member.pause",
        "user",
        rater_id,
        study_id=study_id,
        details={
            "reason": "gold accuracy below threshold",
            "checks": n,
            "correct": correct,
            "min_accuracy": settings.gold_min_accuracy,
        },
        at=now,
    )
    return True


def raters_disagree(kind: str, values: Sequence[int]) -> bool:
    """Whether ratings disagree: on the violation flag (safety) or the preferred side (pairwise)."""
    if kind == "safety":
        return len({is_violation(v) for v in values}) > 1
    return len({(v > 4) - (v < 4) for v in values}) > 1


def after_regular_rating(
    conn: Connection,
    item_id: int,
    study_id: int,
    kind: str,
    raters_per_item: int,
    settings: QualitySettings,
    now: datetime,
) -> bool:
    """Adaptive overlap: give a fully rated item one more rater when its raters disagree.

    Returns:
        True when a rater slot was added.
    """
    if not settings.adaptive_overlap:
        return False
    limit = settings.adaptive_max_raters or raters_per_item + 1
    state = one(conn, q.OVERLAP_STATE, {"iid": item_id})
    if state is None:
        return False
    completed, target = int(state["completed"]), int(state["target_ratings"])
    if completed < target or target >= limit:
        return False
    cur = run(conn, q.ITEM_VALUES, {"iid": item_id})
    values = [int(r[0]) for r in cur.fetchall()]
    cur.close()
    if not raters_disagree(kind, values):
        return False
    if rowcount(conn, q.GROW, {"iid": item_id, "t": target}) != 1:
        return False
    audit(
        conn,
        None,
        "item.overlap.add",
        "item",
        item_id,
        study_id=study_id,
        details={"target_ratings": {"from": target, "to": target + 1}, "ratings": values},
        at=now,
    )
    return True


# ------------------------------------------------------------------------------ accuracy, pauses


@dataclass(frozen=True)
class CheckScore:
    """A rater's checks in a study: ``correct`` of ``n`` (split by kind)."""

    n: int
    correct: int
    n_attention: int
    correct_attention: int

    @property
    def accuracy(self) -> float:
        """Share of checks answered correctly (NaN without checks)."""
        return self.correct / self.n if self.n else math.nan


def check_scores(s: Session, study_id: int) -> dict[int, CheckScore]:
    """Every rater's check accuracy in a study (all time)."""
    rows = s.execute(
        select(Rating.rater_id, Rating.value, GoldItem.accepted, GoldItem.check_kind)
        .join(GoldItem, GoldItem.item_id == Rating.item_id)
        .where(Rating.study_id == study_id)
    ).all()
    acc: dict[int, list[int]] = {}
    for rater_id, value, accepted, kind in rows:
        a = acc.setdefault(rater_id, [0, 0, 0, 0])
        ok = value in (accepted or [])
        a[0] += 1
        a[1] += ok
        if kind == "attention":
            a[2] += 1
            a[3] += ok
    return {k: CheckScore(*v) for k, v in acc.items()}


def set_member_status(db: Database, study_id: int, user_id: int, status: str, *, actor_id: int | None) -> None:
    """Resume (``active``) or pause a rater in a study (audited; resuming starts a fresh check window).

    Raises:
        ConfigError: Unknown status or the rater is not in the study.
    """
    if status not in MEMBER_STATUSES:
        raise ConfigError(f"unknown member status {status!r}", hint=f"one of {', '.join(MEMBER_STATUSES)}")
    with db.write() as s:
        member = s.get(StudyMember, (study_id, user_id))
        if member is None:
            raise ConfigError("that rater is not in this study")
        if member.status != status:
            old = member.status
            member.status = status
            member.status_changed_at = utcnow()
            audit(
                s,
                actor_id,
                "member.resume" if status == "active" else "member.pause",
                "user",
                user_id,
                study_id=study_id,
                details={"from": old, "to": status},
            )
    invalidate_caches(study_id)
