"""A vote belongs to the visitor who was shown the battle; a key deleted under privacy is never used again; new
identities per network are capped per hour in the rate-limit store."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from arena import create_app
from arena.models import Battle, RetiredVisitorKey, TermsAcceptance, Vote
from arena.voting.retired_keys import digest
from tests.conftest import CSRF_INPUT, make_settings, parse_battle_page
from tests.voting.test_privacy import shown_key

HX = {"HX-Request": "true"}


def count(session_factory, stmt) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(stmt.subquery()))


def votes(session_factory) -> list[tuple[str | None, str | None]]:
    with session_factory() as s:
        return list(s.execute(select(Vote.voter_key, Vote.network_hash)).all())


def test_another_visitors_vote_is_refused_with_a_reason_and_nothing_stored(client, app, demo_loaded, session_factory):
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    thief = app.test_client()
    thief_csrf = CSRF_INPUT.search(thief.get("/").get_data(as_text=True)).group(1)

    refused = thief.post(action, data={"outcome": "model_a", "csrf_token": thief_csrf})
    assert refused.status_code == 403 and "shown to another visitor" in refused.get_data(as_text=True)
    partial = thief.post(action, data={"outcome": "model_a", "csrf_token": thief_csrf}, headers=HX)
    assert partial.status_code == 403 and "shown to another visitor" in partial.get_data(as_text=True)
    assert votes(session_factory) == []
    with session_factory() as s:  # the battle is still open for its owner
        assert s.scalars(select(Battle.status).where(Battle.judge_key.is_not(None))).all().count("open") == 2

    assert client.post(action, data={"outcome": "model_b", "csrf_token": csrf}).status_code == 303
    (voter, network), = votes(session_factory)  # fmt: skip
    assert voter == shown_key(client) and network and len(network) == 32


def test_a_browser_without_its_cookie_cannot_vote(app, demo_loaded, session_factory):
    shown = app.test_client()
    action, csrf = parse_battle_page(shown.get("/").get_data(as_text=True))
    cookieless = app.test_client()
    # Same CSRF session, so only the identity is missing: the CSRF token lives in the cookie too.
    cookieless.set_cookie("session", shown.get_cookie("session").value)
    with cookieless.session_transaction() as session:
        session.pop("visitor")
    refused = cookieless.post(action, data={"outcome": "tie", "csrf_token": csrf})
    assert refused.status_code == 403 and "cookie" in refused.get_data(as_text=True)
    assert votes(session_factory) == []


def test_the_vote_row_keeps_the_network_hash_not_the_address(database_url, demo_loaded, session_factory):
    app = create_app(make_settings(database_url, proxy_hops=1))
    for address in ("203.0.113.7", "203.0.113.200", "198.51.100.9"):
        client = app.test_client()
        headers = {"X-Forwarded-For": address}
        action, csrf = parse_battle_page(client.get("/", headers=headers).get_data(as_text=True))
        assert client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers=headers).status_code == 303
    networks = [n for _, n in votes(session_factory)]
    assert networks[0] == networks[1] != networks[2]  # the same /24, then another
    assert not any("203.0.113" in n or "198.51" in n for n in networks)
    app.extensions["arena.engine"].dispose()


def test_a_deleted_key_is_never_used_again_by_a_stale_copy_of_the_cookie(database_url, demo_loaded, session_factory):
    app = create_app(make_settings(database_url, require_terms=True))
    client = app.test_client()
    html = client.get("/").get_data(as_text=True)
    action, csrf = parse_battle_page(html)
    battle = html.split('name="battle" value="')[1].split('"')[0]
    client.post("/terms/accept", data={"csrf_token": csrf, "battle": battle})
    assert client.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 303
    key = shown_key(client)
    stale = app.test_client()  # another tab's (or a script's) copy of the cookie, terms accepted and all
    stale.set_cookie("session", client.get_cookie("session").value)
    stale_action, stale_csrf = parse_battle_page(stale.get("/").get_data(as_text=True))
    assert count(session_factory, select(Battle.id).where(Battle.judge_key == key)) == 2

    page = client.get("/privacy").get_data(as_text=True)
    deleted = client.post("/privacy/delete", data={"csrf_token": CSRF_INPUT.search(page).group(1), "confirm": "yes"})
    assert deleted.status_code == 303
    with session_factory() as s:
        assert s.scalars(select(RetiredVisitorKey.key_digest)).all() == [digest(key)]

    # A battle shown before the deletion is gone; one the stale copy asks for is shown under a new identity.
    refused = stale.post(stale_action, data={"outcome": "model_a", "csrf_token": stale_csrf})
    assert refused.status_code in (403, 404) and votes(session_factory) == []
    assert stale.get("/").status_code == 200
    assert shown_key(stale) not in (None, key)
    assert count(session_factory, select(Battle.id).where(Battle.judge_key == key)) == 0
    # ... who must accept the terms again before voting.
    again_action, again_csrf = parse_battle_page(stale.get("/").get_data(as_text=True))
    assert stale.post(again_action, data={"outcome": "tie", "csrf_token": again_csrf}).status_code == 403
    assert count(session_factory, select(TermsAcceptance.id).where(TermsAcceptance.visitor_key == key)) == 0
    app.extensions["arena.engine"].dispose()


def test_a_vote_under_a_key_retired_since_the_battle_was_shown_is_refused(database_url, demo_loaded, session_factory):
    """The race: the battle was stored under the key just before the deletion retired it."""
    from arena.db import transaction
    from arena.voting.retired_keys import retire

    app = create_app(make_settings(database_url))
    client = app.test_client()
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    key = shown_key(client)
    with transaction(session_factory) as s:
        retire(s, key)
        retire(s, key)  # idempotent
    refused = client.post(action, data={"outcome": "tie", "csrf_token": csrf})
    assert refused.status_code == 403 and "new identity" in refused.get_data(as_text=True)
    assert votes(session_factory) == [] and shown_key(client) not in (None, key)
    app.extensions["arena.engine"].dispose()


def capped_app(database_url, **overrides):
    values = dict(rate_limit_enabled=True, proxy_hops=1, new_visitors_per_network_hour=3, require_terms=True)
    values.update(overrides)
    return create_app(make_settings(database_url, secret_key=f"cap-{uuid.uuid4()}", **values))


def test_new_identities_per_network_are_capped_on_every_route_that_commits_one(database_url, demo_loaded):
    app = capped_app(database_url)
    school = {"X-Forwarded-For": "192.0.2.10"}
    # Looking costs nothing: pages, battles and challenges mint an identity but spend none of the budget.
    for path in ("/", "/live", "/terms/challenge", "/", "/live"):
        assert app.test_client().get(path, headers=school).status_code == 200
    # Each route where an identity commits to voting spends the same hourly budget of its network: accepting
    # the terms (and starting a live battle, below).
    first = app.test_client()
    csrf = CSRF_INPUT.search(first.get("/terms", headers=school).get_data(as_text=True)).group(1)
    assert first.post("/terms/accept", data={"csrf_token": csrf}, headers=school).status_code == 303
    for _ in range(2):
        other = app.test_client()
        csrf = CSRF_INPUT.search(other.get("/terms", headers=school).get_data(as_text=True)).group(1)
        assert other.post("/terms/accept", data={"csrf_token": csrf}, headers=school).status_code == 303
    second = app.test_client()
    csrf = CSRF_INPUT.search(second.get("/terms", headers=school).get_data(as_text=True)).group(1)
    refused = second.post("/terms/accept", data={"csrf_token": csrf}, headers=school)
    assert refused.status_code == 429 and "Too many new visitors from your network" in refused.get_data(True)
    live = app.test_client()
    csrf = CSRF_INPUT.search(live.get("/live", headers=school).get_data(as_text=True)).group(1)
    assert live.post("/live", data={"csrf_token": csrf, "message": "hello"}, headers=school).status_code == 429

    # Known visitors of that network go on; another network has its own budget; reading pages costs nothing.
    assert first.get("/", headers=school).status_code == 200
    accepting = app.test_client()
    csrf = CSRF_INPUT.search(accepting.get("/terms", headers={"X-Forwarded-For": "192.0.2.200"}).get_data(True))
    assert accepting.post("/terms/accept", data={"csrf_token": csrf.group(1)},
                          headers={"X-Forwarded-For": "192.0.2.200"}).status_code == 429  # same /24  # fmt: skip
    csrf = CSRF_INPUT.search(accepting.get("/terms", headers={"X-Forwarded-For": "198.51.100.1"}).get_data(True))
    assert accepting.post("/terms/accept", data={"csrf_token": csrf.group(1)},
                          headers={"X-Forwarded-For": "198.51.100.1"}).status_code == 303  # fmt: skip
    assert app.test_client().get("/leaderboard", headers=school).status_code == 200
    app.extensions["arena.engine"].dispose()


def test_the_identity_cap_holds_across_workers_with_redis(database_url, demo_loaded):
    import redis

    from tests.conftest import REDIS_URL, skip_or_fail

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        skip_or_fail(f"Redis at {REDIS_URL} is not reachable: {exc}")
    secret = f"cap-{uuid.uuid4()}"
    workers = [create_app(make_settings(database_url, secret_key=secret, rate_limit_enabled=True, proxy_hops=1,
                                        new_visitors_per_network_hour=3, redis_url=REDIS_URL))
               for _ in range(2)]  # fmt: skip
    office = {"X-Forwarded-For": "192.0.2.77"}

    def commit(client) -> int:
        csrf = CSRF_INPUT.search(client.get("/", headers=office).get_data(as_text=True)).group(1)
        return client.post("/terms/accept", data={"csrf_token": csrf}, headers=office).status_code

    statuses = [commit(workers[k % 2].test_client()) for k in range(5)]
    assert statuses == [303, 303, 303, 429, 429]  # one count, shared: apart, neither worker reaches 3
    for app in workers:
        app.extensions["arena.engine"].dispose()


def test_the_cap_is_a_setting(monkeypatch):
    import pytest

    from arena.config import ConfigError, Settings

    monkeypatch.setenv("ARENA_NEW_VISITORS_PER_NETWORK_HOUR", "12")
    assert Settings.from_env().new_visitors_per_network_hour == 12
    assert Settings().new_visitors_per_network_hour == 30
    with pytest.raises(ConfigError, match="ARENA_NEW_VISITORS_PER_NETWORK_HOUR"):
        Settings(secret_key="x", new_visitors_per_network_hour=0).validated()
