"""Jobs: `job_run`, one row per queued job (recompute, generate, judge, export) with its status, attempts and
errors, what `arena jobs list` shows whichever queue ran it. A new table; a downgrade drops it.

Revision ID: 0022_jobs
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_jobs"
down_revision = "0021_vote_counts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("queue_id", sa.String(length=64), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('recompute','generate','judge','export')", name=op.f("ck_job_run_kind")),
        sa.CheckConstraint(
            "status IN ('queued','running','succeeded','failed','skipped')", name=op.f("ck_job_run_status")
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_run")),
    )
    op.create_index("ix_job_run_kind_status", "job_run", ["kind", "status"])


def downgrade() -> None:
    op.drop_index("ix_job_run_kind_status", table_name="job_run")
    op.drop_table("job_run")
