"""The schema comes only from Alembic, on both backends, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from arena import create_app
from arena.db import make_engine
from arena.migrate import current_revision, downgrade, head_revision, upgrade
from arena.models import Base
from tests.conftest import make_settings

TABLES = {"model", "prompt", "prompt_emotion", "reply", "battle", "vote", "rating_run", "rating"}


def test_upgrade_creates_schema_and_downgrade_removes_it(empty_database_url):
    engine = make_engine(empty_database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert set(inspect(engine).get_table_names()) >= TABLES
    downgrade(engine, "base")
    assert not TABLES & set(inspect(engine).get_table_names())
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_models_match_the_migrations(database_url):
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_app_start_creates_no_tables(empty_database_url):
    app = create_app(make_settings(empty_database_url))
    engine = app.extensions["arena.engine"]
    assert not TABLES & set(inspect(engine).get_table_names())
    engine.dispose()


def test_sqlite_runs_in_wal_with_busy_timeout_and_foreign_keys(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
