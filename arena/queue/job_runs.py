"""A job's life in its `job_run` row: queued, one attempt after another (each counted, each failed or lost one's
error kept), then succeeded, skipped or failed. Whatever runs the job (an RQ worker, the site's own thread, a
worker polling the table) goes through `run_attempt`, so every queue records the same way."""

from __future__ import annotations

import contextlib
import os
import socket
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from arena.config import Settings
from arena.db import make_session_factory, transaction
from arena.models import JobRun, utcnow
from arena.queue.tasks import BadJob, JobSkipped, run_task

FINAL = ("succeeded", "failed", "skipped")
PENDING = ("queued", "running")
DEFAULT_ATTEMPTS = 3
# pg_advisory_xact_lock key serialising "queue one unless one is pending" across hosts (SQLite: BEGIN IMMEDIATE).
_ENQUEUE_KEY = 0x61726E612D656E71
# An error kept in the row: enough of the traceback to find the fault, not a page of it.
_ERROR_CHARS = 2000


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Attempt:
    job_id: int
    kind: str
    args: dict[str, Any]
    attempt: int
    max_attempts: int


def create(factory: sessionmaker[Session], kind: str, args: dict[str, Any], *, reason: str = "command",
           max_attempts: int = DEFAULT_ATTEMPTS, unless_pending: bool = False) -> int | None:  # fmt: skip
    """Queue a job row; returns its id. With `unless_pending`, returns None instead when a job of that kind is
    already queued or running (the schedule's recompute: one waiting is enough)."""
    with transaction(factory) as session:
        if unless_pending:
            if session.get_bind().dialect.name == "postgresql":
                session.execute(select(func.pg_advisory_xact_lock(_ENQUEUE_KEY)))
            if session.scalar(select(JobRun.id).where(JobRun.kind == kind, JobRun.status.in_(PENDING)).limit(1)):
                return None
        row = JobRun(kind=kind, args=args, reason=reason, status="queued", attempts=0, max_attempts=max_attempts,
                     errors=[], result={})  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


def set_queue_id(factory: sessionmaker[Session], job_id: int, queue_id: str) -> None:
    with transaction(factory) as session:
        session.get(JobRun, job_id).queue_id = queue_id


def _error(attempt: int, message: str) -> dict[str, Any]:
    return {"attempt": attempt, "at": utcnow().isoformat(timespec="seconds"), "error": message[-_ERROR_CHARS:]}


def _lost(row: JobRun) -> dict[str, Any]:
    return _error(row.attempts, f"lost: worker {row.worker} stopped before the attempt finished")


def begin_attempt(factory: sessionmaker[Session], job_id: int, *, redelivered: bool = True) -> Attempt | None:
    """Mark the next attempt running; None if the job is finished already (a second delivery of it), or, unless
    the queue may hand out a running job again (`redelivered`: RQ does, for a lost one), if it is not queued:
    two threads polling the table never both claim it."""
    with transaction(factory) as session:
        row = session.get(JobRun, job_id, with_for_update=True)
        if row is None or row.status in FINAL or (row.status != "queued" and not redelivered):
            return None
        if row.status == "running":
            # Still running when it is handed out again: the worker of that attempt died (the queue says so).
            row.errors = [*row.errors, _lost(row)]
        row.status, row.attempts, row.worker = "running", row.attempts + 1, worker_name()
        row.started_at, row.finished_at = utcnow(), None
        return Attempt(row.id, row.kind, dict(row.args), row.attempts, row.max_attempts)


def _finish(factory, job_id: int, status: str, *, result: dict | None = None, error: str | None = None,
            attempt: int | None = None) -> None:  # fmt: skip
    with transaction(factory) as session:
        row = session.get(JobRun, job_id, with_for_update=True)
        if attempt is not None and row.attempts != attempt:
            # An attempt given up for lost that ended after all (its worker was cut off, not dead): a later
            # attempt owns the row now.
            return
        row.status = status
        if status in FINAL:
            row.finished_at = utcnow()
        if result is not None:
            row.result = result
        if error is not None:
            row.errors = [*row.errors, _error(row.attempts, error)]


