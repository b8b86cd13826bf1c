"""`admin_session`: the admin browser sessions that are logged in (the SHA-256 of each session's random nonce), so
logging out revokes the cookie: a copy taken before the logout no longer works.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_session",
        sa.Column("nonce_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("nonce_digest", name=op.f("pk_admin_session")),
    )


def downgrade() -> None:
    op.drop_table("admin_session")
