"""The proof-of-work through the real app, on both databases: paid with the terms, a vote counts; not paid (no
JavaScript), it is kept as `unverified`; a bad or borrowed solution is a 400 that stores nothing; the challenge
route mints identities only within the network's cap; a deleted visitor pays again."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, update

from arena import create_app
from arena.models import TermsAcceptance, VisitorProof, Vote
from arena.voting import moderation
from arena.voting.visitors import judge_key
from tests.conftest import CSRF_INPUT, SECRET, make_settings, parse_battle_page, solve_proof

DIFFICULTY = 100


@pytest.fixture
def app(database_url):
    app = create_app(make_settings(database_url, require_terms=True, count_unverified=False,
                                   pow_difficulty=DIFFICULTY))  # fmt: skip
    yield app
    app.extensions["arena.engine"].dispose()


def accept(client, proof: str | None, headers: dict | None = None):
    html = client.get("/", headers=headers or {}).get_data(as_text=True)
    data = {"csrf_token": CSRF_INPUT.search(html).group(1)}
    if proof is not None:
        data["altcha"] = proof
    return client.post("/terms/accept", data=data, headers=headers or {})


def vote(client) -> int:
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    return client.post(action, data={"outcome": "model_a", "csrf_token": csrf}).status_code


def stored(session_factory):
    with session_factory() as s:
        return (
            s.scalar(select(func.count()).select_from(TermsAcceptance)),
            s.scalar(select(func.count()).select_from(VisitorProof)),
            [tuple(r) for r in s.execute(select(Vote.counts_for_leaderboard, Vote.exclusion_reason).order_by(Vote.id))],
        )


def test_paid_with_the_terms_the_votes_count(client, demo_loaded, session_factory):
    assert accept(client, solve_proof(client)).status_code == 303
    assert vote(client) == 303 and vote(client) == 303
    assert stored(session_factory) == (1, 1, [(True, None), (True, None)])


def test_without_the_proof_votes_are_kept_as_unverified_until_it_is_paid(client, demo_loaded, session_factory):
    assert accept(client, None).status_code == 303  # a browser without JavaScript
    assert vote(client) == 303 and vote(client) == 303
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    reveal = client.post(action, data={"outcome": "tie", "csrf_token": csrf}, follow_redirects=True)
    page = reveal.get_data(as_text=True)
    assert "will not count on the leaderboard yet" in page and 'class="verify"' in page
    assert "data-proof-autosubmit" in page and 'name="battle"' in page
    # One of the earlier votes is excluded for another reason too (here: too fast), and another visitor's
    # unverified vote is in the table: paying must count neither.
    other = create_app_client(client)
    assert accept(other, None).status_code == 303 and vote(other) == 303
    with session_factory() as s:
        first = s.scalar(select(func.min(Vote.id)))
        s.execute(update(Vote).where(Vote.id == first).values(exclusion_reason=moderation.TOO_FAST))
        s.commit()
    # With JavaScript on, the reveal's check pays (the widget posts it by itself, with the battle's token): the
    # same reveal comes back counted and named, and the earlier unverified votes of this visitor count too.
    token = action.split("/")[2]
    response = client.post("/terms/accept", data={"csrf_token": csrf, "altcha": solve_proof(client), "verify": "1",
                                                  "battle": token}, headers={"HX-Request": "true"})  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "will not count" not in body and "Reply A was" in body
    assert "including 2 cast before it" in body
    with session_factory() as s:
        rows = s.execute(select(Vote.exclusion_reason, Vote.counts_for_leaderboard, Vote.reincluded_at,
                                Vote.voter_key).order_by(Vote.id)).all()  # fmt: skip
        paid_at = s.scalar(select(VisitorProof.solved_at))
    mine, theirs = rows[:3], rows[3]
    assert [(r[0], r[1]) for r in mine] == [(moderation.TOO_FAST, False), (None, True), (None, True)]
    assert mine[0][2] is None and mine[1][2] == mine[2][2] == paid_at  # re-included at the time it was paid
    assert theirs[:3] == (moderation.UNVERIFIED, False, None)
    # From then on votes count as cast; paying again re-includes nothing more.
    assert vote(client) == 303
    assert stored(session_factory)[2][-1] == (True, None)
    assert accept(client, solve_proof(client)).status_code == 303
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote).where(Vote.reincluded_at.is_not(None))) == 2


def create_app_client(client):
    """A second browser on the same app."""
    return client.application.test_client()


def test_the_operator_can_count_unverified_votes(database_url, demo_loaded, session_factory):
    app = create_app(make_settings(database_url, require_terms=True, count_unverified=False))
    client = app.test_client()
    accept(client, None)
    vote(client)
    with session_factory() as s:
        assert "unverified" in dict(moderation.exclusions(s))
        assert "proof-of-work" in moderation.explain("unverified")
        assert moderation.reinclude(s, "unverified") == 1
        s.commit()
    counting = create_app(make_settings(database_url, require_terms=True, count_unverified=True))
    other = counting.test_client()
    accept(other, None)
    vote(other)
    assert [c for c, _ in stored(session_factory)[2]] == [True, True]
    app.extensions["arena.engine"].dispose()
    counting.extensions["arena.engine"].dispose()


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_bad_solution_is_a_400_with_a_reason_and_stores_nothing(client, demo_loaded, session_factory, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = accept(client, "bm90IGEgc29sdXRpb24=", headers)
    assert response.status_code == 400
    assert "browser check" in response.get_data(as_text=True)
    if htmx:
        assert response.headers["HX-Retarget"] == "#vote-status"
    assert stored(session_factory) == (0, 0, [])


def test_a_solution_borrowed_from_another_visitor_is_refused(app, demo_loaded, session_factory):
    payer, borrower = app.test_client(), app.test_client()
    payer.get("/")
    proof = solve_proof(payer)
    response = accept(borrower, proof)
    assert response.status_code == 400 and "another visitor" in response.get_data(as_text=True)
    assert stored(session_factory) == (0, 0, [])
    assert accept(payer, proof).status_code == 303  # still good for the visitor it was issued to
    assert stored(session_factory)[:2] == (1, 1)


def test_the_challenge_is_private_to_its_visitor_and_never_cached(client, demo_loaded):
    response = client.get("/terms/challenge")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    with client.session_transaction() as session:
        assert session.get("visitor")  # an identity, minted here like on any other route
    assert response.get_json()["parameters"]["data"]["visitor"]
    assert client.get("/terms/challenge").get_json() != response.get_json()  # each one fresh


def test_challenges_are_free_and_paying_spends_the_networks_cap(database_url, demo_loaded):
    """Fetching a challenge mints an identity but spends nothing; accepting (with or without paying) spends one
    of the network's new identities for the hour."""
    app = create_app(make_settings(database_url, require_terms=True, rate_limit_enabled=True, proxy_hops=1,
                                   new_visitors_per_network_hour=2, pow_difficulty=DIFFICULTY))  # fmt: skip
    school = {"X-Forwarded-For": "198.51.100.23"}
    clients = [app.test_client() for _ in range(3)]
    assert [c.get("/terms/challenge", headers=school).status_code for c in clients] == [200] * 3
    codes = [accept(c, solve_proof(c, school), school).status_code for c in clients]
    assert codes == [303, 303, 429]
    app.extensions["arena.engine"].dispose()


