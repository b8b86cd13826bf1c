"""Admission of live battles (arena/web/live_gate.py): streams per worker, a cap across workers kept in the shared
store (memory, and Redis at ARENA_TEST_REDIS_URL), the daily budget overall and per network, and what a
visitor is told when the site is busy (503 with Retry-After, nothing stored)."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from sqlalchemy import func, select

from arena import create_app
from arena.models import Battle, Prompt
from arena.web.live_gate import LiveGate, Refusal, Ticket
from arena.web.shared_counters import MemoryCounters, RedisCounters
from tests.conftest import CSRF_INPUT, REDIS_URL, make_settings, skip_or_fail
from tests.llm.test_live_battles import MESSAGE, STREAM_URL, add_live_models, csrf_of, start, stream_of


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_LIVE_KEY", "test-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(params=["memory", "redis"])
def shared(request):
    """A store two gates share, as two gunicorn workers share Redis (or one process its memory)."""
    if request.param == "memory":
        return lambda: MemoryCounters()
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).flushdb()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
    return lambda: RedisCounters(REDIS_URL)


def gate(counters, **settings) -> LiveGate:
    return LiveGate(make_settings("sqlite://", **settings), counters)


def test_a_worker_holds_at_most_its_share_of_streams():
    one = gate(MemoryCounters(), live_streams_per_worker=2)
    first, second = one.admit("n", 0.0), one.admit("n", 0.0)
    assert isinstance(first, Ticket) and isinstance(second, Ticket)
    refused = one.admit("n", 0.0)
    assert isinstance(refused, Refusal) and refused.retry_after > 0 and "Too many live battles" in refused.reason
    assert one.busy("n") is not None
    first.close()
    first.close()  # closing twice frees one slot, once
    assert one.open_here == 1 and one.busy("n") is None
    assert isinstance(one.admit("n", 0.0), Ticket)


def test_the_share_follows_the_workers_threads():
    default = gate(MemoryCounters())
    default.fit_threads(8)
    assert default.streams_per_worker == 4
    explicit = gate(MemoryCounters(), live_streams_per_worker=20)
    explicit.fit_threads(8)
    assert explicit.streams_per_worker == 7  # never every thread: one is always left for pages and votes


def test_a_stream_service_worker_streams_on_all_but_a_few_threads():
    # It serves only the live battles: the spare threads are for their form and messages, not for pages.
    default = gate(MemoryCounters(), live_max_concurrent=500)
    default.fit_stream_service(128)
    assert default.streams_per_worker == 124
    assert [isinstance(default.admit("n", 0.0), Ticket) for _ in range(125)].count(True) == 124
    explicit = gate(MemoryCounters(), live_streams_per_worker=200)
    explicit.fit_stream_service(128)
    assert explicit.streams_per_worker == 127


def test_the_overall_cap_holds_across_workers(shared):
    store = shared()
    worker_1, worker_2 = gate(store, live_max_concurrent=2), gate(shared_like(store), live_max_concurrent=2)
    held = [worker_1.admit("n", 0.0), worker_2.admit("n", 0.0)]
    assert all(isinstance(t, Ticket) for t in held)
    assert isinstance(worker_1.admit("n", 0.0), Refusal) and isinstance(worker_2.admit("n", 0.0), Refusal)
    assert worker_2.busy("n") is not None
    held[0].close()
    assert isinstance(worker_2.admit("n", 0.0), Ticket)
    assert worker_1.open_here == 0  # a refused admission takes nothing from the worker's own share


def shared_like(store):
    """A second worker's handle on the same store: its own Redis client, or the same memory."""
    return RedisCounters(REDIS_URL) if isinstance(store, RedisCounters) else store


def test_the_daily_budget_holds_overall_and_per_network(shared):
    store = shared()
    one = gate(store, live_daily_budget_usd=1.0, live_network_daily_budget_usd=0.5, live_max_concurrent=100)
    first = one.admit("net-1", 0.3)
    assert isinstance(first, Ticket)
    refused = one.admit("net-1", 0.3)  # 0.6 > the network's 0.5
    assert isinstance(refused, Refusal) and "budget" in refused.reason and 0 < refused.retry_after <= 24 * 3600
    assert isinstance(one.admit("net-2", 0.3), Ticket)
    assert isinstance(one.admit("net-3", 0.3), Ticket)
    assert isinstance(one.admit("net-4", 0.3), Refusal)  # 1.2 > the overall 1.0
    first.close(actual_cost=0.05)  # the real cost replaces the estimate
    assert isinstance(one.admit("net-1", 0.3), Ticket)  # network 0.05 + 0.3 <= 0.5, overall 0.95 <= 1.0
    assert isinstance(one.admit("net-4", 0.01), Ticket)
    assert isinstance(one.admit("net-4", 0.3), Refusal)
    assert one.open_here == 4  # no refused admission kept a slot


