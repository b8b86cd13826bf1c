"""The queue: RQ on the Redis the site already uses for its limits (README, "Jobs": why RQ). A job on the queue
carries only its `job_run` id; the worker reads the rest from the database it was started on, so no database
URL (nor its password) is ever stored in Redis.

Retries: RQ requeues a failed job while it has retries left (the `job_run` row counts attempts and keeps each
error). A job whose worker was killed stays in RQ's started registry until its heartbeat lapses; the next
worker's maintenance finds it there and requeues it (RQ's AbandonedJobError), and its next attempt records the
loss. `arena worker --heartbeat S` makes that S * 2 + 1 seconds (RQ's own default is S + 60)."""

from __future__ import annotations

import os

from sqlalchemy import Engine

from arena.config import Settings
from arena.db import make_engine, make_session_factory
from arena.queue import job_runs

QUEUE_NAME = "arena"
# A recompute of ten million votes, or a generation of thousands of replies, runs long: RQ's default of 180 s
# would kill it. A day is the bound past which a job is surely stuck.
JOB_TIMEOUT_SECONDS = 24 * 3600
_worker_state: dict = {}


def redis_connection(redis_url: str):
    from redis import Redis

    return Redis.from_url(redis_url)


def enqueue(redis_url: str, factory, job_id: int, max_attempts: int = job_runs.DEFAULT_ATTEMPTS) -> str:
    """Put a `job_run` on the queue; returns RQ's id for it (also stored in the row)."""
    from rq import Callback, Queue, Retry

    queue = Queue(QUEUE_NAME, connection=redis_connection(redis_url))
    job = queue.enqueue(
        perform, job_id, job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600,
        retry=Retry(max=max_attempts - 1) if max_attempts > 1 else None, on_failure=Callback(lost),
        description=f"arena job_run {job_id}",
    )  # fmt: skip
    job_runs.set_queue_id(factory, job_id, job.id)
    return job.id


def _engine() -> Engine:
    engine = _worker_state.get("engine")
    if engine is None:
        engine = _worker_state["engine"] = make_engine(_worker_state.get("database_url")
                                                       or Settings.from_env().database_url)  # fmt: skip
    return engine


def _forget_engine_in_child() -> None:
    # A work horse is forked from the worker: the pooled connections it inherits belong to the parent.
    engine = _worker_state.get("engine")
    if engine is not None:
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_engine_in_child)


class AttemptFailed(Exception):
    """Raised to RQ so it retries; the job_run row holds the real error."""


def perform(job_id: int) -> str | None:
    """What RQ runs: one attempt of the job_run."""
    settings = _worker_state.get("settings") or Settings.from_env()
    outcome = job_runs.run_attempt(_engine(), job_id, settings)
    if outcome == "retry":
        raise AttemptFailed(f"job_run {job_id} failed this attempt (see `arena jobs list`); the queue retries it")
    return outcome


def lost(job, connection, exc_type, exc_value, tb) -> None:
    """RQ's failure callback. A task's own failure is recorded by `perform`; this records a worker that died
    mid-job (RQ finds it abandoned), and ends the job_run when no retry is left."""
    from rq.exceptions import AbandonedJobError

    if exc_type is AbandonedJobError or isinstance(exc_value, AbandonedJobError):
        job_runs.record_lost(make_session_factory(_engine()), int(job.args[0]), final=not job.retries_left)


def run_worker(redis_url: str, database_url: str, settings: Settings, *, heartbeat: int, burst: bool,
               scheduler=None) -> None:  # fmt: skip
    """Work the queue until stopped (or, with `burst`, until it is empty)."""
    from rq import Queue, Worker

    class ArenaWorker(Worker):
        def get_heartbeat_ttl(self, job) -> int:
            # A lost job is found once its heartbeat lapses: two missed beats, not RQ's fixed extra minute.
            return 2 * self.job_monitoring_interval + 1

    _worker_state.update(database_url=database_url, settings=settings)
    connection = redis_connection(redis_url)
    worker = ArenaWorker(
        [Queue(QUEUE_NAME, connection=connection)], connection=connection, job_monitoring_interval=heartbeat,
        # The idle wait (worker_ttl - 15) and the maintenance that finds lost jobs follow the heartbeat.
        worker_ttl=15 + heartbeat, maintenance_interval=max(1, heartbeat),
    )  # fmt: skip
    if scheduler is not None:
        scheduler.start()
    try:
        worker.work(burst=burst, logging_level="WARNING")
    finally:
        if scheduler is not None:
            scheduler.stop()