def run_attempt(engine: Engine, job_id: int, settings: Settings, *, redelivered: bool = True) -> str | None:
    """Run the job's next attempt and record it; returns its outcome: 'succeeded', 'skipped', 'failed' (no more
    attempts, or options that cannot work), 'retry' (failed, attempts left: queued again), or None (nothing
    to run)."""
    factory = make_session_factory(engine)
    attempt = begin_attempt(factory, job_id, redelivered=redelivered)
    if attempt is None:
        return None
    try:
        result = run_task(engine, attempt.kind, attempt.args, settings)
    except JobSkipped as skipped:
        _finish(factory, job_id, "skipped", result=skipped.result, attempt=attempt.attempt)
        return "skipped"
    except BadJob as exc:
        _finish(factory, job_id, "failed", error=str(exc), attempt=attempt.attempt)
        return "failed"
    except Exception:  # noqa: BLE001 - any failure of the task is recorded, then retried or final
        final = attempt.attempt >= attempt.max_attempts
        _finish(factory, job_id, "failed" if final else "queued", error=traceback.format_exc(), attempt=attempt.attempt)
        return "failed" if final else "retry"
    _finish(factory, job_id, "succeeded", result=result, attempt=attempt.attempt)
    return "succeeded"


def record_lost(factory: sessionmaker[Session], job_id: int, *, final: bool) -> None:
    """The queue found this job's worker dead mid-attempt: keep the loss, and end the job if no attempt is left
    (otherwise the next attempt, when it starts, finds it still running and says so itself)."""
    if not final:
        return
    with transaction(factory) as session:
        row = session.get(JobRun, job_id, with_for_update=True)
        if row is not None and row.status == "running":
            row.errors, row.status, row.finished_at = [*row.errors, _lost(row)], "failed", utcnow()


def requeue_lost_here(factory: sessionmaker[Session]) -> int:
    """Jobs left running by a process of this host that is gone (a site or worker killed mid-job): queued again
    (or failed, with no attempt left). For the database-polled queue; RQ finds its own lost jobs."""
    host = socket.gethostname()
    requeued = 0
    with transaction(factory) as session:
        for row in session.scalars(select(JobRun).where(JobRun.status == "running", JobRun.worker.like(f"{host}:%"))):
            pid = int(row.worker.rpartition(":")[2] or 0)
            if _alive(pid):
                continue
            final = row.attempts >= row.max_attempts
            row.errors, row.status = [*row.errors, _lost(row)], "failed" if final else "queued"
            row.finished_at = utcnow() if final else None
            requeued += 0 if final else 1
    return requeued


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is as gone as it gets.
    with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0] != "Z"
    return True


def next_queued(factory: sessionmaker[Session]) -> int | None:
    with factory() as session:
        return session.scalar(select(JobRun.id).where(JobRun.status == "queued").order_by(JobRun.id).limit(1))


def pending(session: Session, kind: str) -> JobRun | None:
    return session.scalar(select(JobRun).where(JobRun.kind == kind, JobRun.status.in_(PENDING)).limit(1))


def recent(session: Session, limit: int = 20, kind: str | None = None, status: str | None = None) -> list[JobRun]:
    stmt = select(JobRun).order_by(JobRun.id.desc()).limit(limit)
    if kind:
        stmt = stmt.where(JobRun.kind == kind)
    if status:
        stmt = stmt.where(JobRun.status == status)
    return list(session.scalars(stmt))


def as_dict(row: JobRun) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat(timespec="seconds")

    return {"id": row.id, "kind": row.kind, "status": row.status, "reason": row.reason, "attempts": row.attempts,
            "max_attempts": row.max_attempts, "args": row.args, "errors": row.errors, "result": row.result,
            "queue_id": row.queue_id, "worker": row.worker, "created_at": iso(row.created_at),
            "started_at": iso(row.started_at), "finished_at": iso(row.finished_at)}  # fmt: skip


def fail_unqueued(factory: sessionmaker[Session], job_id: int, reason: str) -> None:
    """A row whose job never reached the queue: failed with the reason, so nothing waits on it."""
    _finish(factory, job_id, "failed", error=reason)
