"""`visitor_proof`: the visitors (by keyed hash) who solved the proof-of-work, so their votes count; votes of a
visitor without one are kept with the reason `unverified`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "visitor_proof",
        sa.Column("visitor_key", sa.String(length=64), nullable=False),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("visitor_key", name=op.f("pk_visitor_proof")),
    )


def downgrade() -> None:
    op.drop_table("visitor_proof")
