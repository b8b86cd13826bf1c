"""The RQ queue for real: `arena jobs enqueue` puts a recompute on Redis, an `arena worker` subprocess takes it
and is SIGKILLed mid-job (the worker and its work horse), and a second worker finds the lost job and runs it
again; the job_run row counts both attempts and keeps the loss."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arena.models import JobRun
from tests.arena_cli import run_arena
from tests.conftest import REDIS_URL, skip_or_fail
from tests.jobs.test_export import vote_on_demo


@pytest.fixture
def redis_url():
    import redis

    connection = redis.Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except redis.RedisError as exc:
        skip_or_fail(f"the RQ tests need Redis at ARENA_TEST_REDIS_URL: {exc}")
    connection.flushdb()
    yield REDIS_URL
    connection.flushdb()


def start_worker(database_url: str, redis_url: str) -> subprocess.Popen:
    # Its own session: the kill takes the worker and the work horse it forks for the job.
    return subprocess.Popen(
        [sys.executable, "-m", "arena.cli", "worker", "--heartbeat", "1", "--no-schedule", "--database-url",
         database_url], env={**os.environ, "ARENA_REDIS_URL": redis_url, "ARENA_JOBS": ""},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def wait_for(factory, job_id: int, statuses: tuple[str, ...], timeout: float) -> JobRun:
    deadline = time.monotonic() + timeout
    while True:
        with factory() as session:
            row = session.get(JobRun, job_id)
        if row.status in statuses:
            return row
        assert time.monotonic() < deadline, f"job {job_id} still {row.status} after {timeout} s"
        time.sleep(0.02)


def test_a_job_lost_to_a_killed_worker_is_picked_up_again(client, demo_loaded, session_factory, database_url,
                                                          redis_url):  # fmt: skip
    vote_on_demo(client, session_factory, 12)
    env = {"ARENA_REDIS_URL": redis_url, "ARENA_JOBS": ""}
    queued = run_arena("jobs", "enqueue", "recompute", "--bootstrap", "100000", "--json", "--database-url",
                       database_url, env=env)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    job_id = json.loads(queued.stdout)["id"]
    assert json.loads(queued.stdout)["queue"] == "rq"
    first = start_worker(database_url, redis_url)
    workers = [first]
    try:
        running = wait_for(session_factory, job_id, ("running", "succeeded"), 90)
        assert running.status == "running", "the recompute finished before the worker could be killed"
        # The worker and the work horse running the job (RQ puts the horse in a session of its own): the host
        # running the job is gone.
        for pid in [*children(first.pid), first.pid]:
            with contextlib.suppress(ProcessLookupError):  # a child that ended between the listing and the kill
                os.kill(pid, signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        time.sleep(0.5)
        assert wait_for(session_factory, job_id, ("running", "succeeded"), 1).status == "running"  # nobody ends it
        workers.append(start_worker(database_url, redis_url))
        done = wait_for(session_factory, job_id, ("succeeded", "failed", "skipped"), 120)
        print(f"lost job finished by the second worker {time.monotonic() - killed_at:.1f} s after the kill")
    finally:
        for worker in workers:
            if worker.poll() is None:
                for pid in [*children(worker.pid), worker.pid]:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                worker.wait(20)
    assert done.status == "succeeded", done.errors
    assert done.attempts == 2
    (loss,) = done.errors
    assert loss["attempt"] == 1 and loss["error"].startswith("lost: worker")
    assert done.result["n_votes"] == 12
    listed = run_arena("jobs", "list", "--database-url", database_url, env=env)
    assert "succeeded" in listed.stdout and "2/3" in listed.stdout
