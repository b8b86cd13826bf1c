"""What a patient attacker gets for free, priced (issue 19, item 3): reveals name the models only for votes that can
count; cookie-less requests do not use up a network's budget of new voters; an IPv4 client seen through a server
bound to [::] is judged by its IPv4 /24."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from arena import create_app
from arena.models import Battle, Model, Reply
from arena.voting.visitors import judge_key
from arena.web.limits import network_of
from tests.conftest import CSRF_INPUT, make_settings, parse_battle_page, solve_proof

HX = {"HX-Request": "true"}
IDENTITIES, VOTES_EACH = 10, 30


def production_like(database_url, **overrides):
    """The production rules for terms, proof-of-work and counting (rate limits off unless asked: the attacker
    gets more than the limits would let through, which only makes the test harder)."""
    values = dict(require_terms=True, count_unverified=False, pow_difficulty=50,
                  secret_key=f"patient-{uuid.uuid4()}")  # fmt: skip
    values.update(overrides)
    return create_app(make_settings(database_url, **values))


def accept(client, proof: str | None = None, headers: dict | None = None):
    html = client.get("/", headers=headers or {}).get_data(as_text=True)
    data = {"csrf_token": CSRF_INPUT.search(html).group(1)}
    if proof is not None:
        data["altcha"] = proof
    return client.post("/terms/accept", data=data, headers=headers or {})


def names_in(html: str, names: list[str]) -> bool:
    return any(name in html for name in names)


def test_identities_that_never_pay_cannot_build_the_reply_dictionary(database_url, demo_loaded, session_factory):
    """Ten identities that never pay the proof-of-work vote through the real routes (htmx reveal, the reveal page
    after the vote, their own ranking) and collect every reply they can tie to a model name: fewer than 25% of
    the demo's replies (in fact none). Before, reveals named 272 of 288 replies in a minute."""
    app = production_like(database_url)
    with session_factory() as s:
        names = list(s.scalars(select(Model.display_name)))
    mapped: set[int] = set()
    for _ in range(IDENTITIES):
        bot = app.test_client()
        assert accept(bot).status_code == 303  # terms accepted, proof-of-work skipped
        key = judge_key(app.config["SECRET_KEY"], _visitor(bot))
        for _ in range(VOTES_EACH):
            action, csrf = parse_battle_page(bot.get("/").get_data(as_text=True))
            reveal = bot.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX)
            assert reveal.status_code == 200
            token = action.split("/")[2]
            page = bot.get(f"/battles/{token}").get_data(as_text=True)
            body = reveal.get_data(as_text=True)
            assert "model names show once your browser has done its one-time check" in body
            if names_in(body, names) or names_in(page, names):
                with session_factory() as s:
                    battle = s.scalar(select(Battle).where(Battle.judge_key == key).order_by(Battle.id.desc()))
                    mapped.update((battle.reply_a_id, battle.reply_b_id))
        ranking = bot.get("/me/ranking").get_data(as_text=True)
        assert not names_in(ranking, names) and "one-time check" in ranking
    with session_factory() as s:
        total = s.scalar(select(func.count()).select_from(Reply))
    assert total == 288
    assert len(mapped) < 0.25 * total
    assert mapped == set()
    app.extensions["arena.engine"].dispose()


def test_a_visitor_who_pays_still_sees_the_names(database_url, demo_loaded, session_factory):
    app = production_like(database_url)
    with session_factory() as s:
        names = list(s.scalars(select(Model.display_name)))
    honest = app.test_client()
    honest.get("/")
    assert accept(honest, solve_proof(honest)).status_code == 303
    action, csrf = parse_battle_page(honest.get("/").get_data(as_text=True))
    reveal = honest.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers=HX).get_data(as_text=True)
    assert names_in(reveal, names) and "one-time check" not in reveal
    assert names_in(honest.get(f"/battles/{action.split('/')[2]}").get_data(as_text=True), names)
    app.extensions["arena.engine"].dispose()


def test_a_visitor_who_pays_after_voting_sees_the_names_from_then_on(database_url, demo_loaded, session_factory):
    """Paying later shows the earlier reveals too: as many names as a paying identity's votes would have shown."""
    app = production_like(database_url)
    with session_factory() as s:
        names = list(s.scalars(select(Model.display_name)))
    late = app.test_client()
    assert accept(late).status_code == 303
    action, csrf = parse_battle_page(late.get("/").get_data(as_text=True))
    late.post(action, data={"outcome": "tie", "csrf_token": csrf})
    battle_page = f"/battles/{action.split('/')[2]}"
    assert not names_in(late.get(battle_page).get_data(as_text=True), names)
    # Nor through a second browser at the same address: it is not sent on to the battle's public page.
    stranger = app.test_client()
    refused = stranger.get(battle_page)
    assert refused.status_code == 403 and not names_in(refused.get_data(as_text=True), names)
    assert accept(late, solve_proof(late)).status_code == 303
    assert names_in(late.get(battle_page).get_data(as_text=True), names)
    app.extensions["arena.engine"].dispose()


def test_cookieless_requests_do_not_lock_newcomers_out(database_url, demo_loaded):
    """40 cookie-less page views from one /24 (a crawler, a script, a browser with cookies off) spend none of the
    network's 30 new voters an hour: a newcomer on that network afterwards gets a battle and votes. The cap still
    binds identities that commit to voting."""
    app = production_like(database_url, rate_limit_enabled=True, proxy_hops=1, new_visitors_per_network_hour=3,
                          rate_limit_network="10000 per minute", rate_limit_battle="10000 per minute")  # fmt: skip
    network = {"X-Forwarded-For": "203.0.113.7"}
    statuses = [app.test_client().get("/", headers=network).status_code for _ in range(40)]
    assert statuses == [200] * 40
    newcomer = app.test_client()
    assert newcomer.get("/", headers={"X-Forwarded-For": "203.0.113.99"}).status_code == 200
    assert accept(newcomer, solve_proof(newcomer, network), network).status_code == 303
    action, csrf = parse_battle_page(newcomer.get("/", headers=network).get_data(as_text=True))
    assert newcomer.post(action, data={"outcome": "model_b", "csrf_token": csrf}, headers=network).status_code == 303
    # Two more newcomers fit the cap of 3; the fourth is told why, and known visitors go on.
    assert [accept(app.test_client(), None, network).status_code for _ in range(3)] == [303, 303, 429]
    assert newcomer.get("/", headers=network).status_code == 200
    assert accept(newcomer, None, network).status_code == 303  # accepting again spends nothing
    app.extensions["arena.engine"].dispose()


def _visitor(client) -> str:
    with client.session_transaction() as session:
        return session["visitor"]


def test_ipv4_mapped_ipv6_addresses_are_judged_as_ipv4():
    assert network_of("::ffff:198.51.100.7") == network_of("198.51.100.7") == "198.51.100.0/24"
    assert network_of("::ffff:198.51.101.7") != network_of("::ffff:198.51.100.7")  # not all IPv4 in one /48
    assert network_of("2001:db8:1:2::5") == "2001:db8:1::/48"
