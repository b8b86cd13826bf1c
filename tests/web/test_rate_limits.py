"""Rate limits hold per visitor, across workers (Redis), and say why they refused."""

from __future__ import annotations

import uuid

import pytest

from arena import create_app
from tests.conftest import REDIS_URL, make_settings, parse_battle_page, skip_or_fail


def limited_app(database_url, **overrides):
    values = dict(rate_limit_enabled=True, rate_limit_battle="5 per minute", rate_limit_vote="3 per minute",
                  rate_limit_network="1000 per minute")  # fmt: skip
    values.update(overrides)
    # A fresh secret per test keeps the (hashed) limit keys of one test away from another's counters.
    return create_app(make_settings(database_url, secret_key=f"limits-{uuid.uuid4()}", **values))


def test_battles_beyond_the_limit_get_429_with_a_reason(database_url, demo_loaded):
    app = limited_app(database_url)
    client = app.test_client()
    client.get("/")  # the first page starts the session; cookieless requests are counted by network
    statuses = [client.get("/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    refused = client.get("/")
    assert "Too Many Requests" in refused.get_data(as_text=True) and "5 per 1 minute" in refused.get_data(as_text=True)
    assert refused.headers.get("Retry-After")
    other_visitor = app.test_client()
    assert other_visitor.get("/").status_code == 200  # per visitor, not global
    app.extensions["arena.engine"].dispose()


def test_votes_are_limited_separately(database_url, demo_loaded):
    app = limited_app(database_url, rate_limit_battle="100 per minute")
    client = app.test_client()
    client.get("/")
    statuses = []
    for _ in range(4):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        statuses.append(client.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code)
    assert statuses == [303, 303, 303, 429]
    app.extensions["arena.engine"].dispose()


def test_network_limit_catches_a_visitor_who_drops_cookies(database_url, demo_loaded):
    app = limited_app(database_url, rate_limit_battle="100 per minute", rate_limit_network="4 per minute")
    statuses = [app.test_client().get("/").status_code for _ in range(5)]  # a new "visitor" each time
    assert statuses == [200] * 4 + [429]
    app.extensions["arena.engine"].dispose()


def test_limits_hold_across_workers_with_redis(database_url, demo_loaded):
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
    secret = f"limits-{uuid.uuid4()}"
    workers = [
        create_app(
            make_settings(
                database_url,
                secret_key=secret,
                rate_limit_enabled=True,
                redis_url=REDIS_URL,
                rate_limit_battle="4 per minute",
            )
        )  # fmt: skip
        for _ in range(2)
    ]
    first, second = workers[0].test_client(), workers[1].test_client()
    first.get("/")  # starts the session (counted by network)
    cookie = first.get_cookie("session")
    second.set_cookie("session", cookie.value)
    statuses = [c.get("/").status_code for c in (first, second, first, second, first)]
    # One visitor, two workers, one shared count: apart, neither worker would reach 4.
    assert statuses == [200, 200, 200, 200, 429]
    for app in workers:
        app.extensions["arena.engine"].dispose()


@pytest.mark.parametrize("hops", [1])
def test_proxy_hops_trust_the_forwarded_address_and_secure_cookies(database_url, demo_loaded, hops):
    app = limited_app(database_url, proxy_hops=hops, rate_limit_battle="100 per minute",
                      rate_limit_network="2 per minute")  # fmt: skip
    client = app.test_client()
    a = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    b = {"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"}
    assert [client.get("/", headers=a).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/", headers=b).status_code == 200  # another network, its own count
    assert "Secure" in client.get("/", headers=b).headers.get("Set-Cookie", "Secure")
    app.extensions["arena.engine"].dispose()
