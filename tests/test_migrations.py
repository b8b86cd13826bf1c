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


def test_upgrading_keeps_and_backfills_existing_votes(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine, "0001")
    now = "2026-01-01 00:00:00"
    with engine.begin() as conn:
        for k in (1, 2):
            conn.execute(
                text("INSERT INTO model (id, slug, display_name, active, metadata, created_at) "
                     "VALUES (:k, :s, :s, TRUE, '{}', :now)"),
                {"k": k, "s": f"m{k}", "now": now},
            )  # fmt: skip
        conn.execute(
            text("INSERT INTO battle (id, public_id, model_a_id, model_b_id, status, created_at) "
                 "VALUES (1, 'b1', 2, 1, 'voted', :now)"),
            {"now": now},
        )  # fmt: skip
        conn.execute(
            text("INSERT INTO vote (battle_id, outcome, created_at, counts_for_leaderboard) "
                 "VALUES (1, 'model_a', :now, TRUE)"),
            {"now": now},
        )  # fmt: skip
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT model_a_id, model_b_id, outcome FROM vote")).one() == (2, 1, "model_a")
        assert conn.execute(text("SELECT source, public_id FROM battle")).one() == ("arena", "b1")
        if conn.dialect.name == "sqlite":  # migrating turned enforcement off; the pooled connection has it back
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()
