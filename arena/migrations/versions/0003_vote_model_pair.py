"""Copy each battle's models onto its vote, with a covering index for the recompute's GROUP BY; index
battles by prompt for the per-category ratings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vote", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model_a_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("model_b_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE vote SET model_a_id = (SELECT model_a_id FROM battle WHERE battle.id = vote.battle_id), "
        "model_b_id = (SELECT model_b_id FROM battle WHERE battle.id = vote.battle_id)"
    )
    with op.batch_alter_table("vote", schema=None) as batch_op:
        batch_op.alter_column("model_a_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("model_b_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(
            "ix_vote_counted_pair_outcome", ["counts_for_leaderboard", "model_a_id", "model_b_id", "outcome"]
        )
    with op.batch_alter_table("battle", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_battle_prompt_id"), ["prompt_id"])


def downgrade() -> None:
    with op.batch_alter_table("battle", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_battle_prompt_id"))
    with op.batch_alter_table("vote", schema=None) as batch_op:
        batch_op.drop_index("ix_vote_counted_pair_outcome")
        batch_op.drop_column("model_b_id")
        batch_op.drop_column("model_a_id")
