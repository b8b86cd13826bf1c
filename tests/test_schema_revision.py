"""The Alembic-free revision readers (arena.schema_revision, used by every command's schema check) agree with
Alembic's own at every step of the migrations, up and down, on both backends."""

from __future__ import annotations

from alembic.script import ScriptDirectory

from arena import schema_revision
from arena.db import make_engine
from arena.migrate import alembic_config, current_revision, downgrade, head_revision, upgrade


def _downs(down) -> tuple[str, ...]:
    return () if down is None else (down,) if isinstance(down, str) else tuple(down)


def test_revision_graph_is_alembics():
    script = ScriptDirectory.from_config(alembic_config())
    alembic_graph = {rev.revision: _downs(rev.down_revision) for rev in script.walk_revisions()}
    assert schema_revision.revisions() == alembic_graph
    assert schema_revision.head_revision() == head_revision()


def test_current_revision_agrees_with_alembic_at_every_step(empty_database_url):
    engine = make_engine(empty_database_url)
    steps = [rev.revision for rev in ScriptDirectory.from_config(alembic_config()).walk_revisions()][::-1]
    assert schema_revision.current_revision(engine) is None is current_revision(engine)
    for revision in steps:
        upgrade(engine, revision)
        assert schema_revision.current_revision(engine) == revision == current_revision(engine)
    for revision in reversed(steps[:-1]):
        downgrade(engine, revision)
        assert schema_revision.current_revision(engine) == revision == current_revision(engine)
    downgrade(engine, "base")
    assert schema_revision.current_revision(engine) is None is current_revision(engine)
    engine.dispose()
