"""Rating engine v2: per-rating component, borrowed share and both-bad share; a run summary (tie propensity,
position bias, pooling); the active-sampling pair weights each run computes for the pairing service.

Revision ID: 0008
Revises: 0006_vote_review
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rating") as batch:
        batch.add_column(sa.Column("component", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("borrowed", sa.Float(), nullable=True))
        batch.add_column(sa.Column("both_bad_share", sa.Float(), nullable=True))
        batch.add_column(sa.Column("both_bad_low", sa.Float(), nullable=True))
        batch.add_column(sa.Column("both_bad_high", sa.Float(), nullable=True))
    with op.batch_alter_table("rating_run") as batch:
        batch.add_column(sa.Column("summary", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "pair_weight",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("model_low_id", sa.Integer(), nullable=False),
        sa.Column("model_high_id", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["rating_run.id"], name=op.f("fk_pair_weight_run_id_rating_run"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_low_id"], ["model.id"], name=op.f("fk_pair_weight_model_low_id_model"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["model_high_id"], ["model.id"], name=op.f("fk_pair_weight_model_high_id_model"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_weight")),
        sa.UniqueConstraint("run_id", "model_low_id", "model_high_id", name="uq_pair_weight_run_pair"),
    )


def downgrade() -> None:
    op.drop_table("pair_weight")
    with op.batch_alter_table("rating_run") as batch:
        batch.drop_column("summary")
    with op.batch_alter_table("rating") as batch:
        for column in ("both_bad_high", "both_bad_low", "both_bad_share", "borrowed", "component"):
            batch.drop_column(column)
