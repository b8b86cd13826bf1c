"""A covering index for the recompute's per-vote read of the emotion boards (vote -> battle.prompt_id): the
counted votes' battle ids, pairs and outcomes come from the index alone, in battle id order, so the join to battle
walks its primary key forward instead of visiting each vote's table row (on SQLite the read took 1.1 s of 300,000
votes without it and 0.26 s with it).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_vote_counted_battle_pair_outcome",
        "vote",
        ["counts_for_leaderboard", "battle_id", "model_a_id", "model_b_id", "outcome"],
    )


def downgrade() -> None:
    op.drop_index("ix_vote_counted_battle_pair_outcome", table_name="vote")
