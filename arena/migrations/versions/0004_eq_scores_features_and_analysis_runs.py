"""Model aliases, model-level EQ scores, reply features, reply-level EQ scores and analysis runs.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_eq_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("benchmark", sa.String(length=64), nullable=False),
        sa.Column("snapshot", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("traits", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_eq_score")),
        sa.UniqueConstraint("benchmark", "snapshot", "model_name", name="uq_model_eq_score_entry"),
    )
    op.create_table(
        "analysis_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rating_run_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feature_version", sa.String(length=40), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rating_run_id"],
            ["rating_run.id"],
            name=op.f("fk_analysis_run_rating_run_id_rating_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis_run")),
    )
    op.create_table(
        "model_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alias", sa.String(length=200), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model.id"], name=op.f("fk_model_alias_model_id_model"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_alias")),
        sa.UniqueConstraint("alias", name=op.f("uq_model_alias_alias")),
    )
    op.create_table(
        "eq_score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=False),
        sa.Column("judge", sa.String(length=200), nullable=False),
        sa.Column("criterion", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_id"], ["reply.id"], name=op.f("fk_eq_score_reply_id_reply"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eq_score")),
        sa.UniqueConstraint("reply_id", "judge", "criterion", name="uq_eq_score_reply_judge_criterion"),
    )
    op.create_table(
        "reply_feature",
        sa.Column("reply_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_id"], ["reply.id"], name=op.f("fk_reply_feature_reply_id_reply"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("reply_id", "version", name=op.f("pk_reply_feature")),
    )
    op.create_table(
        "battle_reply_feature",
        sa.Column("battle_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.CheckConstraint("side IN ('a','b')", name=op.f("ck_battle_reply_feature_side")),
        sa.ForeignKeyConstraint(
            ["battle_id"], ["battle.id"], name=op.f("fk_battle_reply_feature_battle_id_battle"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("battle_id", "side", "version", name=op.f("pk_battle_reply_feature")),
    )


def downgrade() -> None:
    op.drop_table("battle_reply_feature")
    op.drop_table("reply_feature")
    op.drop_table("eq_score")
    op.drop_table("model_alias")
    op.drop_table("analysis_run")
    op.drop_table("model_eq_score")
