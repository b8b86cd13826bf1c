"""When a recompute is due, and the small thread that queues it (and, with inline jobs, runs the queue).

Due when ARENA_RECOMPUTE_EVERY_VOTES votes arrived since the last scheduled recompute, or
ARENA_RECOMPUTE_EVERY_SECONDS passed since it and any vote arrived. "Votes since" is the newest vote's id minus
the watermark the last recompute stored (ids only grow): two index reads, never a scan of the votes. The vote
path itself only wakes the thread (`notify`): the check runs here, at most once a second."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from arena.config import Settings
from arena.db import make_session_factory
from arena.models import JobRun, Vote, utcnow
from arena.queue import job_runs

log = logging.getLogger(__name__)

# Recompute rows searched back for the last watermark (runs skipped because another held the lock have none).
_WATERMARK_LOOKBACK = 20
# After a recompute failed for good, the schedule waits at least this long before queueing another.
FAILED_BACKOFF_SECONDS = 60
# The thread checks at most this often however many votes wake it, and at least every MAX_TICK seconds.
MIN_CHECK_SECONDS, MAX_TICK_SECONDS = 1.0, 10.0


def recompute_due(session: Session, settings: Settings, now: datetime | None = None) -> str | None:
    """'votes' or 'time' when a recompute should be queued now, else None."""
    if settings.recompute_every_votes == 0 and settings.recompute_every_seconds == 0:
        return None
    if job_runs.pending(session, "recompute") is not None:
        return None
    now = now or utcnow()
    finished = list(session.scalars(
        select(JobRun).where(JobRun.kind == "recompute", JobRun.status.in_(job_runs.FINAL))
        .order_by(JobRun.id.desc()).limit(_WATERMARK_LOOKBACK)
    ))  # fmt: skip
    last = finished[0] if finished else None
    if last is not None and last.status == "failed":
        wait = max(settings.recompute_every_seconds, FAILED_BACKOFF_SECONDS)
        if (now - last.finished_at).total_seconds() < wait:
            return None
    watermark = next((int(r.result["vote_watermark"]) for r in finished if "vote_watermark" in r.result), 0)
    new_votes = int(session.scalar(select(func.max(Vote.id))) or 0) - watermark
    if new_votes <= 0:
        return None
    if settings.recompute_every_votes and new_votes >= settings.recompute_every_votes:
        return "votes"
    if settings.recompute_every_seconds and (
        last is None or (now - last.finished_at).total_seconds() >= settings.recompute_every_seconds
    ):
        return "time"
    return None


class Scheduler:
    """A daemon thread: checks whether a recompute is due and queues it through `submit(job_id)`; with `drain`
    (inline jobs: the demo, a site without Redis, `arena worker` without Redis) it also runs every queued job
    itself, one at a time."""

    def __init__(self, engine: Engine, settings: Settings, submit: Callable[[int], None] | None = None, *,
                 drain: bool = False, schedule: bool = True) -> None:  # fmt: skip
        self.engine, self.settings, self.submit, self.drain = engine, settings, submit, drain
        self.schedule = schedule
        self.factory = make_session_factory(engine)
        self.reader = make_session_factory(engine, read_only=True)
        every = settings.recompute_every_seconds or MAX_TICK_SECONDS
        self.tick = min(MAX_TICK_SECONDS, max(MIN_CHECK_SECONDS, every / 4))
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        """A vote committed: check soon. Costs the vote path one Event.set()."""
        self._wake.set()

    def start(self) -> Scheduler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="arena-jobs", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def run_forever(self) -> None:
        """In the foreground (`arena worker` without Redis), until interrupted."""
        self._loop()

    def _loop(self) -> None:
        if self.drain:
            job_runs.requeue_lost_here(self.factory)
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.check()
                if self.drain:
                    self.run_queued()
            except Exception:  # noqa: BLE001 - a database that is briefly away must not end the thread
                log.exception("arena jobs: scheduling failed; trying again")
            self._wake.wait(self.tick)
            self._wake.clear()
            # However many votes wake it, at most one check a second.
            self._stop.wait(max(0.0, MIN_CHECK_SECONDS - (time.monotonic() - started)))

    def check(self) -> int | None:
        """Queue a recompute if one is due; returns its job id."""
        if not self.schedule:
            return None
        with self.reader() as session:
            reason = recompute_due(session, self.settings)
        if reason is None:
            return None
        job_id = job_runs.create(self.factory, "recompute", {"bootstrap": self.settings.recompute_rounds},
                                 reason=reason, unless_pending=True)  # fmt: skip
        if job_id is not None and self.submit is not None:
            try:
                self.submit(job_id)
            except Exception as exc:
                # Not left queued where nothing runs it (it would hold back every later recompute): failed, with
                # why; the schedule tries again after its back-off.
                job_runs.fail_unqueued(self.factory, job_id, f"could not reach the queue: {exc}")
                raise
        return job_id

    def run_queued(self) -> None:
        """Run every queued job here, oldest first (a failed attempt with attempts left is queued again)."""
        while not self._stop.is_set():
            job_id = job_runs.next_queued(self.reader)
            if job_id is None:
                return
            # Claimed only while queued: another thread or process polling the same table may have taken it.
            job_runs.run_attempt(self.engine, job_id, self.settings, redelivered=False)


def for_site(engine: Engine, settings: Settings) -> Scheduler | None:
    """The site's scheduler, started: with inline jobs it runs them itself; with the queue it only queues them
    (on RQ, for `arena worker`); off, none (an operator runs the commands)."""
    if settings.jobs == "off":
        return None
    if settings.jobs == "inline":
        return Scheduler(engine, settings, drain=True).start()
    from arena.queue import rq_queue

    factory = make_session_factory(engine)
    return Scheduler(engine, settings, lambda job_id: rq_queue.enqueue(settings.redis_url, factory, job_id)).start()
