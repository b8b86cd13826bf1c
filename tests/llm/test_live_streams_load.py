"""Fifty slow live streams at once under gunicorn gthread (two workers), while other visitors read pages and vote:
pages and votes stay under a second at the 95th percentile, with no errors. With the production threads (8 a
worker) the gate lets each worker stream on half of them and tells the other battles the site is busy; with
threads to spare, all fifty stream at once. The harness is tests/live_load.py (also a benchmark by command)."""

from __future__ import annotations

import pytest

from tests.gunicorn_server import GunicornServer
from tests.live_load import add_slow_models, failure_kinds, p95, run_live_load, slow_llm_server

STREAMS = 50


@pytest.fixture
def slow_llm(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_LIVE_KEY", "test-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_OFFLINE_MODE", "true")
    # 160 words at 20 a second: each stream stays open about eight seconds.
    with slow_llm_server(160) as url:
        yield url


@pytest.mark.parametrize(("threads", "per_worker"), [(8, 0), (64, 56)], ids=["production-threads", "all-fifty-open"])
def test_fifty_slow_streams_never_slow_pages_and_votes(database_url, demo_loaded, slow_llm, tmp_path, threads,
                                                        per_worker):  # fmt: skip
    add_slow_models(database_url, slow_llm)
    # Each stream takes about 8 s; on a CI machine whose two cores another test file shares, fifty of them and the
    # slow model's server can take several times that. The time limit has its own test (test_live_battles): here
    # a starved machine must not pass for streams failing.
    env = {"ARENA_LIVE_STREAMS_PER_WORKER": str(per_worker), "ARENA_LIVE_MAX_CONCURRENT": "100",
           "ARENA_LIVE_TIMEOUT_SECONDS": "300"}  # fmt: skip
    with GunicornServer(database_url, workers=2, threads=threads, extra_env=env, production_config=True,
                        log_path=tmp_path / "gunicorn.log") as server:  # fmt: skip
        result = run_live_load(server.url, streams=STREAMS)
    print(result.summary())
    assert result.errors == []
    assert p95(result.page_seconds) < 1.0 and p95(result.vote_seconds) < 1.0, result.summary()
    assert len(result.vote_seconds) >= 20, "too few votes were measured to judge"
    # Every battle was either streamed whole or told the site was busy, with when to come back.
    assert set(result.started) <= {200, 503} and set(result.streamed) <= {200, 503}
    assert result.busy_without_retry_after == 0
    assert result.endings == {"done": result.streamed[200]} and failure_kinds(database_url) == {}
    assert sum(result.started.values()) == STREAMS
    if per_worker == 0:
        # Half of each worker's 8 threads at most, so at least 4 of each worker's threads were left for votes.
        assert 1 <= result.most_open <= 8 and result.streamed[503] + result.started[503] >= STREAMS - 8
    else:
        assert result.most_open == STREAMS
