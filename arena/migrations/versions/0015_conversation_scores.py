"""Conversation scores: `conversation_score` (the EQ judge's rubric for one side of a conversation, per answer and
for the whole conversation) and `conversation_judge_error` (the last failure per conversation side and judge).

Reply-level EqScore rows are per reply and cannot hold a score per exchange, hence a table of its own. A
downgrade drops both tables; it is refused while any score is stored, since the scores cost judge calls.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("judge", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("exchange", sa.Integer(), nullable=False),
        sa.Column("criterion", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('a','b','own')", name=op.f("ck_conversation_score_side")),
        sa.CheckConstraint("scope IN ('turn','conversation')", name=op.f("ck_conversation_score_scope")),
        sa.CheckConstraint("exchange >= 0", name=op.f("ck_conversation_score_exchange")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_score_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_score")),
        sa.UniqueConstraint(
            "conversation_id", "side", "judge", "scope", "exchange", "criterion", name="uq_conversation_score_key"
        ),
    )
    op.create_table(
        "conversation_judge_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("judge", sa.String(length=200), nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_conversation_judge_error_conversation_id_conversation"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_judge_error")),
        sa.UniqueConstraint("conversation_id", "side", "judge", name="uq_conversation_judge_error_key"),
    )


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM conversation_score")).scalar()
    if stored:
        raise RuntimeError(
            f"{stored} conversation scores are stored; downgrading below 0015 would lose them (export first)"
        )
    op.drop_table("conversation_judge_error")
    op.drop_table("conversation_score")