def test_the_network_budget_defaults_to_a_tenth_of_the_overall_one():
    settings = make_settings("sqlite://", live_daily_budget_usd=20.0).validated()
    assert settings.live_network_daily_budget_usd == 2.0


def test_a_slot_lapses_when_its_holder_died():
    store = MemoryCounters()
    assert store.acquire_slot("k", "dead-worker", 1, ttl=-1)  # already past its time
    assert store.acquire_slot("k", "alive", 1, ttl=60)


def priced_models(session_factory, llm_server) -> None:
    from arena.db import transaction
    from arena.models import Model

    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    with transaction(session_factory) as s:
        for model in s.scalars(select(Model)):
            model.meta = {**model.meta, "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}


def test_a_spent_budget_is_a_503_with_retry_after_and_stores_nothing(database_url, session_factory, llm_server):
    priced_models(session_factory, llm_server)
    # A battle's estimate (two calls, ~1000 tokens out each) is about $4; the budget allows one.
    app = create_app(make_settings(database_url, live_daily_budget_usd=5.0, live_network_daily_budget_usd=5.0))
    client = app.test_client()
    _, events = stream_of(client, start(client).get_data(as_text=True))
    assert [name for name, _, _ in events][-2:] == ["done", "close"]
    spent = app.extensions["arena.live_gate"].counters
    day_key = next(iter(spent._sums))
    # Settled to the real cost: a few dozen tokens each way, far below the estimate.
    assert 0 < spent.total(day_key) < 0.5
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(Prompt))
    app.extensions["arena.live_gate"].counters.add(day_key, 4.9, 3600)
    refused = start(client)
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    assert "budget for live battles is spent" in refused.get_data(as_text=True)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == before
    app.extensions["arena.engine"].dispose()


def test_a_busy_site_refuses_new_live_battles_and_keeps_a_refused_stream_pending(
    database_url, session_factory, llm_server
):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    app = create_app(make_settings(database_url, live_streams_per_worker=1))
    client = app.test_client()
    page = start(client).get_data(as_text=True)
    live_gate = app.extensions["arena.live_gate"]
    held = live_gate.admit("elsewhere", 0.0)  # another stream holds the worker's only slot
    busy = start(client, headers={"HX-Request": "true"})
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "15"
    assert "The site is busy" in busy.get_data(as_text=True)
    stream = client.get(STREAM_URL.search(page).group(1))
    assert stream.status_code == 503 and "Retry-After" in stream.headers
    with session_factory() as s:
        assert s.scalars(select(Battle.meta)).one()["live"] == "pending"  # nothing spent: it can run later
        assert s.scalar(select(func.count()).select_from(Prompt)) == 1
    held.close()
    _, events = stream_of(client, page)
    assert [name for name, _, _ in events][-2:] == ["done", "close"]
    assert live_gate.open_here == 0  # the finished stream gave its slot back
    app.extensions["arena.engine"].dispose()


def test_a_stream_the_visitor_leaves_gives_its_slot_back(app_with_live_server, session_factory, llm_server):
    app, base = app_with_live_server
    add_live_models(session_factory, llm_server, "slow", "kind-two")
    llm_server.replies["slow"] = " ".join(f"word{i}" for i in range(200))
    visitor = requests.Session()
    csrf = CSRF_INPUT.search(visitor.get(base + "/live").text).group(1)
    page = visitor.post(base + "/live", data={"message": MESSAGE, "csrf_token": csrf}).text
    stream = visitor.get(base + STREAM_URL.search(page).group(1), stream=True, timeout=30)
    assert next(stream.iter_lines()).startswith(b"event: ")
    live_gate = app.extensions["arena.live_gate"]
    assert live_gate.open_here == 1
    stream.close()
    gone = threading.Event()
    for _ in range(100):
        if live_gate.open_here == 0:
            gone.set()
            break
        gone.wait(0.1)
    assert gone.is_set(), "the slot of a closed stream was never freed"


@pytest.fixture
def app_with_live_server(database_url):
    from werkzeug.serving import make_server

    app = create_app(make_settings(database_url))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    app.extensions["arena.engine"].dispose()


def test_fresh_cookies_do_not_multiply_a_networks_live_battles(database_url, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    app = create_app(make_settings(database_url, secret_key=f"live-{uuid.uuid4()}", rate_limit_enabled=True,
                                   rate_limit_live="10 per minute", rate_limit_live_network="3 per minute",
                                   rate_limit_network="1000 per minute"))  # fmt: skip
    statuses = []
    for _ in range(5):
        fresh = app.test_client()  # a new visitor each time, same address
        statuses.append(fresh.post("/live", data={"message": MESSAGE, "csrf_token": csrf_of(fresh)}).status_code)
    assert statuses == [200, 200, 200, 429, 429]
    app.extensions["arena.engine"].dispose()