def test_a_deleted_visitor_pays_again_under_the_new_identity(client, demo_loaded, session_factory):
    accept(client, solve_proof(client))
    with client.session_transaction() as session:
        old_key = judge_key(SECRET, session["visitor"])
    page = client.get("/privacy").get_data(as_text=True)
    assert client.post("/privacy/delete", data={"csrf_token": CSRF_INPUT.search(page).group(1),
                                                "confirm": "yes"}).status_code == 303  # fmt: skip
    with session_factory() as s:
        assert s.scalar(select(VisitorProof).where(VisitorProof.visitor_key == old_key)) is None
    accept(client, None)
    assert vote(client) == 303
    assert stored(session_factory)[2] == [(False, "unverified")]


def test_the_widget_runs_under_the_strict_csp_from_this_origin(client, demo_loaded):
    page = client.get("/")
    csp = page.headers["Content-Security-Policy"]
    assert "worker-src 'self'" in csp
    assert not any(loose in csp for loose in ("blob:", "unsafe-eval", "unsafe-inline", "data: 'self'"))
    html = page.get_data(as_text=True)
    assert "<altcha-widget" in html and 'src="/static/js/proof.js?v=' in html
    # The widget itself is fetched by proof.js only where a page holds one (arena.web.static_files).
    assert "altcha.min.js" not in html and "altcha.css" not in html
    for path in ("/static/js/proof.js", "/static/vendor/altcha-3.2.2/altcha.min.js",
                 "/static/vendor/altcha-3.2.2/workers/pbkdf2.js"):  # fmt: skip
        served = client.get(path)
        assert served.status_code == 200 and "javascript" in served.mimetype, path
    assert client.get("/static/vendor/altcha-3.2.2/LICENSE.txt").status_code == 200
