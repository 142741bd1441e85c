"""Database schema of the human-evaluation platform (SQLAlchemy 2 declarative models).

The schema is created and upgraded only by the Alembic migrations in ``human/migrations``
(``safetylens human init``); these classes mirror it for queries. All timestamps are naive UTC.

Integrity rules live in the database, not only in Python, so that several app workers on
PostgreSQL stay correct:

- ``assignments`` and ``ratings`` are unique per (item, rater): nobody rates an item twice;
- ``items.claimed`` counts live reservations plus submitted ratings and is only changed by
  conditional updates (``... WHERE claimed < target_ratings``), so no item exceeds N raters;
- ``ratings`` are unique per assignment, so a submission is recorded exactly once.

Some columns exist for the quality features that build on this platform (gold items, paused
raters, an audit trail): ``items.kind``/``is_gold``, ``users.status`` and ``audit_log``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("admin", "researcher", "rater")
USER_STATUSES = ("active", "paused", "removed")
STUDY_STATUSES = ("active", "paused", "closed")
ITEM_KINDS = ("rating", "pairwise")
ASSIGNMENT_STATUSES = ("reserved", "submitted", "expired", "skipped")


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    """A person who logs in: admin, researcher or rater.

    ``pseudonym`` is what exports and results show instead of the user name.
    """

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('admin', 'researcher', 'rater')", name="ck_users_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class AuthSession(Base):
    """A login session; the cookie holds a random token, the table only its sha256."""

    __tablename__ = "sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())


class LoginAttempt(Base):
    """One login attempt, for rate limiting by user name and by client address."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_username_at", "username", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime())
    success: Mapped[bool] = mapped_column(Boolean())


class Study(Base):
    """A rating study: safety (5-point) or pairwise helpfulness (7-point).

    Attributes:
        raters_per_item: N, the number of distinct raters every item goes to.
        reservation_timeout_s: An item shown to a rater returns to the pool after this long.
        balance: Cap each rater at ceil(items x N / active raters) so work spreads evenly.
        max_items_per_rater: An explicit cap (overrides the balanced one when smaller).
        seed: Seed of every randomisation in the study (A/B sides, item order).
        settings: Further options (for pairwise studies, the model pairs to compare).
    """

    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(Text(), default="")
    raters_per_item: Mapped[int] = mapped_column(Integer(), default=3)
    reservation_timeout_s: Mapped[int] = mapped_column(Integer(), default=1800)
    balance: Mapped[bool] = mapped_column(Boolean(), default=True)
    max_items_per_rater: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    seed: Mapped[int] = mapped_column(Integer(), default=0)
    status: Mapped[str] = mapped_column(String(16), default="active")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class StudyMember(Base):
    """A rater admitted to a study (raters see only studies they are members of)."""

    __tablename__ = "study_members"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime())
    # Quality (migration 0002): a rater below the study's gold-check threshold is paused in this
    # study only; ``status_changed_at`` starts the window of checks the next pause decision uses.
    status: Mapped[str] = mapped_column(String(16), default="active", server_default="active")
    status_changed_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    # Migration 0005: the member's live (reserved or submitted) regular items and checks, kept
    # exact by triggers on ``assignments`` so that a next-item request reads two numbers instead of
    # counting the rater's history. Read-only for the application.
    taken: Mapped[int] = mapped_column(Integer(), server_default="0")
    taken_checks: Mapped[int] = mapped_column(Integer(), server_default="0")


