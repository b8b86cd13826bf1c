"""Admin pages: a token is required (401 without, 403 wrong); excluded votes are counted and can be re-included."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select, update

from arena import create_app
from arena.db import transaction
from arena.models import Vote
from tests.conftest import make_settings, parse_battle_page

TOKEN = "admin-token-for-tests-0123456789"


@pytest.fixture
def admin_app(database_url):
    app = create_app(make_settings(database_url, admin_token=TOKEN))
    yield app
    app.extensions["arena.engine"].dispose()


@pytest.fixture
def with_votes(admin_app, demo_loaded, session_factory):
    client = admin_app.test_client()
    for _ in range(6):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        client.post(action, data={"outcome": "tie", "csrf_token": csrf})
    with transaction(session_factory) as s:
        ids = s.scalars(select(Vote.id).order_by(Vote.id)).all()
        s.execute(update(Vote).where(Vote.id.in_(ids[:2])).values(counts_for_leaderboard=False,
                                                                  exclusion_reason="daily_cap"))  # fmt: skip
        s.execute(
            update(Vote).where(Vote.id == ids[2]).values(counts_for_leaderboard=False, exclusion_reason="too_fast")
        )


def test_no_token_401_wrong_token_403(admin_app):
    client = admin_app.test_client()
    page = client.get("/admin/")
    assert page.status_code == 401 and "Admin token" in page.get_data(as_text=True)
    assert client.get("/admin/", headers={"Authorization": "Bearer nope"}).status_code == 403
    assert client.get("/admin/", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_disabled_without_a_configured_token(client):
    page = client.get("/admin/")
    assert page.status_code == 403 and "ARENA_ADMIN_TOKEN" in page.get_data(as_text=True)


def test_excluded_votes_are_counted_and_can_be_reincluded(admin_app, with_votes, session_factory):
    client = admin_app.test_client()
    login_page = client.get("/admin/").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    assert client.post("/admin/login", data={"token": "wrong", "csrf_token": csrf}).status_code == 403
    assert client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf}).status_code == 303
    html = client.get("/admin/").get_data(as_text=True)
    assert "6 votes, 3 counting" in html
    # Each reason with its one-line explanation and its count.
    assert re.search(r"daily_cap</td><td>Beyond the visitor&#39;s first [^<]*</td><td class=\"num\">2<", html)
    assert re.search(r"too_fast</td><td>Cast sooner [^<]*</td><td class=\"num\">1<", html)
    assert client.post("/admin/votes/reinclude", data={"reason": "daily_cap"}).status_code == 400  # no CSRF token
    done = client.post("/admin/votes/reinclude", data={"reason": "daily_cap", "csrf_token": csrf})
    assert done.status_code == 303 and "2+votes" in done.headers["Location"].replace("%20", "+")
    with session_factory() as s:
        rows = s.execute(select(Vote.counts_for_leaderboard, Vote.exclusion_reason)).all()
        marked = s.scalars(select(Vote.id).where(Vote.reincluded_at.is_not(None))).all()
    assert sorted(rows, key=str) == sorted([(True, None)] * 5 + [(False, "too_fast")], key=str)
    assert len(marked) == 2  # re-included: the recompute job's filters leave them counted from now on
    assert "2 votes re-included by an admin" in client.get("/admin/").get_data(as_text=True)


def login(client) -> str:
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/").get_data(as_text=True)).group(1)
    assert client.post("/admin/login", data={"token": TOKEN, "csrf_token": csrf}).status_code == 303
    return csrf


def test_admin_pages_are_never_cached(admin_app):
    client = admin_app.test_client()
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"  # the login page too
    login(client)
    assert client.get("/admin/").headers["Cache-Control"] == "no-store"


def test_a_bearer_token_post_needs_no_csrf_token_but_a_session_post_does(admin_app, with_votes):
    bearer = admin_app.test_client()
    done = bearer.post(
        "/admin/votes/reinclude", data={"reason": "daily_cap"}, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert done.status_code == 303
    wrong = bearer.post("/admin/votes/reinclude", data={"reason": "daily_cap"}, headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 403
    browser = admin_app.test_client()
    login(browser)
    assert browser.post("/admin/votes/reinclude", data={"reason": "daily_cap"}).status_code == 400


def test_an_admin_session_expires_and_can_log_out(admin_app, monkeypatch):
    from arena.web import admin

    client = admin_app.test_client()
    csrf = login(client)
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/admin/").status_code == 401
    login(client)
    real = admin.time.time
    monkeypatch.setattr(admin.time, "time", lambda: real() + admin.ADMIN_SESSION_SECONDS + 1)
    assert client.get("/admin/").status_code == 401  # hours later, not a year


def test_admin_login_is_throttled_per_network(database_url):
    import uuid

    settings = make_settings(database_url, admin_token=TOKEN, rate_limit_enabled=True,
                             secret_key=f"admin-{uuid.uuid4()}", rate_limit_admin_login="3 per minute")  # fmt: skip
    app = create_app(settings)
    statuses = []
    for _ in range(5):
        fresh = app.test_client()  # new cookies each time: the limit is the network's
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', fresh.get("/admin/").get_data(as_text=True)).group(1)
        statuses.append(fresh.post("/admin/login", data={"token": "guess", "csrf_token": csrf}).status_code)
    assert statuses == [403, 403, 403, 429, 429]
    app.extensions["arena.engine"].dispose()


def test_bearer_token_guesses_are_throttled_per_network(database_url):
    """20 wrong Bearer tokens from one network: at most 5 answers of 403, then 429 (even for the right token from
    there); the right token from another network still works."""
    import uuid

    app = create_app(make_settings(database_url, admin_token=TOKEN, rate_limit_enabled=True, proxy_hops=1,
                                   secret_key=f"admin-{uuid.uuid4()}"))  # fmt: skip
    guesser = {"X-Forwarded-For": "203.0.113.50"}
    statuses = [app.test_client().get("/admin/", headers={**guesser, "Authorization": f"Bearer guess-{k}"}).status_code
                for k in range(20)]  # fmt: skip
    assert statuses.count(403) <= 5 and statuses == [403] * statuses.count(403) + [429] * statuses.count(429)
    assert statuses.count(429) >= 15
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert app.test_client().get("/admin/", headers={**guesser, **right}).status_code == 429
    assert app.test_client().get("/admin/", headers={"X-Forwarded-For": "198.51.100.9", **right}).status_code == 200
    app.extensions["arena.engine"].dispose()


def test_logout_revokes_a_copy_of_the_session_cookie(admin_app):
    browser = admin_app.test_client()
    csrf = login(browser)
    name = admin_app.config["SESSION_COOKIE_NAME"]
    copied = browser.get_cookie(name).value
    thief = admin_app.test_client()
    thief.set_cookie(name, copied)
    assert thief.get("/admin/").status_code == 200  # the copy works while the session lives
    assert browser.post("/admin/logout", data={"csrf_token": csrf}).status_code == 303
    assert browser.get("/admin/").status_code == 401
    assert thief.get("/admin/").status_code == 401  # and not after the logout
    # Another login is a new session; the old copy stays dead.
    login(browser)
    assert browser.get("/admin/").status_code == 200 and thief.get("/admin/").status_code == 401
