"""The vote loop over HTTP: anonymity before the vote, one vote per battle, clear errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import func, select, update

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.models import Battle, Model, Reply, Vote, utcnow
from tests.conftest import parse_battle_page
from tests.html_checks import active_content

HX = {"HX-Request": "true"}


def model_names(session_factory) -> list[str]:
    with session_factory() as s:
        rows = s.execute(select(Model.slug, Model.display_name)).all()
    return [name for row in rows for name in row]


def vote_count(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Vote))


def open_battle(client) -> tuple[str, str, str]:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    action, csrf = parse_battle_page(html)
    return html, action, csrf


def test_battle_page_shows_message_and_two_anonymous_replies(client, demo_loaded, session_factory):
    page = client.get("/")
    html = page.get_data(as_text=True)
    assert "Reply A" in html and "Reply B" in html
    for label in ("A is better", "B is better", "Tie", "Both are bad"):
        assert label in html
    for value in ("model_a", "model_b", "tie", "both_bad"):
        assert f'name="outcome" value="{value}"' in html
    exposed = "\n".join([html, str(page.headers), page.request.url])
    for name in model_names(session_factory):
        assert name not in exposed, f"model name {name!r} leaked before the vote"
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        assert str(escape(battle.prompt.text)) in html
        assert battle.public_id not in html.replace(parse_battle_page(html)[0], "")
        assert 0 < battle.sampling_prob <= 1
        assert battle.judge_key and len(battle.judge_key) == 32


def test_vote_without_javascript_redirects_to_the_reveal(client, demo_loaded, session_factory):
    _, action, csrf = open_battle(client)
    response = client.post(action, data={"outcome": "model_b", "csrf_token": csrf})
    assert response.status_code == 303
    reveal = client.get(response.headers["Location"])
    html = reveal.get_data(as_text=True)
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        assert battle.status == "voted" and battle.vote.outcome == "model_b"
        assert battle.vote.dwell_ms is not None and battle.vote.dwell_ms >= 0
        assert battle.model_a.display_name in html and battle.model_b.display_name in html
    assert "You voted: B is better" in html
    assert "New battle" in html


def test_vote_with_htmx_returns_the_reveal_fragment(client, demo_loaded, session_factory):
    _, action, csrf = open_battle(client)
    response = client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html and 'id="battle"' in html
    assert "You voted: Tie" in html
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        assert battle.model_a.display_name in html


def test_htmx_new_battle_is_a_fragment(client, demo_loaded):
    response = client.get("/", headers=HX)
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="battle"' in html and "Reply A" in html
    assert "HX-Request" in response.headers.get("Vary", "")


def test_second_vote_gets_409_and_changes_nothing(client, demo_loaded, session_factory):
    _, action, csrf = open_battle(client)
    assert client.post(action, data={"outcome": "model_a", "csrf_token": csrf}).status_code == 303
    again = client.post(action, data={"outcome": "model_b", "csrf_token": csrf})
    assert again.status_code == 409
    assert "already has a vote" in again.get_data(as_text=True)
    htmx_again = client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers=HX)
    assert htmx_again.status_code == 409 and htmx_again.headers["HX-Retarget"] == "#vote-status"
    with session_factory() as s:
        assert s.scalars(select(Vote.outcome)).all() == ["model_a"]


def test_post_without_valid_csrf_token_is_400(client, demo_loaded, session_factory):
    _, action, _csrf = open_battle(client)
    missing = client.post(action, data={"outcome": "model_a"})
    forged = client.post(action, data={"outcome": "model_a", "csrf_token": "forged"})
    assert missing.status_code == 400 and forged.status_code == 400
    assert "security token" in missing.get_data(as_text=True)
    assert vote_count(session_factory) == 0


def test_unknown_and_forged_battles_are_404(client, demo_loaded, app):
    _, action, csrf = open_battle(client)
    signer = app.extensions["arena.battle_ids"]
    unknown = signer.sign("no-such-battle-id")
    assert client.post(f"/battles/{unknown}/vote", data={"outcome": "model_a", "csrf_token": csrf}).status_code == 404
    token = action.split("/")[2]
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    response = client.post(f"/battles/{tampered}/vote", data={"outcome": "model_a", "csrf_token": csrf})
    assert response.status_code == 404
    assert client.get(f"/battles/{tampered}").status_code == 404


def test_expired_battle_is_410(client, demo_loaded, session_factory):
    _, action, csrf = open_battle(client)
    with transaction(session_factory) as s:
        s.execute(update(Battle).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = client.post(action, data={"outcome": "model_a", "csrf_token": csrf})
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert client.get(action.removesuffix("/vote")).status_code == 410
    assert vote_count(session_factory) == 0


def test_invalid_outcome_is_400(client, demo_loaded, session_factory):
    _, action, csrf = open_battle(client)
    response = client.post(action, data={"outcome": "model_c", "csrf_token": csrf})
    assert response.status_code == 400
    assert "outcome must be one of" in response.get_data(as_text=True)
    assert vote_count(session_factory) == 0


def test_open_battle_can_be_reloaded_and_stays_anonymous(client, demo_loaded, session_factory):
    html, action, _ = open_battle(client)
    again = client.get(action.removesuffix("/vote")).get_data(as_text=True)
    assert parse_battle_page(again)[0] == action
    for name in model_names(session_factory):
        assert name not in again


def test_empty_arena_explains_how_to_fill_it(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "No battles yet" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert('x')</script>",
        '<img src=x onerror="alert(1)">',
        "[click me](javascript:alert(1))",
        '<a href="javascript:alert(1)" onclick="alert(2)">hi</a>',
    ],
)
def test_reply_markup_is_rendered_inert(client, session_factory, hostile):
    with transaction(session_factory) as s:
        prompt, _ = get_or_create_prompt(s, "I feel invisible at work.", source="curated")
        for slug in ("m-one", "m-two"):
            model, _ = get_or_create_model(s, slug)
            get_or_create_reply(s, prompt, model, f"**Bold** reply {hostile}")
    html = client.get("/").get_data(as_text=True)
    assert "<strong>Bold</strong>" in html
    assert active_content(html) == []


def test_security_headers(client, demo_loaded):
    response = client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_inactive_model_never_battles(client, demo_loaded, session_factory):
    with transaction(session_factory) as s:
        s.execute(update(Model).where(Model.slug != "demo-brief").values(active=False))
        s.execute(update(Model).where(Model.slug == "demo-warm-listener").values(active=True))
    for _ in range(10):
        client.get("/")
    with session_factory() as s:
        used = set(s.scalars(select(Model.slug).join(Battle, Battle.model_a_id == Model.id)).all())
        used |= set(s.scalars(select(Model.slug).join(Battle, Battle.model_b_id == Model.id)).all())
        assert used == {"demo-brief", "demo-warm-listener"}
        assert s.scalar(select(func.count()).select_from(Reply)) > 0


def test_a_vote_faster_than_the_dwell_time_is_kept_but_does_not_count(database_url, demo_loaded, session_factory):
    from arena import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(database_url, min_dwell_ms=60_000))
    client = app.test_client()
    _, action, csrf = open_battle(client)
    reveal = client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX)
    assert reveal.status_code == 200 and "will not count" in reveal.get_data(as_text=True)
    with session_factory() as s:
        vote = s.scalars(select(Vote)).one()
        assert (vote.outcome, vote.counts_for_leaderboard, vote.exclusion_reason) == ("model_a", False, "too_fast")
    app.extensions["arena.engine"].dispose()


def test_the_reveal_a_vote_returns_is_the_battle_as_stored(session_factory, demo_loaded):
    """The claim reads the reveal back in the same statement (subqueries in RETURNING): each side's reply and
    model must be that side's, as a later read of the stored battle finds them."""
    import random

    from arena.voting.pairing import PairingPool
    from arena.voting.voting import cast_vote, create_battle, find_reveal

    rng, pool = random.Random(11), PairingPool()
    for outcome in ["model_a", "model_b", "tie", "both_bad"] * 3:
        with transaction(session_factory) as s:
            public_id = create_battle(s, pool.draw(s, rng), judge_key="k", ttl=timedelta(hours=1))
        with transaction(session_factory) as s:
            returned = cast_vote(s, public_id, outcome, voter_key="k")
        with session_factory() as s:
            battle = s.scalars(select(Battle).where(Battle.public_id == public_id)).one()
            expected = (battle.prompt.text, battle.reply_a.text, battle.reply_b.text,
                        battle.model_a.display_name, battle.model_b.display_name)  # fmt: skip
            assert find_reveal(s, public_id, count_unverified=True) == returned  # verified: every vote counts
            assert not find_reveal(s, public_id).names_shown  # "k" never paid the proof-of-work
        assert (returned.prompt, returned.reply_a, returned.reply_b, returned.model_a, returned.model_b) == expected
        assert (returned.public_id, returned.outcome, returned.exclusion_reason) == (public_id, outcome, None)


