"""Randomised presentation arms: per battle side, the arm it was shown under (`battle.arm_a`, `battle.arm_b`: an
arm's name, NULL for the reply as stored) and the probability that side was given what it got (`arm_a_prob`,
`arm_b_prob`: NULL when the battle was drawn with no arms declared). Existing battles were drawn without arms, so
every new column is NULL for them; a downgrade refuses while any battle was shown under an arm.

Revision ID: 0018_presentation_arms
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_presentation_arms"
down_revision = "0017_judge_verdicts"
branch_labels = None
depends_on = None

COLUMNS = ("arm_a", "arm_b", "arm_a_prob", "arm_b_prob")


def upgrade() -> None:
    op.add_column("battle", sa.Column("arm_a", sa.String(length=32), nullable=True))
    op.add_column("battle", sa.Column("arm_b", sa.String(length=32), nullable=True))
    op.add_column("battle", sa.Column("arm_a_prob", sa.Float(), nullable=True))
    op.add_column("battle", sa.Column("arm_b_prob", sa.Float(), nullable=True))


def downgrade() -> None:
    armed = op.get_bind().execute(sa.text("SELECT count(*) FROM battle WHERE arm_a_prob IS NOT NULL")).scalar()
    if armed:
        # Dropping the columns would lose which text each voter saw: refuse rather than lose the study.
        raise RuntimeError(f"{armed} battles were drawn under presentation arms; export them before downgrading")
    with op.batch_alter_table("battle") as batch:
        for name in COLUMNS:
            batch.drop_column(name)
