"""Terms accepted once before the first vote, stored with version and time; a new version asks again."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, func, select

from arena import create_app
from arena.config import ConfigError, Settings
from arena.models import Battle, TermsAcceptance, Vote, utcnow
from arena.voting import terms
from tests.conftest import CSRF_INPUT, make_settings, parse_battle_page

HX = {"HX-Request": "true"}
BATTLE_INPUT = re.compile(r'name="battle" value="([^"]+)"')
DISABLED_VOTE = re.compile(r'name="outcome" value="[a-z_]+" aria-disabled="true"')


def terms_app(database_url: str, **overrides):
    return create_app(make_settings(database_url, require_terms=True, **overrides))


@pytest.fixture
def app(database_url):
    app = terms_app(database_url)
    yield app
    app.extensions["arena.engine"].dispose()


def acceptances(session_factory) -> list[tuple[str, str]]:
    with session_factory() as s:
        return list(s.execute(select(TermsAcceptance.visitor_key, TermsAcceptance.version)).all())


def vote_count(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Vote))


def open_battle(client) -> tuple[str, str, str]:
    html = client.get("/").get_data(as_text=True)
    action, csrf = parse_battle_page(html)
    return html, action, csrf


def accept_from(html: str, client, headers=None):
    token = BATTLE_INPUT.search(html)
    data = {"csrf_token": CSRF_INPUT.search(html).group(1)}
    if token:
        data["battle"] = token.group(1)
    return client.post("/terms/accept", data=data, headers=headers or {})


def test_the_production_default_asks_for_the_terms(monkeypatch):
    monkeypatch.delenv("ARENA_TERMS_VERSION", raising=False)
    assert Settings().require_terms and Settings.from_env().require_terms
    assert Settings.from_env().terms_version == "2026-11"
    monkeypatch.setenv("ARENA_TERMS_VERSION", "2027-03")
    assert Settings.from_env().terms_version == "2027-03"
    with pytest.raises(ConfigError, match="ARENA_TERMS_VERSION"):
        Settings(secret_key="x", terms_version="v" * 33).validated()


def test_a_new_visitor_sees_the_accept_control_and_cannot_press_vote(client, demo_loaded, session_factory):
    html, action, _ = open_battle(client)
    assert 'action="/terms/accept"' in html and "I accept the terms" in html
    assert 'href="/terms"' in html and 'href="/privacy"' in html
    assert len(DISABLED_VOTE.findall(html)) == 4
    # The accept form returns the visitor to this very battle.
    assert BATTLE_INPUT.search(html).group(1) == action.split("/")[2]
    assert acceptances(session_factory) == []


def test_a_vote_before_accepting_is_refused_with_the_reason_and_nothing_stored(client, demo_loaded, session_factory):
    _, action, csrf = open_battle(client)
    page = client.post(action, data={"outcome": "model_a", "csrf_token": csrf})
    html = page.get_data(as_text=True)
    assert page.status_code == 403
    assert "Accept the terms first" in html and 'action="/terms/accept"' in html and "<html" in html

    fragment = client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX)
    assert fragment.status_code == 403
    assert fragment.headers["HX-Retarget"] == "#vote-status"
    body = fragment.get_data(as_text=True)
    assert "Accept the terms first" in body and "<html" not in body and 'hx-target="#battle"' in body

    assert vote_count(session_factory) == 0
    with session_factory() as s:
        assert s.scalars(select(Battle.status)).one() == "open"  # still votable once the terms are accepted


def test_accepting_without_javascript_returns_to_the_battle_and_the_vote_counts(client, demo_loaded, session_factory):
    html, action, _ = open_battle(client)
    before = utcnow()
    accepted = accept_from(html, client)
    assert accepted.status_code == 303
    assert accepted.headers["Location"] == action.removesuffix("/vote")
    page = client.get(accepted.headers["Location"]).get_data(as_text=True)
    assert DISABLED_VOTE.search(page) is None and "I accept the terms" not in page
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        row = s.scalars(select(TermsAcceptance)).one()
    assert (row.visitor_key, row.version) == (battle.judge_key, "2026-11")
    assert before - timedelta(seconds=1) <= row.accepted_at <= utcnow()

    _, csrf = parse_battle_page(page)
    assert client.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 303
    assert vote_count(session_factory) == 1


def test_accepting_with_htmx_swaps_the_same_battle_back_with_voting_on(client, demo_loaded, session_factory):
    html, action, csrf = open_battle(client)
    response = accept_from(html, client, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert 'id="battle"' in body and f'action="{action}"' in body
    assert DISABLED_VOTE.search(body) is None
    # The "accept first" notice, if one was showing, is cleared out of band.
    assert 'id="vote-status"' in body and 'hx-swap-oob="true"' in body
    vote = client.post(action, data={"outcome": "model_b", "csrf_token": csrf}, headers=HX)
    assert vote.status_code == 200 and "You voted: B is better" in vote.get_data(as_text=True)


def test_accepting_again_keeps_one_record_and_its_first_time(client, demo_loaded, session_factory):
    html, _, _ = open_battle(client)
    accept_from(html, client)
    with session_factory() as s:
        first = s.scalars(select(TermsAcceptance)).one().accepted_at
    accept_from(html, client)
    client.post("/terms/accept", data={"csrf_token": CSRF_INPUT.search(html).group(1)})
    with session_factory() as s:
        rows = s.scalars(select(TermsAcceptance)).all()
    assert len(rows) == 1 and rows[0].accepted_at == first


def test_two_concurrent_accepts_store_one_record(session_factory):
    """The second writer waits on the first (row lock on PostgreSQL, BEGIN IMMEDIATE on SQLite), then finds or
    collides with its row: either way one record, and the caller's transaction stays usable."""
    first_inserted, results, errors = threading.Event(), {}, []

    def first():
        try:
            with session_factory() as s:
                results["first"] = terms.accept(s, "a" * 32, "v1").id
                first_inserted.set()
                threading.Event().wait(0.5)
                s.commit()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            first_inserted.set()

    def second():
        try:
            first_inserted.wait(10)
            with session_factory() as s:
                results["second"] = terms.accept(s, "a" * 32, "v1").id
                s.commit()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert results["first"] == results["second"]
    assert acceptances(session_factory) == [("a" * 32, "v1")]


