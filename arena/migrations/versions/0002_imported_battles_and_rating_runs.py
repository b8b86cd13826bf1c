"""Imported battles (source, language, metadata) and immutable rating runs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rating_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.Column("n_votes", sa.Integer(), nullable=False),
        sa.Column("matrices", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating_run")),
    )
    op.create_table(
        "rating",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("ci_low", sa.Float(), nullable=False),
        sa.Column("ci_high", sa.Float(), nullable=False),
        sa.Column("rank_ub", sa.Integer(), nullable=False),
        sa.Column("battles", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Float(), nullable=False),
        sa.Column("ties", sa.Float(), nullable=False),
        sa.Column("win_rate", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["model.id"], name=op.f("fk_rating_model_id_model")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["rating_run.id"], name=op.f("fk_rating_run_id_rating_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rating")),
        sa.UniqueConstraint("run_id", "category", "model_id", name="uq_rating_run_category_model"),
    )
    with op.batch_alter_table("battle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=16), nullable=False, server_default="arena"))
        batch_op.add_column(sa.Column("language", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("metadata", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.alter_column(
            "public_id", existing_type=sa.String(length=32), type_=sa.String(length=128), existing_nullable=False
        )
        batch_op.create_check_constraint("source", "source IN ('arena','import','live')")
    # The defaults served existing rows; new rows always say what they are.
    with op.batch_alter_table("battle", schema=None) as batch_op:
        batch_op.alter_column("source", server_default=None)
        batch_op.alter_column("metadata", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("battle", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_battle_source"), type_="check")
        batch_op.alter_column(
            "public_id", existing_type=sa.String(length=128), type_=sa.String(length=32), existing_nullable=False
        )
        batch_op.drop_column("metadata")
        batch_op.drop_column("language")
        batch_op.drop_column("source")
    op.drop_table("rating")
    op.drop_table("rating_run")
