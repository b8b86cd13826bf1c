"""Board matrices: `board_matrices`, one row per (rating run, board) holding what `rating_run.matrices` held for
that board (model order, pairwise battles and win rates, rank intervals, votes to flip). A page shows one board;
the run's column held every board's, 46 MB of JSON at 200 models and 48 boards, read and parsed whole on each
leaderboard view (3.6 s p95). The upgrade moves every stored run's boards into the table and drops the column;
a downgrade puts them back.

Revision ID: 0023_board_matrices
Revises: 0022_jobs
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_board_matrices"
down_revision = "0022_jobs"
branch_labels = None
depends_on = None

_runs = sa.table("rating_run", sa.column("id", sa.Integer()), sa.column("matrices", sa.JSON()))
_boards = sa.table(
    "board_matrices",
    sa.column("run_id", sa.Integer()),
    sa.column("category", sa.String(80)),
    sa.column("matrices", sa.JSON()),
)


def upgrade() -> None:
    op.create_table(
        "board_matrices",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=80), nullable=False),
        sa.Column("matrices", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["rating_run.id"], name=op.f("fk_board_matrices_run_id_rating_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "category", name=op.f("pk_board_matrices")),
    )
    bind = op.get_bind()
    # A run at a time: one run's boards are what a single row held before.
    for (run_id,) in bind.execute(sa.select(_runs.c.id)).all():
        boards = bind.execute(sa.select(_runs.c.matrices).where(_runs.c.id == run_id)).scalar_one() or {}
        if boards:
            bind.execute(sa.insert(_boards), [{"run_id": run_id, "category": category, "matrices": matrices}
                                               for category, matrices in boards.items()])  # fmt: skip
    with op.batch_alter_table("rating_run") as batch:
        batch.drop_column("matrices")


def downgrade() -> None:
    with op.batch_alter_table("rating_run") as batch:
        batch.add_column(sa.Column("matrices", sa.JSON(), nullable=False, server_default="{}"))
    bind = op.get_bind()
    boards: dict[int, dict] = {}
    for run_id, category, matrices in bind.execute(sa.select(_boards.c.run_id, _boards.c.category,
                                                             _boards.c.matrices)).all():  # fmt: skip
        boards.setdefault(run_id, {})[category] = matrices
    for run_id, matrices in boards.items():
        bind.execute(sa.update(_runs).where(_runs.c.id == run_id).values(matrices=matrices))
    with op.batch_alter_table("rating_run") as batch:
        batch.alter_column("matrices", server_default=None)
    op.drop_table("board_matrices")
