"""The in-memory rate-limit store: the same counts as limits' own, without a thread per hit."""

from __future__ import annotations

import time

from limits import parse
from limits.strategies import FixedWindowRateLimiter

from arena import create_app
from arena.web import limit_storage
from arena.web.limit_storage import SweptMemoryStorage
from tests.conftest import make_settings


def test_the_site_without_redis_keeps_its_limits_in_the_swept_store(tmp_path):
    app = create_app(make_settings(f"sqlite:///{tmp_path / 'a.sqlite3'}", rate_limit_enabled=True))
    assert isinstance(app.extensions["arena.limiter"].limiter.storage, SweptMemoryStorage)
    app.extensions["arena.engine"].dispose()


def test_a_limit_refuses_and_admits_again_on_time_between_sweeps(monkeypatch):
    monkeypatch.setattr(limit_storage, "SWEEP_SECONDS", 60.0)  # no sweep during the test: expiry is lazy
    storage = SweptMemoryStorage()
    limiter = FixedWindowRateLimiter(storage)
    two_a_second = parse("2 per 1 second")
    assert [limiter.hit(two_a_second, "visitor") for _ in range(3)] == [True, True, False]
    assert limiter.hit(two_a_second, "someone-else")  # per key
    time.sleep(1.1)
    # The window passed: admitted again, counted from one.
    assert [limiter.hit(two_a_second, "visitor") for _ in range(3)] == [True, True, False]


def test_hits_share_one_sweep_timer_and_the_sweep_frees_expired_keys(monkeypatch):
    monkeypatch.setattr(limit_storage, "SWEEP_SECONDS", 0.2)
    storage = SweptMemoryStorage()
    storage.incr("first", 1)
    timer = storage.timer
    for k in range(500):
        storage.incr(f"key-{k}", 1)
    assert storage.timer is timer  # the stock store would have armed a new timer thread on most of these
    time.sleep(1.1)  # every key expired; the next hit arms the next sweep
    storage.incr("late", 5)
    time.sleep(0.6)
    assert set(storage.storage) == {"late"} and set(storage.expirations) == {"late"}
