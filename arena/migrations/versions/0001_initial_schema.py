"""Initial schema: models, prompts (with EmoNet tags), replies, battles, votes.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=True),
        sa.Column("litellm_model", sa.String(length=300), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model")),
        sa.UniqueConstraint("slug", name=op.f("uq_model_slug")),
    )
    op.create_table(
        "prompt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("situation", sa.String(length=100), nullable=True),
        sa.Column("need", sa.String(length=100), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("moderation_flags", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('demo','imported','curated','user')", name=op.f("ck_prompt_source")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_prompt_content_hash")),
    )
    op.create_table(
        "prompt_emotion",
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("intensity", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint("intensity BETWEEN 0 AND 2", name=op.f("ck_prompt_emotion_intensity")),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompt.id"], name=op.f("fk_prompt_emotion_prompt_id_prompt"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("prompt_id", "category", name=op.f("pk_prompt_emotion")),
    )
    with op.batch_alter_table("prompt_emotion", schema=None) as batch_op:
        batch_op.create_index("ix_prompt_emotion_category", ["category"], unique=False)

    op.create_table(
        "reply",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("litellm_model", sa.String(length=300), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("cost_usd", sa.Float(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], name=op.f("fk_reply_model_id_model")),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompt.id"], name=op.f("fk_reply_prompt_id_prompt"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply")),
        sa.UniqueConstraint("prompt_id", "model_id", name="uq_reply_prompt_model"),
    )
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.create_index("ix_reply_model_prompt", ["model_id", "prompt_id"], unique=False)

    op.create_table(
        "battle",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=True),
        sa.Column("reply_a_id", sa.Integer(), nullable=True),
        sa.Column("reply_b_id", sa.Integer(), nullable=True),
        sa.Column("model_a_id", sa.Integer(), nullable=False),
        sa.Column("model_b_id", sa.Integer(), nullable=False),
        sa.Column("judge_key", sa.String(length=64), nullable=True),
        sa.Column("sampling_prob", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open','voted','expired')", name=op.f("ck_battle_status")),
        sa.CheckConstraint("model_a_id <> model_b_id", name=op.f("ck_battle_distinct_models")),
        sa.ForeignKeyConstraint(["model_a_id"], ["model.id"], name=op.f("fk_battle_model_a_id_model")),
        sa.ForeignKeyConstraint(["model_b_id"], ["model.id"], name=op.f("fk_battle_model_b_id_model")),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompt.id"], name=op.f("fk_battle_prompt_id_prompt"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reply_a_id"], ["reply.id"], name=op.f("fk_battle_reply_a_id_reply"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reply_b_id"], ["reply.id"], name=op.f("fk_battle_reply_b_id_reply"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_battle")),
        sa.UniqueConstraint("public_id", name=op.f("uq_battle_public_id")),
    )
    with op.batch_alter_table("battle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_battle_judge_key"), ["judge_key"], unique=False)

    op.create_table(
        "vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("battle_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dwell_ms", sa.Integer(), nullable=True),
        sa.Column("counts_for_leaderboard", sa.Boolean(), nullable=False),
        sa.Column("exclusion_reason", sa.String(length=64), nullable=True),
        sa.CheckConstraint("outcome IN ('model_a','model_b','tie','both_bad')", name=op.f("ck_vote_outcome")),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battle.id"], name=op.f("fk_vote_battle_id_battle"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vote")),
        sa.UniqueConstraint("battle_id", name=op.f("uq_vote_battle_id")),
    )


def downgrade() -> None:
    op.drop_table("vote")
    with op.batch_alter_table("battle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_battle_judge_key"))

    op.drop_table("battle")
    with op.batch_alter_table("reply", schema=None) as batch_op:
        batch_op.drop_index("ix_reply_model_prompt")

    op.drop_table("reply")
    with op.batch_alter_table("prompt_emotion", schema=None) as batch_op:
        batch_op.drop_index("ix_prompt_emotion_category")

    op.drop_table("prompt_emotion")
    op.drop_table("prompt")
    op.drop_table("model")
