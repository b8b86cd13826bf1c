"""The PostgreSQL pool checks a connection before use, asking the server only when in doubt: a connection the
server has closed (a restart, an administrator) is replaced without the request seeing an error, and a healthy
one costs no round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from arena.db import _PrePing, make_engine


@pytest.fixture
def engine(postgres_migrated):
    engine = make_engine(postgres_migrated, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine, monkeypatch) -> list[bool]:
    """Each round-trip ping the pool makes, with its answer (the dialect's own ping, counted)."""
    made: list[bool] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection):
        try:
            alive = real(dbapi_connection)
        except Exception:
            made.append(False)
            raise
        made.append(alive)
        return alive

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return made


def backend_pid(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_healthy_pooled_connection_is_reused_without_a_ping(engine, pings):
    first = backend_pid(engine)
    assert [backend_pid(engine) for _ in range(20)] == [first] * 20
    assert pings == []


def test_a_connection_the_server_ended_is_replaced_before_the_request_uses_it(engine, pings, postgres_migrated):
    doomed = backend_pid(engine)
    other = make_engine(postgres_migrated)
    try:
        with other.connect() as conn:
            # Waits (up to 5 s) until the backend has exited, not only been signalled.
            ended = "SELECT pg_terminate_backend(:pid, 5000)"
            assert conn.execute(text(ended), {"pid": doomed}).scalar_one()
    finally:
        other.dispose()
    # The pooled connection's socket now holds the server's goodbye: the checkout pings, finds it dead, reconnects.
    replacement = backend_pid(engine)
    assert replacement != doomed
    assert pings == [False]


def test_a_connection_idle_for_long_is_pinged_once(engine, pings, monkeypatch):
    first = backend_pid(engine)
    monkeypatch.setattr(_PrePing, "IDLE_SECONDS", 0.0)
    assert backend_pid(engine) == first
    assert pings == [True]


def test_pgbouncer_true_in_the_url_turns_prepared_statements_off(postgres_migrated):
    # Behind PgBouncer in transaction mode a statement prepared on one server connection is missing on the next.
    direct = make_engine(postgres_migrated)
    pooled = make_engine(f"{postgres_migrated}?pgbouncer=true")
    try:
        with direct.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold == 5
        with pooled.connect() as conn:
            assert conn.connection.dbapi_connection.prepare_threshold is None
            # PostgreSQL never sees the option.
            assert "pgbouncer" not in conn.connection.dbapi_connection.info.dsn
            assert conn.scalar(text("SELECT 1")) == 1
    finally:
        direct.dispose()
        pooled.dispose()
    with pytest.raises(ValueError, match="pgbouncer=yes"):
        make_engine(f"{postgres_migrated}?pgbouncer=yes")
