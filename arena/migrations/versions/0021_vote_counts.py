"""Maintained vote counts: `vote_count`, the counted votes per (board, model_a, model_b, outcome), and
`vote_count_mark`, the largest vote id folded into them. The recompute folds the votes above the mark in and
reads the counts instead of grouping every vote (arena/vote_counts.py). Created empty with the mark at 0, so
the first recompute after the upgrade counts every vote once; a downgrade drops both (nothing else reads them).

Revision ID: 0021_vote_counts
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0021_vote_counts"
down_revision = "0020_reply_edits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vote_count",
        sa.Column("board", sa.String(length=64), nullable=False),
        sa.Column("model_a_id", sa.Integer(), nullable=False),
        sa.Column("model_b_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("board", "model_a_id", "model_b_id", "outcome", name=op.f("pk_vote_count")),
    )
    op.create_table(
        "vote_count_mark",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_vote_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vote_count_mark")),
    )
    op.execute("INSERT INTO vote_count_mark (id, last_vote_id) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table("vote_count_mark")
    op.drop_table("vote_count")
