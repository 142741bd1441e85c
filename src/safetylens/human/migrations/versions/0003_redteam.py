"""Red-team campaigns, dialogues, turns and replays.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

See safetylens.human.models (the red-teaming block) for what each table holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "redteam_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("target_label", sa.String(length=255), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("decoding", sa.JSON(), nullable=False),
        sa.Column("risk_categories", sa.JSON(), nullable=False),
        sa.Column("attack_vectors", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "redteam_members",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expertise", sa.String(length=255), nullable=False),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["redteam_campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("campaign_id", "user_id"),
    )
    op.create_table(
        "redteam_dialogues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("redteamer_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("risk_category", sa.String(length=100), nullable=True),
        sa.Column("attack_vectors", sa.JSON(), nullable=False),
        sa.Column("degree_of_risk", sa.Integer(), nullable=True),
        sa.Column("violation", sa.Boolean(), nullable=True),
        sa.Column("violating_turn", sa.Integer(), nullable=True),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("objective", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("active_ms", sa.Integer(), nullable=True),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "degree_of_risk IS NULL OR (degree_of_risk >= 1 AND degree_of_risk <= 5)",
            name="ck_redteam_dialogues_degree",
        ),
        sa.ForeignKeyConstraint(["campaign_id"], ["redteam_campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["redteamer_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "external_id", name="uq_redteam_dialogues_campaign_external"),
    )
    op.create_index(
        "ix_redteam_dialogues_campaign_user", "redteam_dialogues", ["campaign_id", "redteamer_id"], unique=False
    )
    op.create_table(
        "redteam_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dialogue_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["dialogue_id"], ["redteam_dialogues.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dialogue_id", "idx", name="uq_redteam_turns_dialogue_idx"),
    )
    op.create_index("ix_redteam_turns_dialogue_id", "redteam_turns", ["dialogue_id"], unique=False)
    op.create_table(
        "redteam_replays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=255), nullable=False),
        sa.Column("n_prompts", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["campaign_id"], ["redteam_campaigns.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"]),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_redteam_replays_campaign_id", "redteam_replays", ["campaign_id"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_redteam_replays_campaign_id", table_name="redteam_replays")
    op.drop_table("redteam_replays")
    op.drop_index("ix_redteam_turns_dialogue_id", table_name="redteam_turns")
    op.drop_table("redteam_turns")
    op.drop_index("ix_redteam_dialogues_campaign_user", table_name="redteam_dialogues")
    op.drop_table("redteam_dialogues")
    op.drop_table("redteam_members")
    op.drop_table("redteam_campaigns")
