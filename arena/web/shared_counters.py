"""Counters every worker of the site shares: open live-battle slots and the day's live spending. They live where
the rate limits live, in Redis when ARENA_REDIS_URL is set (so caps hold across gunicorn workers and hosts), in
the process's memory otherwise. Keys carry only keyed hashes, never an address."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger(__name__)


class MemoryCounters:
    """One process's counters (a single worker, the development server, tests)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[str, dict[str, float]] = {}
        self._sums: dict[str, tuple[float, float]] = {}  # key -> (total, expires at)

    def acquire_slot(self, key: str, member: str, cap: int, ttl: float) -> bool:
        """Hold one of `cap` slots under `key` for at most `ttl` seconds (a crashed holder's slot lapses)."""
        now = time.time()
        with self._lock:
            slots = {m: t for m, t in self._slots.get(key, {}).items() if t > now}
            if len(slots) >= cap:
                self._slots[key] = slots
                return False
            slots[member] = now + ttl
            self._slots[key] = slots
            return True

    def release_slot(self, key: str, member: str) -> None:
        with self._lock:
            self._slots.get(key, {}).pop(member, None)

    def slots(self, key: str) -> int:
        now = time.time()
        with self._lock:
            return sum(1 for t in self._slots.get(key, {}).values() if t > now)

    def total(self, key: str) -> float:
        with self._lock:
            return self._current(key)

    def reserve(self, key: str, amount: float, limit: float, ttl: float) -> bool:
        """Add `amount` to the total under `key` unless that would pass `limit`."""
        with self._lock:
            current = self._current(key)
            if current + amount > limit:
                return False
            self._sums[key] = (current + amount, time.time() + ttl)
            return True

    def add(self, key: str, amount: float, ttl: float) -> None:
        with self._lock:
            self._sums[key] = (max(0.0, self._current(key) + amount), time.time() + ttl)

    def _current(self, key: str) -> float:
        value, expires = self._sums.get(key, (0.0, 0.0))
        return value if expires > time.time() else 0.0


# Each script runs atomically in Redis: check and change in one step, whichever worker asks.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
_RESERVE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return 0 end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""


class RedisCounters:
    """The same counters in Redis. If Redis cannot be reached the process falls back to its own memory (as the
    rate limiter does) rather than refusing every live battle or failing pages."""

    def __init__(self, url: str) -> None:
        import redis

        self._errors = (redis.RedisError, OSError)
        self._redis = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._reserve = self._redis.register_script(_RESERVE)
        self._fallback = MemoryCounters()

    def _call(self, name: str, redis_call, *args):
        try:
            return redis_call()
        except self._errors as error:
            log.warning("shared counters unavailable, using this worker's memory: %s", type(error).__name__)
            return getattr(self._fallback, name)(*args)

    def acquire_slot(self, key: str, member: str, cap: int, ttl: float) -> bool:
        now = time.time()
        script = lambda: self._acquire(keys=[key], args=[now, now + ttl, cap, member, int(ttl) + 60])  # noqa: E731
        return bool(self._call("acquire_slot", script, key, member, cap, ttl))

    def release_slot(self, key: str, member: str) -> None:
        self._call("release_slot", lambda: self._redis.zrem(key, member), key, member)

    def slots(self, key: str) -> int:
        now = time.time()
        return int(self._call("slots", lambda: self._redis.zcount(key, now, "+inf"), key))

    def total(self, key: str) -> float:
        return float(self._call("total", lambda: float(self._redis.get(key) or 0), key))

    def reserve(self, key: str, amount: float, limit: float, ttl: float) -> bool:
        script = lambda: self._reserve(keys=[key], args=[amount, limit, int(ttl)])  # noqa: E731
        return bool(self._call("reserve", script, key, amount, limit, ttl))

    def add(self, key: str, amount: float, ttl: float) -> None:
        def change():
            pipe = self._redis.pipeline()
            pipe.incrbyfloat(key, amount)
            pipe.expire(key, int(ttl))
            pipe.execute()

        self._call("add", change, key, amount, ttl)


def counters_for(redis_url: str | None) -> MemoryCounters | RedisCounters:
    return RedisCounters(redis_url) if redis_url else MemoryCounters()
