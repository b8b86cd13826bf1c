"""Judge verdicts: `judge_verdict` (a judge model's pairwise verdict on two replies, one row per order in which it
was shown them) and `judge_verdict_error` (the last failure per pair of replies and judge).

EqScore rows score one reply at a time and cannot hold which of two replies a judge preferred, hence a table of
its own. A downgrade drops both tables; it is refused while any verdict is stored, since verdicts cost judge calls.

Revision ID: 0017_judge_verdicts
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_judge_verdicts"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "judge_verdict",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("judge", sa.String(length=200), nullable=False),
        sa.Column("reply_first_id", sa.Integer(), nullable=False),
        sa.Column("reply_second_id", sa.Integer(), nullable=False),
        sa.Column("shown_order", sa.String(length=2), nullable=False),
        sa.Column("verdict", sa.String(length=4), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("shown_order IN ('ab','ba')", name=op.f("ck_judge_verdict_shown_order")),
        sa.CheckConstraint("verdict IN ('A','B','tie')", name=op.f("ck_judge_verdict_verdict")),
        sa.CheckConstraint("reply_first_id <> reply_second_id", name=op.f("ck_judge_verdict_two_replies")),
        sa.ForeignKeyConstraint(
            ["reply_first_id"], ["reply.id"], name=op.f("fk_judge_verdict_reply_first_id_reply"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reply_second_id"], ["reply.id"], name=op.f("fk_judge_verdict_reply_second_id_reply"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_verdict")),
        sa.UniqueConstraint("judge", "reply_first_id", "reply_second_id", name="uq_judge_verdict_key"),
    )
    op.create_table(
        "judge_verdict_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("judge", sa.String(length=200), nullable=False),
        sa.Column("reply_low_id", sa.Integer(), nullable=False),
        sa.Column("reply_high_id", sa.Integer(), nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_low_id"], ["reply.id"], name=op.f("fk_judge_verdict_error_reply_low_id_reply"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reply_high_id"],
            ["reply.id"],
            name=op.f("fk_judge_verdict_error_reply_high_id_reply"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_verdict_error")),
        sa.UniqueConstraint("judge", "reply_low_id", "reply_high_id", name="uq_judge_verdict_error_key"),
    )


def downgrade() -> None:
    stored = op.get_bind().execute(sa.text("SELECT COUNT(*) FROM judge_verdict")).scalar()
    if stored:
        raise RuntimeError(f"{stored} judge verdicts are stored; downgrading below 0017 would lose them (export first)")
    op.drop_table("judge_verdict_error")
    op.drop_table("judge_verdict")
