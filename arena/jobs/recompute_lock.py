"""At most one recompute at a time, across processes and hosts: a PostgreSQL advisory lock, or on SQLite an
flock on a file beside the database. Either is let go by the operating system or the server when its holder
dies (a SIGKILLed worker leaves no stale lock behind). Two recomputes at once would not corrupt anything (each
writes its own run), but each costs the whole fit: the second would only repeat the first's work."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, func, select

# pg_advisory lock key: "arena-recompute" folded into a signed bigint, fixed so every host takes the same one.
ADVISORY_KEY = 0x61726E612D726563
# In-memory SQLite (tests of pure code) has no file to lock: one lock per process.
_memory_lock = threading.Lock()


class RecomputeBusy(Exception):
    """Another recompute holds the lock (and the caller asked not to wait)."""

    def __init__(self) -> None:
        super().__init__("another recompute is running")


@contextmanager
def recompute_lock(engine: Engine, *, wait: bool) -> Iterator[None]:
    """Hold the recompute lock for the block; raise RecomputeBusy at once if it is taken and not `wait`."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, wait):
            yield
        return
    database = engine.url.database
    if not database or database == ":memory:":
        if not _memory_lock.acquire(blocking=wait):
            raise RecomputeBusy
        try:
            yield
        finally:
            _memory_lock.release()
        return
    fd = os.open(f"{database}-recompute", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise RecomputeBusy from exc
        yield
    finally:
        os.close(fd)  # closing the descriptor drops its flock


@contextmanager
def _advisory_lock(engine: Engine, wait: bool) -> Iterator[None]:
    # A transaction-level lock held by a transaction left open on a connection of its own: it also holds
    # through PgBouncer in transaction mode, where a session-level lock could be taken on one server connection
    # and released on another. The transaction writes nothing and keeps no snapshot between statements, so it
    # holds back no vacuum.
    with engine.connect() as conn, conn.begin():
        if wait:
            conn.execute(select(func.pg_advisory_xact_lock(ADVISORY_KEY)))
        elif not conn.scalar(select(func.pg_try_advisory_xact_lock(ADVISORY_KEY))):
            raise RecomputeBusy
        yield
