"""Several replies per (prompt, model): `reply.sample` numbers them, and the uniqueness moves from (prompt, model)
to (prompt, model, sample), so `arena generate --samples N` can keep N distinct replies while two concurrent runs
still cannot store the same one twice. Existing replies become sample 0.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reply") as batch:
        batch.add_column(sa.Column("sample", sa.Integer(), nullable=False, server_default="0"))
        batch.drop_constraint("uq_reply_prompt_model", type_="unique")
        batch.create_unique_constraint("uq_reply_prompt_model_sample", ["prompt_id", "model_id", "sample"])


def downgrade() -> None:
    extra = op.get_bind().execute(sa.text("SELECT count(*) FROM reply WHERE sample <> 0")).scalar()
    if extra:
        # Deleting them would cascade to the battles and votes that showed them: refuse rather than lose votes.
        raise RuntimeError(f"{extra} replies are extra samples (sample > 0); delete them before downgrading")
    with op.batch_alter_table("reply") as batch:
        batch.drop_constraint("uq_reply_prompt_model_sample", type_="unique")
        batch.create_unique_constraint("uq_reply_prompt_model", ["prompt_id", "model_id"])
        batch.drop_column("sample")
