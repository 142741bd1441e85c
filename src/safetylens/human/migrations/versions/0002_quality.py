"""Quality features: qualification quizzes, gold checks, per-study pauses, adjudication, rating edits.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Adds the tables behind safetylens.human.quizzes, .gold and .adjudication, a per-study member
status (a rater paused by failed gold checks) and ``ratings.edited_at`` (audited edits).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("study_members") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), server_default="active", nullable=False))
        batch.add_column(sa.Column("status_changed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("edited_at", sa.DateTime(), nullable=True))

    op.create_table(
        "quizzes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("pass_rules", sa.JSON(), nullable=False),
        sa.Column("cooldown_s", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=True),
        sa.Column("time_limit_s", sa.Integer(), nullable=True),
        sa.Column("is_example", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.CheckConstraint("kind IN ('grammar', 'sensitive', 'quality', 'writing')", name="ck_quizzes_kind"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "quiz_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=32), nullable=False),
        sa.Column("qtype", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("answer_key", sa.JSON(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("rubric", sa.Text(), nullable=False),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["quiz_id"], ["quizzes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("quiz_id", "position", name="uq_quiz_questions_position"),
    )
    op.create_table(
        "quiz_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("score", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["quiz_id"], ["quizzes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("quiz_id", "user_id", "number", name="uq_quiz_attempts_number"),
    )
    op.create_index("ix_quiz_attempts_user_quiz", "quiz_attempts", ["user_id", "quiz_id"], unique=False)
    op.create_table(
        "quiz_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("attempt_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=True),
        sa.Column("grade", sa.Integer(), nullable=True),
        sa.Column("grader_id", sa.Integer(), nullable=True),
        sa.Column("graded_at", sa.DateTime(), nullable=True),
        sa.Column("grader_note", sa.Text(), nullable=False),
        sa.CheckConstraint("grade IS NULL OR (grade >= 1 AND grade <= 5)", name="ck_quiz_answers_grade"),
        sa.ForeignKeyConstraint(["attempt_id"], ["quiz_attempts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["question_id"], ["quiz_questions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grader_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("attempt_id", "question_id", name="uq_quiz_answers_attempt_question"),
    )
    op.create_table(
        "study_quizzes",
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("quiz_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["quiz_id"], ["quizzes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("study_id", "quiz_id"),
    )
    op.create_table(
        "gold_items",
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("check_kind", sa.String(length=16), nullable=False),
        sa.Column("accepted", sa.JSON(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.CheckConstraint("check_kind IN ('gold', 'attention')", name="ck_gold_items_kind"),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("item_id"),
    )
    op.create_index("ix_gold_items_study_id", "gold_items", ["study_id"], unique=False)
    op.create_table(
        "adjudications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("adjudicator_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["adjudicator_id"], ["users.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["items.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("item_id"),
    )
    op.create_index("ix_adjudications_study_id", "adjudications", ["study_id"], unique=False)
    _create_edit_guard()


# A submitted rating's value or comment may change only together with a new edited_at for which
# the transaction has already written the matching "rating.edit" audit entry (as
# safetylens.human.audit.edit_rating does): the database refuses any other UPDATE, whatever code
# or tool issues it.
_SQLITE_GUARD = """
CREATE TRIGGER tr_ratings_edit_audited BEFORE UPDATE OF value, comment ON ratings
FOR EACH ROW
WHEN (NEW.value IS NOT OLD.value OR NEW.comment IS NOT OLD.comment) AND (
    NEW.edited_at IS NULL OR NEW.edited_at IS OLD.edited_at OR NOT EXISTS (
        SELECT 1 FROM audit_log a
        WHERE a.action = 'rating.edit' AND a.entity = 'rating' AND a.entity_id = CAST(NEW.id AS TEXT)
          AND a.at = NEW.edited_at))
BEGIN
    SELECT RAISE(ABORT, 'a submitted rating changes only through an audited edit');
END
"""
_PG_GUARD_FN = """
CREATE FUNCTION ratings_edit_audited() RETURNS trigger AS $$
BEGIN
    IF (NEW.value IS DISTINCT FROM OLD.value OR NEW.comment IS DISTINCT FROM OLD.comment) AND (
        NEW.edited_at IS NULL OR NEW.edited_at IS NOT DISTINCT FROM OLD.edited_at OR NOT EXISTS (
            SELECT 1 FROM audit_log a
            WHERE a.action = 'rating.edit' AND a.entity = 'rating' AND a.entity_id = CAST(NEW.id AS TEXT)
              AND a.at = NEW.edited_at)) THEN
        RAISE EXCEPTION 'a submitted rating changes only through an audited edit';
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
_PG_GUARD = """
CREATE TRIGGER tr_ratings_edit_audited BEFORE UPDATE ON ratings
FOR EACH ROW EXECUTE FUNCTION ratings_edit_audited()
"""


def _create_edit_guard() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(_SQLITE_GUARD)
    elif dialect == "postgresql":
        op.execute(_PG_GUARD_FN)
        op.execute(_PG_GUARD)


def _drop_edit_guard() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS tr_ratings_edit_audited")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tr_ratings_edit_audited ON ratings")
        op.execute("DROP FUNCTION IF EXISTS ratings_edit_audited()")


def downgrade() -> None:
    """Revert this migration."""
    _drop_edit_guard()
    op.drop_index("ix_adjudications_study_id", table_name="adjudications")
    op.drop_table("adjudications")
    op.drop_index("ix_gold_items_study_id", table_name="gold_items")
    op.drop_table("gold_items")
    op.drop_table("study_quizzes")
    op.drop_table("quiz_answers")
    op.drop_index("ix_quiz_attempts_user_quiz", table_name="quiz_attempts")
    op.drop_table("quiz_attempts")
    op.drop_table("quiz_questions")
    op.drop_table("quizzes")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("edited_at")
    with op.batch_alter_table("study_members") as batch:
        batch.drop_column("status_changed_at")
        batch.drop_column("status")
