"""Per-member counters of live items and live checks, kept by the database.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27

Every "next item" request needs how many items and checks the rater holds or has rated in the
study (the balanced cap, the gold-check schedule). Counting them cost a range scan over the
rater's whole history in the study, on every request: 1.6 ms of PostgreSQL execution for a rater
with 3,121 assignments against 0.02 ms for a new one. ``study_members.taken`` and
``taken_checks`` now hold those counts, and triggers on ``assignments`` keep them exact whatever
code or tool writes an assignment (insert, status change, delete); a member row added later (a
rater removed and re-admitted) starts from the rater's existing assignments. The index that
served the counts (``ix_assignments_rater_study_status_gold``) is dropped.

Live means ``status IN ('reserved', 'submitted')``; ``taken`` counts regular items and
``taken_checks`` gold and attention checks (``assignments.is_gold``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The counts of one member, over the assignments table, for the backfill and new member rows.
_COUNT = """(SELECT COUNT(*) FROM assignments a
    WHERE a.study_id = {m}.study_id AND a.rater_id = {m}.user_id AND a.status IN ('reserved', 'submitted')
      AND a.is_gold = {gold})"""


def _counts(m: str, true: str, false: str) -> str:
    return f"taken = {_COUNT.format(m=m, gold=false)}, taken_checks = {_COUNT.format(m=m, gold=true)}"


# SQLite: one trigger per kind of change. An update that keeps liveness, flag and owner (reserved
# -> submitted, a new deadline) does not fire (WHEN), so the rating path pays nothing for it.
_SQLITE_TRIGGERS = (
    """
    CREATE TRIGGER tr_assignments_count_insert AFTER INSERT ON assignments
    FOR EACH ROW WHEN NEW.status IN ('reserved', 'submitted')
    BEGIN
        UPDATE study_members SET taken = taken + (NOT NEW.is_gold), taken_checks = taken_checks + NEW.is_gold
        WHERE study_id = NEW.study_id AND user_id = NEW.rater_id;
    END
    """,
    """
    CREATE TRIGGER tr_assignments_count_delete AFTER DELETE ON assignments
    FOR EACH ROW WHEN OLD.status IN ('reserved', 'submitted')
    BEGIN
        UPDATE study_members SET taken = taken - (NOT OLD.is_gold), taken_checks = taken_checks - OLD.is_gold
        WHERE study_id = OLD.study_id AND user_id = OLD.rater_id;
    END
    """,
    """
    CREATE TRIGGER tr_assignments_count_update AFTER UPDATE OF status, is_gold, study_id, rater_id ON assignments
    FOR EACH ROW WHEN (OLD.status IN ('reserved', 'submitted')) <> (NEW.status IN ('reserved', 'submitted'))
        OR OLD.is_gold <> NEW.is_gold OR OLD.study_id <> NEW.study_id OR OLD.rater_id <> NEW.rater_id
    BEGIN
        UPDATE study_members
        SET taken = taken - (NOT OLD.is_gold), taken_checks = taken_checks - OLD.is_gold
        WHERE study_id = OLD.study_id AND user_id = OLD.rater_id AND OLD.status IN ('reserved', 'submitted');
        UPDATE study_members
        SET taken = taken + (NOT NEW.is_gold), taken_checks = taken_checks + NEW.is_gold
        WHERE study_id = NEW.study_id AND user_id = NEW.rater_id AND NEW.status IN ('reserved', 'submitted');
    END
    """,
    f"""
    CREATE TRIGGER tr_study_members_count_insert AFTER INSERT ON study_members
    FOR EACH ROW
    BEGIN
        UPDATE study_members SET {_counts("NEW", "1", "0")}
        WHERE study_id = NEW.study_id AND user_id = NEW.user_id;
    END
    """,
)
_SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS tr_assignments_count_insert",
    "DROP TRIGGER IF EXISTS tr_assignments_count_delete",
    "DROP TRIGGER IF EXISTS tr_assignments_count_update",
    "DROP TRIGGER IF EXISTS tr_study_members_count_insert",
)

_PG_FUNCTIONS = (
    """
    CREATE FUNCTION assignments_count_members() RETURNS trigger AS $$
    DECLARE
        was_live boolean := TG_OP <> 'INSERT' AND OLD.status IN ('reserved', 'submitted');
        is_live boolean := TG_OP <> 'DELETE' AND NEW.status IN ('reserved', 'submitted');
    BEGIN
        IF was_live AND is_live AND OLD.study_id = NEW.study_id AND OLD.rater_id = NEW.rater_id THEN
            -- Only the flag changed: one row version instead of two.
            UPDATE study_members
            SET taken = taken + OLD.is_gold::int - NEW.is_gold::int,
                taken_checks = taken_checks + NEW.is_gold::int - OLD.is_gold::int
            WHERE study_id = NEW.study_id AND user_id = NEW.rater_id;
            RETURN NULL;
        END IF;
        IF was_live THEN
            UPDATE study_members
            SET taken = taken - (NOT OLD.is_gold)::int, taken_checks = taken_checks - OLD.is_gold::int
            WHERE study_id = OLD.study_id AND user_id = OLD.rater_id;
        END IF;
        IF is_live THEN
            UPDATE study_members
            SET taken = taken + (NOT NEW.is_gold)::int, taken_checks = taken_checks + NEW.is_gold::int
            WHERE study_id = NEW.study_id AND user_id = NEW.rater_id;
        END IF;
        RETURN NULL;
    END
    $$ LANGUAGE plpgsql
    """,
    f"""
    CREATE FUNCTION study_members_count_init() RETURNS trigger AS $$
    BEGIN
        SELECT {_COUNT.format(m="NEW", gold="false")}, {_COUNT.format(m="NEW", gold="true")}
        INTO NEW.taken, NEW.taken_checks;
        RETURN NEW;
    END
    $$ LANGUAGE plpgsql
    """,
)
_PG_TRIGGERS = (
    """
    CREATE TRIGGER tr_assignments_count_insert_delete AFTER INSERT OR DELETE ON assignments
    FOR EACH ROW EXECUTE FUNCTION assignments_count_members()
    """,
    """
    CREATE TRIGGER tr_assignments_count_update AFTER UPDATE OF status, is_gold, study_id, rater_id ON assignments
    FOR EACH ROW WHEN (
        (OLD.status IN ('reserved', 'submitted')) IS DISTINCT FROM (NEW.status IN ('reserved', 'submitted'))
        OR OLD.is_gold IS DISTINCT FROM NEW.is_gold OR OLD.study_id <> NEW.study_id OR OLD.rater_id <> NEW.rater_id)
    EXECUTE FUNCTION assignments_count_members()
    """,
    """
    CREATE TRIGGER tr_study_members_count_init BEFORE INSERT ON study_members
    FOR EACH ROW EXECUTE FUNCTION study_members_count_init()
    """,
)
_PG_DROP = (
    "DROP TRIGGER IF EXISTS tr_assignments_count_insert_delete ON assignments",
    "DROP TRIGGER IF EXISTS tr_assignments_count_update ON assignments",
    "DROP TRIGGER IF EXISTS tr_study_members_count_init ON study_members",
    "DROP FUNCTION IF EXISTS assignments_count_members()",
    "DROP FUNCTION IF EXISTS study_members_count_init()",
)


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("study_members") as batch:
        batch.add_column(sa.Column("taken", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("taken_checks", sa.Integer(), server_default="0", nullable=False))
    dialect = op.get_bind().dialect.name
    true, false = ("true", "false") if dialect == "postgresql" else ("1", "0")
    op.execute(f"UPDATE study_members SET {_counts('study_members', true, false)}")
    # The index existed for those counts. Without it every assignment write updates one index
    # fewer, and the "not yet given to this rater" probe uses (item_id, rater_id) instead of
    # scanning the rater's history; the live reservation is found through uq_assignments_one_reserved.
    op.drop_index("ix_assignments_rater_study_status_gold", table_name="assignments")
    for statement in _PG_FUNCTIONS + _PG_TRIGGERS if dialect == "postgresql" else _SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Revert this migration."""
    dialect = op.get_bind().dialect.name
    for statement in _PG_DROP if dialect == "postgresql" else _SQLITE_DROP:
        op.execute(statement)
    op.create_index(
        "ix_assignments_rater_study_status_gold", "assignments", ["rater_id", "study_id", "status", "is_gold"]
    )
    with op.batch_alter_table("study_members") as batch:
        batch.drop_column("taken_checks")
        batch.drop_column("taken")
