"""Provenance of a model row: `model.config_hash` (sha256 of the canonical JSON of what is called: litellm string,
params, system prompt, samples), `model.variant_of_id` (the row a new configuration replaced) and
`model.retired_at`; `reply.config_hash` (the configuration that answered); two indexes on battle (model,
created_at) for first/last seen and the sampling share.

Existing models with a litellm string get their hash computed here, with a copy of
arena.llm.registry.canonical_config frozen as of this revision (a test checks the two agree); models nothing calls
keep NULL, as do existing replies (their configuration at the time was not recorded). Ratings, votes and battles
are not touched. A downgrade drops the columns: rows already split by a configuration change stay separate
(the retired one keeps its `slug@hash` name and stays inactive).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import hashlib
import json

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _normal(value):
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _config_hash(litellm_model, meta):
    if not litellm_model or not litellm_model.strip():
        return None
    meta = meta or {}
    config = {
        "litellm": litellm_model.strip(),
        "params": _normal(meta.get("params") or {}),
        "system_prompt": meta.get("system_prompt") or None,
        "samples": meta.get("samples"),
    }
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("model") as batch:
        batch.add_column(sa.Column("config_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("variant_of_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key("fk_model_variant_of_id_model", "model", ["variant_of_id"], ["id"])
    with op.batch_alter_table("reply") as batch:
        batch.add_column(sa.Column("config_hash", sa.String(64), nullable=True))
    op.create_index("ix_battle_model_a_created", "battle", ["model_a_id", "created_at"])
    op.create_index("ix_battle_model_b_created", "battle", ["model_b_id", "created_at"])
    bind = op.get_bind()
    model = sa.table(
        "model", sa.column("id", sa.Integer), sa.column("litellm_model", sa.String),
        sa.column("metadata", sa.JSON), sa.column("config_hash", sa.String),
    )  # fmt: skip
    rows = bind.execute(sa.select(model.c.id, model.c.litellm_model, model.c.metadata)).all()
    for model_id, litellm_model, meta in rows:
        if isinstance(meta, str):
            meta = json.loads(meta)
        digest = _config_hash(litellm_model, meta)
        if digest is not None:
            bind.execute(sa.update(model).where(model.c.id == model_id).values(config_hash=digest))


def downgrade() -> None:
    op.drop_index("ix_battle_model_b_created", table_name="battle")
    op.drop_index("ix_battle_model_a_created", table_name="battle")
    with op.batch_alter_table("reply") as batch:
        batch.drop_column("config_hash")
    with op.batch_alter_table("model") as batch:
        batch.drop_constraint("fk_model_variant_of_id_model", type_="foreignkey")
        batch.drop_column("retired_at")
        batch.drop_column("variant_of_id")
        batch.drop_column("config_hash")
