"""Shared fixtures. Every database test runs on SQLite and, when ARENA_TEST_DATABASE_URL is set, again on
PostgreSQL. With ARENA_REQUIRE_ALL=1 (CI) a missing PostgreSQL or Chromium fails instead of skipping."""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from werkzeug.serving import make_server

from arena import create_app
from arena.config import Settings
from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank, read_demo_bank
from arena.migrate import downgrade, upgrade
from arena.models import Base
from tests.arena_cli import run_arena
from tests.llm_server import LLMServer

REQUIRE_ALL = os.environ.get("ARENA_REQUIRE_ALL") == "1"
# pytest-xdist runs the suite in worker processes gw0, gw1, ...: each gets a PostgreSQL database and a Redis
# database of its own, since the fixtures truncate and flush them.
WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
POSTGRES_BASE_URL = os.environ.get("ARENA_TEST_DATABASE_URL")
POSTGRES_URL = POSTGRES_BASE_URL and (POSTGRES_BASE_URL if WORKER == 0 else f"{POSTGRES_BASE_URL}_gw{WORKER}")
# The Redis the rate-limit and shared-counter tests use (its database 15 is flushed by them; worker k uses 15 - k).
REDIS_URL = os.environ.get("ARENA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REDIS_URL = re.sub(r"/(\d+)$", lambda m: f"/{int(m.group(1)) - WORKER}", REDIS_URL)
SECRET = "test-secret-key-not-for-production"


def skip_or_fail(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (ARENA_REQUIRE_ALL=1: nothing may skip)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for each test: cheaper than migrating every time."""
    path = tmp_path_factory.mktemp("template") / "arena.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    if not POSTGRES_URL:
        skip_or_fail("PostgreSQL tests need ARENA_TEST_DATABASE_URL")
    engine = make_engine(POSTGRES_URL)
    try:
        if POSTGRES_URL != POSTGRES_BASE_URL:
            _create_database(POSTGRES_BASE_URL, POSTGRES_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no PostgreSQL here"
        skip_or_fail(f"PostgreSQL at ARENA_TEST_DATABASE_URL is not reachable: {exc}")
    upgrade(engine)
    engine.dispose()
    return POSTGRES_URL


def _create_database(admin_url: str, url: str) -> None:
    """CREATE DATABASE for a worker's URL, through the base URL's server, unless it exists."""
    name = make_url(url).database
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()


def _truncate_all(url: str) -> None:
    engine = make_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """A migrated, empty database of each backend."""
    if request.param == "sqlite":
        path = tmp_path / "arena.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    _truncate_all(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path) -> Iterator[str]:
    """A database of each backend with no schema at all (for migration and init-db tests)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    url = request.getfixturevalue("postgres_migrated")
    _truncate_all(url)  # a downgrade refuses to drop rows it cannot restore (extra reply samples)
    engine = make_engine(url)
    downgrade(engine, "base")
    try:
        yield url
    finally:
        # Leave the shared PostgreSQL database migrated for the tests that follow.
        upgrade(engine)
        engine.dispose()


@pytest.fixture
def session_factory(database_url):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def demo_bank() -> dict:
    return read_demo_bank()


@pytest.fixture
def demo_loaded(session_factory, demo_bank):
    with transaction(session_factory) as session:
        load_demo_bank(session, demo_bank)
    return demo_bank


def make_settings(database_url: str, **overrides) -> Settings:
    # Tests vote instantly, without the terms step, and their votes count without a proof-of-work; the dwell
    # rule, the terms and the proof-of-work have their own tests.
    values = dict(
        database_url=database_url,
        secret_key=SECRET,
        testing=True,
        rate_limit_enabled=False,
        min_dwell_ms=0,
        require_terms=False,
        count_unverified=True,
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def app_settings(database_url) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def app(app_settings):
    app = create_app(app_settings)
    yield app
    app.extensions["arena.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
VOTE_ACTION = re.compile(r'action="(/battles/[^"/]+/vote)"')


def solve_proof(client, headers: dict | None = None) -> str:
    """What a browser's widget does: fetch this visitor's challenge and solve it; returns the form field's value.
    (altcha is imported here: some tests import this module in a process that must stay light.)"""
    response = client.get("/terms/challenge", headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    return answer(response.get_json())


def answer(challenge: dict) -> str:
    """The widget's form field for a challenge as /terms/challenge serves it."""
    import altcha

    puzzle = altcha.Challenge.from_dict(challenge)
    return altcha.Payload(puzzle, altcha.solve_challenge(puzzle, timeout=60)).to_base64()


def parse_battle_page(html: str) -> tuple[str, str]:
    """The vote URL and CSRF token from a battle page or fragment."""
    action, token = VOTE_ACTION.search(html), CSRF_INPUT.search(html)
    assert action and token, "the page has no vote form"
    return action.group(1), token.group(1)


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app on a real threaded HTTP server on a free loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def llm_server_session() -> Iterator[LLMServer]:
    server = LLMServer().start()
    yield server
    server.stop()


@pytest.fixture
def llm_server(llm_server_session) -> LLMServer:
    """The local OpenAI-compatible server (tests/llm_server.py), with its replies and request log reset."""
    llm_server_session.reset()
    return llm_server_session


@pytest.fixture
def eq_arena(database_url, tmp_path):
    """A database with 3,000 imported battles whose outcomes depend on reply-level EQ, a rating run and a
    model-level benchmark: what the analysis needs."""
    # Imported here: tests/llm/test_live_battles.py imports this conftest in a subprocess that must stay free
    # of numpy and the rating engine.
    from tests.votes_files import synthetic_eq_battles, write_jsonl

    path = write_jsonl(tmp_path / "eq.jsonl", synthetic_eq_battles(3000, seed=5))
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    assert run_arena("ratings", "recompute", "--bootstrap", "100", "--database-url", database_url).returncode == 0
    scores = tmp_path / "scores.csv"
    # A model-level benchmark that agrees with the arena on most models, plus a name that matches nothing.
    lines = ["model,benchmark,snapshot,score,ci_low,ci_high"]
    lines += [f"provider/m{k},testbench,2026,{1000 + 10 * k},{995 + 10 * k},{1005 + 10 * k}" for k in range(8)]
    lines += ["ghost-model,testbench,2026,1200,,"]
    scores.write_text("\n".join(lines) + "\n")
    assert run_arena("import", "eq-scores", str(scores), "--database-url", database_url).returncode == 0
    return database_url
