"""Engine and session factory. SQLite gets the pragmas a multi-threaded web server needs."""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

from arena.log_privacy import keep_row_values_out_of_logs

# Without a busy timeout a second writer fails at once with "database is locked"
# instead of waiting its turn, and the vote is lost.
SQLITE_BUSY_TIMEOUT_MS = 15_000
READ_ONLY = "arena_read_only"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling would start transactions lazily and
    # defeat BEGIN IMMEDIATE; SQLAlchemy then emits BEGIN itself (see "begin" below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class _WriteQueue:
    """Writers queue for SQLite's single write lock on a lock file beside the database (flock) before BEGIN
    IMMEDIATE. SQLite's own busy handler polls with sleeps that grow to 100 ms, so under contention a writer
    could sleep long after the lock was free; flock wakes the next writer as soon as the last one commits.
    Writers that do not queue here (another program) still meet the busy timeout."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writers"

    def acquire(self, record) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        record.info["arena_write_lock"] = fd

    @staticmethod
    def release(record) -> None:
        fd = record.info.pop("arena_write_lock", None)
        if fd is not None:
            os.close(fd)  # closing the descriptor drops its flock

    def listen(self, engine: Engine) -> None:
        def begin(conn) -> None:
            # Take the write lock at the start of each transaction: a read that later upgrades to a write
            # cannot wait on busy_timeout and would fail instead. Read-only work (aggregates, pages that only
            # read) begins deferred and never blocks writers.
            if conn.get_execution_options().get(READ_ONLY):
                conn.exec_driver_sql("BEGIN")
                return
            record = conn.connection._connection_record
            self.acquire(record)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                self.release(record)
                raise

        def end(statement: str):
            def handler(conn) -> None:
                record = conn.connection._connection_record
                if "arena_write_lock" not in record.info:
                    return
                # End the transaction here, then let the next writer in; the driver's own commit or rollback
                # that follows finds no transaction and does nothing.
                raw = conn.connection.dbapi_connection
                try:
                    raw.execute(statement)
                except sqlite3.Error as error:
                    # A COMMIT that fails (a full disk: SQLITE_FULL) leaves the transaction open: end it, and
                    # raise what SQLAlchemy would have raised, so the site's database-error page answers (503).
                    if raw.in_transaction:
                        with contextlib.suppress(sqlite3.Error):
                            raw.execute("ROLLBACK")
                    raise DBAPIError.instance(statement, None, error, sqlite3.Error) from error
                finally:
                    self.release(record)

            return handler

        event.listen(engine, "begin", begin)
        event.listen(engine, "commit", end("COMMIT"))
        event.listen(engine, "rollback", end("ROLLBACK"))

        def reset(_dbapi_connection, record, _reset_state) -> None:
            # A connection handed back to the pool mid-transaction is rolled back by the pool itself.
            self.release(record)

        event.listen(engine.pool, "reset", reset)


def _sqlite_begin(conn) -> None:
    # In-memory databases (tests of pure code) have no file to queue on.
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, **kwargs) -> Engine:
    # A database error's text would otherwise carry the statement's values (a visitor's message among them)
    # into tracebacks and logs.
    kwargs.setdefault("hide_parameters", True)
    keep_row_values_out_of_logs()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if parsed.database and parsed.database != ":memory:":
            _WriteQueue(parsed.database).listen(engine)
        else:
            event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        # Plain postgresql:// would pick psycopg2; the project ships psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.query.get("pgbouncer") is not None:
        parsed = _through_pgbouncer(parsed, kwargs)
    engine = create_engine(parsed, **kwargs)
    _PrePing(engine)
    return engine


def _through_pgbouncer(parsed: URL, kwargs: dict) -> URL:
    """`?pgbouncer=true` (the name other PostgreSQL clients use for it): a PgBouncer in transaction mode hands each
    transaction to any server connection, where a statement psycopg prepared on another one does not exist, so
    psycopg must never prepare (prepare_threshold=None). The option is ours; PostgreSQL never sees it."""
    value = parsed.query["pgbouncer"]
    if value not in ("true", "1"):
        raise ValueError(f"pgbouncer={value} in the database URL: use pgbouncer=true or leave it out")
    kwargs["connect_args"] = {**kwargs.get("connect_args", {}), "prepare_threshold": None}
    return parsed.difference_update_query(["pgbouncer"])


class _PrePing:
    """Checks a pooled connection before each use, so after a database restart the dead connections are replaced
    instead of failing the next requests. SQLAlchemy's pool_pre_ping does it with a round trip on every checkout
    (a fifth of a worker's time under load here); this one asks the server only when in doubt: when the socket
    has something to read (a server that shut down or died has sent its goodbye or closed it: nothing else
    arrives unasked on an idle connection) or when the connection sat idle long enough for a silent network
    drop to have cut it."""

    IDLE_SECONDS = 30.0

    def __init__(self, engine: Engine) -> None:
        self.dialect = engine.dialect
        event.listen(engine, "checkout", self.checkout)
        event.listen(engine, "checkin", self.checkin)

    @staticmethod
    def checkin(_dbapi_connection, record) -> None:
        record.info["arena_idle_since"] = time.monotonic()

    def checkout(self, dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("arena_idle_since")
        if idle_since is None:  # a connection just opened
            return
        readable, _, _ = select.select([dbapi_connection.fileno()], [], [], 0)
        if not readable and time.monotonic() - idle_since < self.IDLE_SECONDS:
            return
        try:
            alive = self.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure to answer means the connection is gone
            raise DisconnectionError(f"connection failed its ping: {exc}") from exc
        if not alive:
            raise DisconnectionError("connection failed its ping")


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; read_only ones take no write lock on SQLite (they must not write)."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