def test_an_acceptance_in_the_database_is_found_for_a_session_that_forgot_it(client, demo_loaded, session_factory):
    open_battle(client)
    with session_factory() as s:
        key = s.scalars(select(Battle.judge_key)).one()
        terms.accept(s, key, "2026-11")
        s.commit()
    html, _, _ = open_battle(client)
    assert DISABLED_VOTE.search(html) is None and "I accept the terms" not in html


def test_once_accepted_the_session_remembers_it_without_a_lookup(app, client, demo_loaded, session_factory):
    html, _, _ = open_battle(client)
    accept_from(html, client)
    lookups: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "terms_acceptance" in statement:
            lookups.append(statement)

    engine = app.extensions["arena.engine"]
    event.listen(engine, "before_cursor_execute", count)
    try:
        _, action, csrf = open_battle(client)
        assert client.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 303
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert lookups == []


def test_a_new_terms_version_asks_again(database_url, client, demo_loaded, session_factory):
    html, _, _ = open_battle(client)
    accept_from(html, client)
    newer = terms_app(database_url, terms_version="2027-01")
    try:
        again = newer.test_client()
        again.set_cookie("session", client.get_cookie("session").value)  # the same visitor, same secret
        html, action, csrf = open_battle(again)
        assert len(DISABLED_VOTE.findall(html)) == 4
        assert again.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 403
        accept_from(html, again)
        assert again.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 303
    finally:
        newer.extensions["arena.engine"].dispose()
    rows = acceptances(session_factory)
    assert sorted(version for _, version in rows) == ["2026-11", "2027-01"]
    assert len({key for key, _ in rows}) == 1
    assert vote_count(session_factory) == 1


def test_the_terms_page_states_the_version_and_accepts(client, session_factory):
    page = client.get("/terms").get_data(as_text=True)
    assert "Version 2026-11" in page and "I accept the terms" in page
    assert BATTLE_INPUT.search(page) is None
    response = accept_from(page, client)
    assert response.status_code == 303 and response.headers["Location"] == "/"
    assert "You have accepted this version" in client.get("/terms").get_data(as_text=True)
    assert len(acceptances(session_factory)) == 1


def test_accepting_needs_the_csrf_token(client, session_factory):
    response = client.post("/terms/accept", data={})
    assert response.status_code == 400 and "security token" in response.get_data(as_text=True)
    assert acceptances(session_factory) == []