def test_a_vote_writes_in_one_transaction_and_reads_its_reveal_without_the_write_lock(app, client, demo_loaded):
    # On SQLite every transaction of the writing session holds the single write lock until it ends. The reveal's
    # own reads (the vote counter, the message's emotion) come after the vote committed: on the writing session
    # they would take the lock again and keep it through the rendering, so every other vote would wait on it.
    from sqlalchemy import event

    from arena.db import READ_ONLY

    begun: list[bool] = []

    def record(conn) -> None:
        # True for a transaction that cannot write: the read session's, or (PostgreSQL) a statement of its own.
        options = conn.get_execution_options()
        begun.append(bool(options.get(READ_ONLY)) or options.get("isolation_level") == "AUTOCOMMIT")

    engine = app.extensions["arena.engine"]
    for expected_votes in (1, 2):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        event.listen(engine, "begin", record)
        try:
            reveal = client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers={"HX-Request": "true"})
        finally:
            event.remove(engine, "begin", record)
        assert reveal.status_code == 200
        # The counter still counts the vote just cast: the read begins after the vote's commit.
        assert f"{expected_votes} vote{'s' if expected_votes > 1 else ''} cast" in reveal.get_data(as_text=True)
        assert begun.count(False) == 1, begun  # the vote's claim and insert: the only write transaction
        begun.clear()


def test_a_vote_and_its_reloaded_reveal_hold_one_connection_at_a_time(app, client, demo_loaded):
    # The writing and the read session draw from one pool: a request holding a connection of one while it waits
    # for one of the other deadlocks with its neighbours once the pool is empty (50 live streams did that).
    from sqlalchemy import event

    pool = app.extensions["arena.engine"].pool
    held, most = [0], [0]

    def checkout(*_):
        held[0] += 1
        most[0] = max(most[0], held[0])

    def checkin(*_):
        held[0] -= 1

    page = client.get("/").get_data(as_text=True)
    action, csrf = parse_battle_page(page)
    event.listen(pool, "checkout", checkout)
    event.listen(pool, "checkin", checkin)
    try:
        voted = client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers={"HX-Request": "true"})
        reloaded = client.get(action.removesuffix("/vote"))
    finally:
        event.remove(pool, "checkout", checkout)
        event.remove(pool, "checkin", checkin)
    assert voted.status_code == reloaded.status_code == 200
    assert "1 vote cast" in reloaded.get_data(as_text=True)
    assert most[0] == 1, most
