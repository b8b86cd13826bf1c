"""Who cast a vote and from which network, and the visitor keys deleted under privacy (never to be used again).

Revision ID: 0007
Revises: 0006_vote_review
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006_vote_review"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("vote") as batch:
        # The voter's key (the battle's judge key, which the vote must match) and the keyed hash of their /24 or
        # /48: the cohort filters judge networks as well as single voters.
        batch.add_column(sa.Column("voter_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("network_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "retired_visitor_key",
        # SHA-256 of a deleted visitor key: enough to recognise a stale browser, nothing to link back to.
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_digest", name=op.f("pk_retired_visitor_key")),
    )


def downgrade() -> None:
    op.drop_table("retired_visitor_key")
    with op.batch_alter_table("vote") as batch:
        batch.drop_column("network_hash")
        batch.drop_column("voter_key")
