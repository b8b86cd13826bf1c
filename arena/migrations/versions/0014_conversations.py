"""Conversations: `conversation` (one per multi-turn battle, or per imported transcript of one model) and `turn`
(every message of it, in order, with who wrote it and what it cost); `vote.turns` (how many exchanges the voter
saw, 1 for every vote before this revision).

A single-turn battle needs no conversation row: its one exchange is the battle's prompt and replies, as before,
so no existing battle, vote or rating changes. A downgrade drops the two tables and the column; it is refused
while any turn is stored, since that would lose conversations.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.Integer(), nullable=True),
        sa.Column("reply_id", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("scenario", sa.String(length=200), nullable=True),
        sa.Column("evaluation_session", sa.String(length=128), nullable=True),
        sa.Column("evaluation_order", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("mode IN ('single','shared','transcript')", name=op.f("ck_conversation_mode")),
        sa.CheckConstraint("(battle_id IS NULL) <> (reply_id IS NULL)", name=op.f("ck_conversation_one_owner")),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battle.id"], name=op.f("fk_conversation_battle_id_battle"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reply_id"], ["reply.id"], name=op.f("fk_conversation_reply_id_reply"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation")),
        sa.UniqueConstraint("battle_id", name=op.f("uq_conversation_battle_id")),
        sa.UniqueConstraint("reply_id", name=op.f("uq_conversation_reply_id")),
    )
    op.create_index("ix_conversation_session_order", "conversation", ["evaluation_session", "evaluation_order"])
    op.create_table(
        "turn",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=4), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("persona_state", sa.JSON(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('a','b','both','own')", name=op.f("ck_turn_side")),
        sa.CheckConstraint("role IN ('user','assistant')", name=op.f("ck_turn_role")),
        sa.CheckConstraint("author IN ('visitor','persona','model')", name=op.f("ck_turn_author")),
        sa.CheckConstraint("idx >= 0", name=op.f("ck_turn_idx")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
            name=op.f("fk_turn_conversation_id_conversation"),
            ondelete="CASCADE",
        ),  # fmt: skip
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], name=op.f("fk_turn_model_id_model")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turn")),
        sa.UniqueConstraint("conversation_id", "idx", "side", "role", name=op.f("uq_turn_conversation_id")),
    )
    with op.batch_alter_table("vote") as batch:
        batch.add_column(sa.Column("turns", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM turn")).scalar()
    if stored:
        raise RuntimeError(
            f"{stored} conversation turns are stored; downgrading below 0014 would lose them (export first)"
        )
    with op.batch_alter_table("vote") as batch:
        batch.drop_column("turns")
    op.drop_table("turn")
    op.drop_index("ix_conversation_session_order", table_name="conversation")
    op.drop_table("conversation")
