"""Vote reasons: `vote_reason`, the optional tags a voter taps on the reveal after their vote ("felt heard",
"too long", ...), one row per (vote, side, reason). A table of its own rather than columns of `vote`: a vote has
any number of them, per side, and the vote path (two statements) never touches them. They go with their vote
(ON DELETE CASCADE). A downgrade drops the table.

Revision ID: 0019_vote_reasons
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0019_vote_reasons"
down_revision = "0018_presentation_arms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vote_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("vote_id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=1), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("side IN ('a','b')", name=op.f("ck_vote_reason_side")),
        sa.CheckConstraint(
            "reason IN ('felt_heard','practical_help','too_long','preachy','cold','flattering','unsafe')",
            name=op.f("ck_vote_reason_reason"),
        ),
        sa.ForeignKeyConstraint(["vote_id"], ["vote.id"], name=op.f("fk_vote_reason_vote_id_vote"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vote_reason")),
        sa.UniqueConstraint("vote_id", "side", "reason", name="uq_vote_reason_key"),
    )


def downgrade() -> None:
    op.drop_table("vote_reason")
