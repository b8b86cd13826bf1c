"""Edited replies: `reply.edit_of` (the reply an editor model rewrote) and `reply.edit_dimension` (the one EI
dimension it changed), `edit_error` (the last failure to edit a reply on a dimension), and battles of a reply
against its edit (`battle.source` 'edit', the one kind of battle whose two sides are the same model).

An edit is stored under its original's prompt and model with a negative sample number (the pair's samples stay
0..N-1, so nothing that draws or counts samples sees it) and at most one per (original, dimension). Existing rows
do not change. A downgrade is refused while any edit battle exists (it would break the distinct-models check);
edits themselves are deleted with their columns.

Revision ID: 0020_reply_edits
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_reply_edits"
down_revision = "0019_vote_reasons"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reply") as batch:
        batch.add_column(sa.Column("edit_of", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("edit_dimension", sa.String(length=64), nullable=True))
        batch.create_foreign_key(op.f("fk_reply_edit_of_reply"), "reply", ["edit_of"], ["id"], ondelete="CASCADE")
        batch.create_check_constraint("edit", "(edit_of IS NULL) = (edit_dimension IS NULL)")
    op.create_index("uq_reply_edit_of_dimension", "reply", ["edit_of", "edit_dimension"], unique=True)
    with op.batch_alter_table("battle") as batch:
        batch.drop_constraint(op.f("ck_battle_source"), type_="check")
        batch.drop_constraint(op.f("ck_battle_distinct_models"), type_="check")
        batch.create_check_constraint("source", "source IN ('arena','import','live','edit')")
        batch.create_check_constraint("distinct_models", "model_a_id <> model_b_id OR source = 'edit'")
    op.create_table(
        "edit_error",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reply_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=64), nullable=False),
        sa.Column("editor", sa.String(length=200), nullable=False),
        sa.Column("error_type", sa.String(length=64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_id"], ["reply.id"], name=op.f("fk_edit_error_reply_id_reply"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_edit_error")),
        sa.UniqueConstraint("reply_id", "dimension", name="uq_edit_error_reply_dimension"),
    )


def downgrade() -> None:
    edits = op.get_bind().execute(sa.text("SELECT count(*) FROM battle WHERE source = 'edit'")).scalar()
    if edits:
        raise RuntimeError(f"{edits} battles pit a reply against its edit; delete them before downgrading")
    op.drop_table("edit_error")
    op.execute("DELETE FROM reply WHERE edit_of IS NOT NULL")
    with op.batch_alter_table("battle") as batch:
        batch.drop_constraint(op.f("ck_battle_source"), type_="check")
        batch.drop_constraint(op.f("ck_battle_distinct_models"), type_="check")
        batch.create_check_constraint("source", "source IN ('arena','import','live')")
        batch.create_check_constraint("distinct_models", "model_a_id <> model_b_id")
    op.drop_index("uq_reply_edit_of_dimension", table_name="reply")
    with op.batch_alter_table("reply") as batch:
        batch.drop_constraint(op.f("ck_reply_edit"), type_="check")
        batch.drop_constraint(op.f("fk_reply_edit_of_reply"), type_="foreignkey")
        batch.drop_column("edit_dimension")
        batch.drop_column("edit_of")
