"""Engine and session factory. SQLite gets the pragmas a multi-threaded web server needs."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
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
                try:
                    conn.connection.dbapi_connection.execute(statement)
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
        url = parsed.set(drivername="postgresql+psycopg")
    # pre_ping: after a database restart the pool's dead connections are replaced
    # transparently instead of failing the next request.
    return create_engine(url, pool_pre_ping=True, **kwargs)


def make_session_factory(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; read_only ones take no write lock on SQLite (they must not write)."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with factory() as session, session.begin():
        yield session
