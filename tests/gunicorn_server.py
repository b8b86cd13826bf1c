"""The site under gunicorn (`-k gthread`) on a free loopback port, as production serves it, plus what load and
fault runs need around it: a freshly migrated database with the demo bank, the workers' pids, and a check that
every vote a visitor saw acknowledged is stored. Used by tests/benchmarks/load.py and tests/test_faults.py."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import requests
from sqlalchemy import func, select, text

from arena.config import PROJECT_ROOT
from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank
from arena.migrate import upgrade
from arena.models import Battle, Vote
from arena.voting.battle_ids import BattleIdSigner

SECRET = "load-test-secret-not-for-production"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare_database(url: str) -> None:
    """Migrate from nothing and load the demo bank. PostgreSQL: the public schema is dropped first."""
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        load_demo_bank(session)
    engine.dispose()


def load_env(database_url: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a site under load: this database, a fixed secret, no rate limits or dwell time."""
    env = dict(os.environ)
    env.update(
        ARENA_DATABASE_URL=database_url,
        ARENA_SECRET_KEY=SECRET,
        ARENA_RATE_LIMIT_ENABLED="0",
        ARENA_MIN_DWELL_MS="0",
        ARENA_COUNT_UNVERIFIED="1",
        ARENA_REPEAT_SHARE="0",
        PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.update(extra or {})
    return env


def child_pids(parent: int) -> list[int]:
    """A process's live children, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state, fields[1] the parent pid; a zombie is a worker already gone.
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return sorted(children)


class GunicornServer:
    """gunicorn master + workers in a child process; `stop()` always ends the whole process group."""

    def __init__(self, database_url: str, *, workers: int = 2, threads: int = 4, log_path: Path | None = None,
                 extra_env: dict[str, str] | None = None, production_config: bool = False) -> None:  # fmt: skip
        self.database_url = database_url
        self.workers = workers
        self.threads = threads
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.extra_env = extra_env or {}
        # With arena.gunicorn_conf: its hooks (the live gate's share of threads) and its private access log.
        self.production_config = production_config
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        config = ["-c", "python:arena.gunicorn_conf"] if self.production_config else []
        return [sys.executable, "-m", "gunicorn", *config, "-k", "gthread", "-w", str(self.workers), "--threads",
                str(self.threads), "-b", f"127.0.0.1:{self.port}", "arena:create_app()"]  # fmt: skip

    def start(self, timeout: float = 60) -> GunicornServer:
        env = load_env(self.database_url, self.extra_env)
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command(), cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log,
                                        start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            if len(self.worker_pids()) == self.workers and self.responds():
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not come up within {timeout} s; see {self.log_path}")

    def responds(self) -> bool:
        try:
            return requests.get(f"{self.url}/static/css/arena.css", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def worker_pids(self) -> list[int]:
        """The master's live children (its workers), read from /proc."""
        return [] if self.process is None else child_pids(self.process.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        # Quick shutdown: the load is over, nothing in flight needs to finish.
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> GunicornServer:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def public_ids(vote_paths: Iterable[str]) -> set[str]:
    """Battle public ids from acknowledged vote URLs (/battles/<signed id>/vote)."""
    signer = BattleIdSigner(SECRET)
    ids = set()
    for path in vote_paths:
        public_id = signer.unsign(path.strip("/").split("/")[1])
        assert public_id is not None, f"a vote URL this server did not sign: {path}"
        ids.add(public_id)
    return ids


def stored_votes(database_url: str, ids: set[str]) -> tuple[set[str], int]:
    """Which of `ids` have a stored vote, and how many votes the database holds in all."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            found: set[str] = set()
            wanted = sorted(ids)
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                found.update(
                    session.scalars(
                        select(Battle.public_id)
                        .join(Vote, Vote.battle_id == Battle.id)
                        .where(Battle.public_id.in_(chunk))
                    )  # fmt: skip
                )
            total = session.scalar(select(func.count()).select_from(Vote))
    finally:
        engine.dispose()
    return found, total
