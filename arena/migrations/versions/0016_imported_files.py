"""Imported files: `imported_file`, one row per file brought in by `arena import votes|replies` (name, sha256,
rows read and written, `--source` citation or licence, and what its records said of `anony`), for the dataset
card's provenance. No existing table records an import; a downgrade drops it (the battles stay).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "imported_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('votes','replies')", name=op.f("ck_imported_file_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_imported_file")),
    )


def downgrade() -> None:
    op.drop_table("imported_file")
