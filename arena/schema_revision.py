"""The schema's revision, read without importing Alembic: every command checks it before it touches the
database, and Alembic's import (~0.1 s, Mako and its DDL modules included) would be a tenth of a recompute on a
small site. `arena.migrate` (Alembic itself) creates and changes the schema; a test holds these readers equal to
Alembic's own at every migration step."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, inspect, text

VERSIONS_DIR = Path(__file__).resolve().parent / "migrations" / "versions"
# Alembic's default version table (arena.migrations.env sets no other).
VERSION_TABLE = "alembic_version"


def _assignments(path: Path) -> dict[str, object]:
    """The module-level `revision` and `down_revision` of one migration file, by parsing, not importing it."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), str(path)).body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets = [node.target]
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                found[target.id] = ast.literal_eval(node.value)
    return found


@cache
def revisions() -> dict[str, tuple[str, ...]]:
    """Every revision id in the migration files, with the ids it revises (none for the first)."""
    graph = {}
    for path in sorted(VERSIONS_DIR.glob("*.py")):
        found = _assignments(path)
        if "revision" not in found:
            continue
        down = found.get("down_revision")
        graph[str(found["revision"])] = () if down is None else (down,) if isinstance(down, str) else tuple(down)
    return graph


def head_revision() -> str:
    """The one revision no other revises (as Alembic's ScriptDirectory.get_current_head)."""
    graph = revisions()
    revised = {down for downs in graph.values() for down in downs}
    heads = [revision for revision in graph if revision not in revised]
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads, not one: {sorted(heads)}")
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None before the first migration), as Alembic's MigrationContext reads it."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"the database is at several revisions at once: {sorted(rows)}")
    return rows[0] if rows else None
