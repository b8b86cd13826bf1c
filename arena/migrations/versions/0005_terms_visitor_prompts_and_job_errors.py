"""Terms acceptance, the author of a visitor's own prompt, and per-item errors of the generate and judge jobs.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "terms_acceptance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("visitor_key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_terms_acceptance")),
        sa.UniqueConstraint("visitor_key", "version", name="uq_terms_acceptance_visitor_version"),
    )
    op.create_table(
        "generation_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("prompt_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["prompt_id"], ["prompt.id"], name=op.f("fk_generation_error_prompt_id_prompt"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model.id"], name=op.f("fk_generation_error_model_id_model"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_error")),
        sa.UniqueConstraint("prompt_id", "model_id", name="uq_generation_error_prompt_model"),
    )
    op.create_table(
        "judge_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=False),
        sa.Column("judge", sa.String(length=200), nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_id"], ["reply.id"], name=op.f("fk_judge_error_reply_id_reply"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_error")),
        sa.UniqueConstraint("reply_id", "judge", name="uq_judge_error_reply_judge"),
    )
    with op.batch_alter_table("prompt") as batch:
        batch.add_column(sa.Column("visitor_key", sa.String(length=64), nullable=True))
        batch.create_index(batch.f("ix_prompt_visitor_key"), ["visitor_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("prompt") as batch:
        batch.drop_index(batch.f("ix_prompt_visitor_key"))
        batch.drop_column("visitor_key")
    op.drop_table("judge_error")
    op.drop_table("generation_error")
    op.drop_table("terms_acceptance")
