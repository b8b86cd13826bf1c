"""Admission of live battles, so open streams can never starve votes and no one can run up the bill.

Three bounds, each checked before a model is called:
- per worker: an open stream holds one of a gunicorn worker's threads for as long as the models write, so at
  most `streams_per_worker` streams run in one worker (half its threads by default), and the other threads stay
  free for pages and votes;
- overall: at most ARENA_LIVE_MAX_CONCURRENT live battles stream at once across every worker and host;
- money: each battle costs two paid model calls; its estimated cost is reserved against the UTC day's budget,
  overall (ARENA_LIVE_DAILY_BUDGET_USD) and per network (ARENA_LIVE_NETWORK_DAILY_BUDGET_USD), and corrected
  to the real cost once both replies are in.
Beyond a bound a new live battle is told the site is busy (503 with Retry-After). The overall counters live in
the rate-limit store (arena/web/shared_counters.py)."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from arena.config import Settings
from arena.web.shared_counters import MemoryCounters, RedisCounters, counters_for

# Threads a worker keeps for pages and votes when the gunicorn hook tells the gate how many it has.
DEFAULT_STREAMS_PER_WORKER = 4
# Threads a stream-service worker keeps for the live form and messages (the page workers are elsewhere).
STREAM_SERVICE_SPARE_THREADS = 4
# A stream that has just been refused for capacity: one slot frees within a stream's length, so try again soon.
BUSY_RETRY_SECONDS = 15
# A slot outlives its stream by this much at most when a worker dies without releasing it.
SLOT_GRACE_SECONDS = 30
DAY_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Refusal:
    """Why a live battle cannot start now, and when to try again."""

    reason: str
    retry_after: int


def _seconds_to_midnight(now: datetime) -> int:
    tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((tomorrow - now).total_seconds()))


class LiveGate:
    def __init__(self, settings: Settings, counters: MemoryCounters | RedisCounters | None = None) -> None:
        self.settings = settings
        self.counters = counters or counters_for(settings.redis_url)
        self.streams_per_worker = settings.live_streams_per_worker or DEFAULT_STREAMS_PER_WORKER
        self._lock = threading.Lock()
        self._open_here = 0

    def fit_threads(self, threads: int) -> None:
        """Bound this worker's streams by its thread count (called by gunicorn's post_worker_init hook): an
        explicit ARENA_LIVE_STREAMS_PER_WORKER is kept below the thread count, the default is half of them."""
        share = self.settings.live_streams_per_worker or max(1, threads // 2)
        self.streams_per_worker = max(1, min(share, threads - 1))

    def fit_stream_service(self, threads: int) -> None:
        """The same for a worker of the stream service (arena.stream_gunicorn_conf), which serves nothing but the
        live battles: streams may take all but STREAM_SERVICE_SPARE_THREADS of its threads, which stay for the
        live form and messages."""
        share = self.settings.live_streams_per_worker or threads - STREAM_SERVICE_SPARE_THREADS
        self.streams_per_worker = max(1, min(share, threads - 1))

    # ---- the day's money ------------------------------------------------------------------------------------

    def _day(self) -> str:
        return datetime.now(UTC).strftime("%Y-%m-%d")

    def _budgets(self, network: str) -> list[tuple[str, float]]:
        day, settings = self._day(), self.settings
        budgets = []
        if settings.live_daily_budget_usd is not None:
            budgets.append((f"arena:live:spend:{day}", settings.live_daily_budget_usd))
        if settings.live_network_daily_budget_usd is not None:
            budgets.append((f"arena:live:spend:{day}:{network}", settings.live_network_daily_budget_usd))
        return budgets

    def _money_refusal(self) -> Refusal:
        return Refusal("Today's budget for live battles is spent. Please come back tomorrow (UTC).",
                       _seconds_to_midnight(datetime.now(UTC)))  # fmt: skip

    # ---- checks -----------------------------------------------------------------------------------------------

    def busy(self, network: str) -> Refusal | None:
        """A cheap look before a battle is stored: would one be refused right now?"""
        busy = Refusal("Too many live battles are running right now. Please try again in a moment.",
                       BUSY_RETRY_SECONDS)  # fmt: skip
        with self._lock:
            if self._open_here >= self.streams_per_worker:
                return busy
        if self.counters.slots("arena:live:open") >= self.settings.live_max_concurrent:
            return busy
        if any(self.counters.total(key) >= budget for key, budget in self._budgets(network)):
            return self._money_refusal()
        return None

    def admit(self, network: str, estimated_cost: float) -> Ticket | Refusal:
        """Take a slot here and overall and reserve the estimated cost, all or nothing."""
        busy = Refusal("Too many live battles are running right now. Please try again in a moment.",
                       BUSY_RETRY_SECONDS)  # fmt: skip
        with self._lock:
            if self._open_here >= self.streams_per_worker:
                return busy
            self._open_here += 1
        member = uuid.uuid4().hex
        ttl = self.settings.live_timeout_seconds + SLOT_GRACE_SECONDS
        if not self.counters.acquire_slot("arena:live:open", member, self.settings.live_max_concurrent, ttl):
            self._leave()
            return busy
        reserved: list[str] = []
        for key, budget in self._budgets(network):
            if not self.counters.reserve(key, estimated_cost, budget, DAY_SECONDS * 2):
                for done in reserved:
                    self.counters.add(done, -estimated_cost, DAY_SECONDS * 2)
                self.counters.release_slot("arena:live:open", member)
                self._leave()
                return self._money_refusal()
            reserved.append(key)
        return Ticket(self, member, reserved, estimated_cost)

    def _leave(self) -> None:
        with self._lock:
            self._open_here -= 1

    @property
    def open_here(self) -> int:
        return self._open_here


class Ticket:
    """An admitted live battle: `close` (exactly once, however the stream ends) frees its slots and settles what
    it cost."""

    def __init__(self, gate: LiveGate, member: str, reserved: list[str], estimate: float) -> None:
        self._gate, self._member, self._reserved, self._estimate = gate, member, reserved, estimate
        self._closed = False

    def close(self, actual_cost: float | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        gate = self._gate
        # An unknown real cost (a failed or cut stream) keeps the estimate: the calls may well have been billed.
        if actual_cost is not None and actual_cost != self._estimate:
            for key in self._reserved:
                gate.counters.add(key, actual_cost - self._estimate, DAY_SECONDS * 2)
        gate.counters.release_slot("arena:live:open", self._member)
        gate._leave()
