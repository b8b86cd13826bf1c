"""`arena serve --production`: the page workers and the stream service in their own processes behind the
dispatcher. Twenty slow live streams at once leave pages and votes answering; the site's first stream does not
hold up pages; litellm is loaded in every stream-service worker (at its start) and in no page worker, after
pages, votes and streams; the command ends when a service dies. The same run at 200 streams, with the figures, is
tests/benchmarks/stream_service_bench.py."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import REDIS_URL
from tests.live_load import add_slow_models, failure_kinds, p95, run_live_load, slow_llm_server
from tests.production_site import ProductionSite, first_stream_stall, litellm_loaded

STREAMS = 20


@pytest.fixture
def slow_llm(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_LIVE_KEY", "test-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_OFFLINE_MODE", "true")
    # 100 words at 20 a second: each stream stays open about five seconds, while the voters measure.
    with slow_llm_server(100) as url:
        yield url


@pytest.fixture
def live_counters():
    """Redis at ARENA_TEST_REDIS_URL with no live-battle counters, or None when it cannot be reached."""
    import redis

    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        for key in store.scan_iter("arena:live:*"):
            store.delete(key)
    except redis.RedisError:
        yield None
        return
    yield store
    store.close()


def test_streams_run_beside_the_page_workers_never_in_them(database_url, demo_loaded, slow_llm, live_counters,
                                                            tmp_path):  # fmt: skip
    add_slow_models(database_url, slow_llm)
    args = ("--workers", "2", "--threads", "4", "--stream-workers", "1", "--stream-threads", "32")
    env = {"ARENA_LIVE_MAX_CONCURRENT": "100", "ARENA_LIVE_DAILY_BUDGET_USD": "100"}
    if live_counters is not None:
        # Both services count in the same Redis as every worker did before.
        env["ARENA_REDIS_URL"] = REDIS_URL
    with ProductionSite(database_url, args=args, extra_env=env, log_path=tmp_path / "site.log") as site:
        streams = site.workers("streams")
        assert streams and all(litellm_loaded(pid) for pid in streams), "the stream service preloads litellm"

        baseline, slowest, done = first_stream_stall(site.url, before=1.5, after=3.5)
        assert done
        # Only "pages kept answering": CI's cores are shared (timing targets live in the benchmark), and what would
        # freeze pages, litellm loading in a page worker, is checked directly below.
        assert slowest < baseline + 3.0, (baseline, slowest)

        result = run_live_load(site.url, streams=STREAMS, visitors=2)
        pages = site.workers("web")
        assert pages and not any(litellm_loaded(pid) for pid in pages), "a page worker imported litellm"

        # Half a site must not go on looking whole: when a service dies, the command ends (for its supervisor).
        os.kill(site.master("streams"), signal.SIGKILL)
        assert site.process.wait(timeout=30) != 0
    print(result.summary())
    assert result.errors == []
    assert result.started == {200: STREAMS} and result.streamed == {200: STREAMS}
    assert result.endings == {"done": STREAMS} and failure_kinds(database_url) == {}
    assert result.most_open == STREAMS
    assert len(result.vote_seconds) >= 5, "too few votes were measured to judge"
    assert p95(result.page_seconds) < 3.0 and p95(result.vote_seconds) < 3.0, result.summary()
    if live_counters is not None:
        # The stream service took and gave back its slots, and reserved each battle's cost, in the shared store.
        assert live_counters.zcard("arena:live:open") == 0
        assert list(live_counters.scan_iter("arena:live:spend:*"))
