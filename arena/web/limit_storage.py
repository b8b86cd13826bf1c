"""The rate limits' in-memory store (used without ARENA_REDIS_URL): limits' MemoryStorage, but sweeping expired
keys once a second instead of after every hit. The stock store arms a 10 ms timer on each counter hit whenever
the last one has run out, so a busy worker started a thread for nearly every rate-limited request (a tenth of a
battle-and-vote cycle's time). The sweep only frees memory: every read and hit drops its own key once expired
(MemoryStorage.get), so what a limit admits or refuses is the same."""

from __future__ import annotations

import threading

from limits.storage import MemoryStorage

# Seconds between sweeps of expired keys: memory held at most this long past a key's expiry.
SWEEP_SECONDS = 1.0
SCHEME = "arena-memory"


class SweptMemoryStorage(MemoryStorage):
    """Registered with limits under `arena-memory://` (its metaclass registers STORAGE_SCHEME)."""

    STORAGE_SCHEME = [SCHEME]

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - overrides MemoryStorage's private hook
        # The timer is read and replaced under a lock: two threads that both found it finished would each start one.
        with _timer_lock:
            if not self.timer.is_alive():
                self.timer = threading.Timer(SWEEP_SECONDS, self._MemoryStorage__expire_events)
                self.timer.daemon = True
                self.timer.start()


_timer_lock = threading.Lock()