class Guidelines(Base):
    """One version of a study's rating guidelines (Markdown; rendered without raw HTML)."""

    __tablename__ = "guidelines"
    __table_args__ = (UniqueConstraint("study_id", "version", name="uq_guidelines_study_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer())
    text: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class GuidelinesAck(Base):
    """A rater confirmed reading a guidelines version (required before rating)."""

    __tablename__ = "guideline_acks"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer(), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime())


class Batch(Base):
    """An annotation batch; IRR is reported per batch, as in the paper."""

    __tablename__ = "batches"
    __table_args__ = (UniqueConstraint("study_id", "name", name="uq_batches_study_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Prompt(Base):
    """A prompt: a single- or multi-turn conversation ending in a user turn.

    Attributes:
        external_id: The id in the imported file (unique within the study).
        conversation: ``[{"role": ..., "content": ...}, ...]``.
        n_user_turns: Number of user turns (1 = single-turn).
        attack_vectors: Zero or more attack vectors.
    """

    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("study_id", "external_id", name="uq_prompts_study_external"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    conversation: Mapped[list[Any]] = mapped_column(JSON())
    n_user_turns: Mapped[int] = mapped_column(Integer())
    risk_category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attack_vectors: Mapped[list[Any]] = mapped_column(JSON(), default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    source: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Response(Base):
    """A model's response to a prompt. ``model`` is never shown to raters."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("prompt_id", "model", name="uq_responses_prompt_model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text())
    source: Mapped[str] = mapped_column(String(500), default="")
    meta: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Item(Base):
    """A unit of rating work: one response (safety) or two responses side by side (pairwise).

    For pairwise items ``response_id`` is the response shown as Model A and ``response_b_id`` the
    one shown as Model B; which model landed on which side was drawn at random and is stored here.

    Attributes:
        kind: ``rating`` or ``pairwise`` (room for ``gold``/``attention`` items later).
        dedupe_key: Makes re-imports idempotent (one item per response or response pair).
        target_ratings: N for this item (may grow later for adaptive overlap).
        claimed: Live reservations plus submitted ratings; never exceeds ``target_ratings``.
        completed: Submitted ratings.
        order_key: Random key; each rater sees items in a rater-specific permutation of it.
        is_gold: Reserved for gold/attention checks; never revealed to raters.
    """

    __tablename__ = "items"
    __table_args__ = (
        UniqueConstraint("study_id", "dedupe_key", name="uq_items_study_dedupe"),
        Index("ix_items_study_claimed_order", "study_id", "claimed", "order_key"),
        # The last line of defence of "never more than N raters per item".
        CheckConstraint("claimed >= 0 AND claimed <= target_ratings", name="ck_items_claimed_within_target"),
        CheckConstraint("completed >= 0 AND completed <= claimed", name="ck_items_completed_within_claimed"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id"), index=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id"))
    response_b_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id"), nullable=True)
    dedupe_key: Mapped[str] = mapped_column(String(100))
    target_ratings: Mapped[int] = mapped_column(Integer())
    claimed: Mapped[int] = mapped_column(Integer(), default=0)
    completed: Mapped[int] = mapped_column(Integer(), default=0)
    order_key: Mapped[int] = mapped_column(Integer())
    is_gold: Mapped[bool] = mapped_column(Boolean(), default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime())


class Assignment(Base):
    """An item given to a rater: ``reserved`` while shown, ``submitted`` once rated.

    A reservation that outlives the study's timeout becomes ``expired`` and its slot returns to the
    pool; the row stays (so a late submission can still be matched to its item) and is reused if
    the same rater is given the item again.
    """

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "rater_id", name="uq_assignments_item_rater"),
        Index("ix_assignments_study_status_expires", "study_id", "status", "expires_at"),
        # At most one live reservation per rater and study.
        Index(
            "uq_assignments_one_reserved",
            "rater_id",
            "study_id",
            unique=True,
            sqlite_where=text("status = 'reserved'"),
            postgresql_where=text("status = 'reserved'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    status: Mapped[str] = mapped_column(String(16))
    reserved_at: Mapped[datetime] = mapped_column(DateTime())
    expires_at: Mapped[datetime] = mapped_column(DateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    # A copy of the item's flag (never changes after import), so counts need no join.
    is_gold: Mapped[bool] = mapped_column(Boolean(), default=False, server_default=false())


class Rating(Base):
    """A submitted rating (immutable; corrections belong in a later, audited edit).

    Attributes:
        value: The answer as shown to the rater (1-5 safety; 1-7 pairwise, 1 = "A is much better").
        time_spent_ms: Active time on the page, measured by the browser (None without JavaScript).
        server_elapsed_ms: Time from reservation to submission, measured by the server.
        guidelines_version: The guidelines version the rater had confirmed.
    """

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("item_id", "rater_id", name="uq_ratings_item_rater"),
        Index("ix_ratings_study", "study_id"),
        CheckConstraint("value >= 1 AND value <= 7", name="ck_ratings_value_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"))
    rater_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    value: Mapped[int] = mapped_column(Integer())
    scale: Mapped[str] = mapped_column(String(32))
    comment: Mapped[str] = mapped_column(Text(), default="")
    time_spent_ms: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    server_elapsed_ms: Mapped[int] = mapped_column(Integer())
    guidelines_version: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    # Quality (migration 0002): set by the audited edit (safetylens.human.audit.edit_rating) only.
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


class AuditLog(Base):
    """Append-only record of who did what and when."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_study_at", "study_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime())
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64), default="")
    study_id: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)


# ------------------------------------------------------------------------------------------------
# Quality features (migration 0002): qualification quizzes, gold/attention checks,
# adjudication. Kept in one block so that other additions to this module merge cleanly.
# ------------------------------------------------------------------------------------------------

QUIZ_KINDS = ("grammar", "sensitive", "quality", "writing")
QUESTION_TYPES = ("choice", "ranking", "text")
ATTEMPT_STATUSES = ("in_progress", "pending_review", "passed", "failed")
MEMBER_STATUSES = ("active", "paused")
CHECK_KINDS = ("gold", "attention")


class Quiz(Base):
    """A qualification quiz of one of the paper's four kinds (App. A.5.4).

    Attributes:
        kind: ``grammar``, ``sensitive``, ``quality`` or ``writing``.
        pass_rules: Conditions that must all hold (see :mod:`safetylens.human.quizzes`).
        cooldown_s: Wait after a failed attempt before the next one.
        max_attempts: Attempts allowed per rater (None = unlimited).
        time_limit_s: An attempt submitted later than this fails (None = untimed).
        is_example: Shipped example content, not a real qualification test.
    """

    __tablename__ = "quizzes"
    __table_args__ = (
        CheckConstraint("kind IN ('grammar', 'sensitive', 'quality', 'writing')", name="ck_quizzes_kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text(), default="")
    pass_rules: Mapped[list[Any]] = mapped_column(JSON())
    cooldown_s: Mapped[int] = mapped_column(Integer())
    max_attempts: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    time_limit_s: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    is_example: Mapped[bool] = mapped_column(Boolean(), default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class QuizQuestion(Base):
    """One question. ``answer_key``, ``reference`` and ``rubric`` are never shown to raters.

    Attributes:
        section: Part of the quiz the pass rules may refer to (e.g. ``I``).
        qtype: ``choice`` (auto-graded), ``ranking`` (auto-graded against the reference order) or
            ``text`` (graded 1-5 by a reviewer).
        options: Choices, or the answers to rank.
        answer_key: ``[index]`` of the right choice, or the option indices in the reference order.
        required: Text questions only: False lets a candidate choose which ones to answer.
    """

    __tablename__ = "quiz_questions"
    __table_args__ = (UniqueConstraint("quiz_id", "position", name="uq_quiz_questions_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer())
    section: Mapped[str] = mapped_column(String(32), default="")
    qtype: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text())
    options: Mapped[list[Any]] = mapped_column(JSON(), default=list)
    answer_key: Mapped[list[Any]] = mapped_column(JSON(), default=list)
    reference: Mapped[str] = mapped_column(Text(), default="")
    rubric: Mapped[str] = mapped_column(Text(), default="")
    required: Mapped[bool] = mapped_column(Boolean(), default=True)


class QuizAttempt(Base):
    """A rater's attempt: ``in_progress`` -> ``pending_review`` (text answers) -> passed/failed."""

    __tablename__ = "quiz_attempts"
    __table_args__ = (
        UniqueConstraint("quiz_id", "user_id", "number", name="uq_quiz_attempts_number"),
        Index("ix_quiz_attempts_user_quiz", "user_id", "quiz_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer())
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(DateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    score: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)


class QuizAnswer(Base):
    """One answer of an attempt, with its automatic verdict or the reviewer's 1-5 grade."""

    __tablename__ = "quiz_answers"
    __table_args__ = (
        UniqueConstraint("attempt_id", "question_id", name="uq_quiz_answers_attempt_question"),
        CheckConstraint("grade IS NULL OR (grade >= 1 AND grade <= 5)", name="ck_quiz_answers_grade"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("quiz_attempts.id", ondelete="CASCADE"))
    question_id: Mapped[int] = mapped_column(ForeignKey("quiz_questions.id", ondelete="CASCADE"))
    answer: Mapped[dict[str, Any]] = mapped_column(JSON())
    correct: Mapped[bool | None] = mapped_column(Boolean(), nullable=True)
    grade: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    grader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    graded_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    grader_note: Mapped[str] = mapped_column(Text(), default="")


class StudyQuiz(Base):
    """A quiz a rater must pass before receiving the study's items."""

    __tablename__ = "study_quizzes"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"), primary_key=True)
    added_at: Mapped[datetime] = mapped_column(DateTime())


class GoldItem(Base):
    """The known answer of a gold or attention-check item (``items.is_gold``); staff only.

    Attributes:
        check_kind: ``gold`` (an item with an agreed answer) or ``attention`` (the item itself
            tells an attentive reader what to answer).
        accepted: The ratings counted as correct.
    """

    __tablename__ = "gold_items"
    __table_args__ = (CheckConstraint("check_kind IN ('gold', 'attention')", name="ck_gold_items_kind"),)

    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    check_kind: Mapped[str] = mapped_column(String(16))
    accepted: Mapped[list[Any]] = mapped_column(JSON())
    explanation: Mapped[str] = mapped_column(Text(), default="")


class Adjudication(Base):
    """An adjudicator's final label for an item its raters disagreed on (one per item)."""

    __tablename__ = "adjudications"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id", ondelete="CASCADE"), unique=True)
    value: Mapped[int] = mapped_column(Integer())
    reason: Mapped[str] = mapped_column(Text())
    adjudicator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)


# ------------------------------------------------------------------------------------------------
# Red teaming (migration 0003): campaigns, their red teamers, dialogues with per-turn
# server timestamps, and replays of a campaign's violating prompts as rating studies.
# ------------------------------------------------------------------------------------------------

REDTEAM_STATUSES = ("active", "closed")
DIALOGUE_SOURCES = ("live", "external")
DIALOGUE_STATUSES = ("open", "submitted")


class RedTeamCampaign(Base):
    """A red-teaming exercise against one target model (Llama 2 §4.3).

    Attributes:
        target: The model spec live chats go to (``safetylens.spec.ModelSpec`` fields).
        target_label: The name dialogues record as their model.
        system_prompt: Sent before the red teamer's first turn (empty = none).
        decoding: Decoding parameters of live chats.
        risk_categories: Risk-category taxonomy offered to red teamers.
        attack_vectors: Attack-vector taxonomy offered to red teamers.
        settings: Further options (``idle_cap_s``: longest gap between two actions counted as active).
    """

    __tablename__ = "redteam_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text(), default="")
    target: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    target_label: Mapped[str] = mapped_column(String(255))
    system_prompt: Mapped[str] = mapped_column(Text(), default="")
    decoding: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    risk_categories: Mapped[list[Any]] = mapped_column(JSON(), default=list)
    attack_vectors: Mapped[list[Any]] = mapped_column(JSON(), default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)


class RedTeamMember(Base):
    """A user admitted to a campaign as a red teamer (sees only their own dialogues)."""

    __tablename__ = "redteam_members"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("redteam_campaigns.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    expertise: Mapped[str] = mapped_column(String(255), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime())


class RedTeamDialogue(Base):
    """One red-team dialogue: chatted live on the platform or recorded from elsewhere.

    Attributes:
        source: ``live`` or ``external``.
        external_id: Id in the imported file (unique per campaign; None for live dialogues).
        model: The model that answered.
        status: ``open`` while chatting, ``submitted`` once tagged.
        violation: The red teamer's judgement that a response violated the policy.
        violating_turn: 1-based number of the violating assistant turn (None without violation).
        degree_of_risk: 1 (negligible) ... 5 (severe), the paper's 5-point Likert scale.
        active_ms: Active time from server timestamps (gaps capped at the campaign's idle cap);
            for external dialogues the time the import states (None = unknown).
    """

    __tablename__ = "redteam_dialogues"
    __table_args__ = (
        UniqueConstraint("campaign_id", "external_id", name="uq_redteam_dialogues_campaign_external"),
        Index("ix_redteam_dialogues_campaign_user", "campaign_id", "redteamer_id"),
        CheckConstraint(
            "degree_of_risk IS NULL OR (degree_of_risk >= 1 AND degree_of_risk <= 5)",
            name="ck_redteam_dialogues_degree",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("redteam_campaigns.id", ondelete="CASCADE"))
    redteamer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    source: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    model: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="open")
    risk_category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    attack_vectors: Mapped[list[Any]] = mapped_column(JSON(), default=list)
    degree_of_risk: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    violation: Mapped[bool | None] = mapped_column(Boolean(), nullable=True)
    violating_turn: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    language: Mapped[str] = mapped_column(String(32), default="")
    objective: Mapped[str] = mapped_column(Text(), default="")
    notes: Mapped[str] = mapped_column(Text(), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime())
    last_activity_at: Mapped[datetime] = mapped_column(DateTime())
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(), nullable=True)
    active_ms: Mapped[int | None] = mapped_column(Integer(), nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)


class RedTeamTurn(Base):
    """One message of a dialogue with the server time it was recorded."""

    __tablename__ = "redteam_turns"
    __table_args__ = (UniqueConstraint("dialogue_id", "idx", name="uq_redteam_turns_dialogue_idx"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dialogue_id: Mapped[int] = mapped_column(ForeignKey("redteam_dialogues.id", ondelete="CASCADE"), index=True)
    idx: Mapped[int] = mapped_column(Integer())
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(DateTime())
    meta: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)


class RedTeamReplay(Base):
    """A campaign's violating prompts sent to a new model, as a safety rating study."""

    __tablename__ = "redteam_replays"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("redteam_campaigns.id", ondelete="CASCADE"), index=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(255))
    n_prompts: Mapped[int] = mapped_column(Integer())
    settings: Mapped[dict[str, Any]] = mapped_column(JSON(), default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime())
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
