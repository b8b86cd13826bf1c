"""Shared battles over HTTP (both databases): a voted battle's reveal links to a public page of the message, both
replies (or both transcripts) and the names; nothing before the vote, nothing of the vote or the visitor, never a
visitor's own message or a flagged one; links cannot be read, guessed or forged. Every page describes itself to
link previews (meta description, Open Graph)."""

from __future__ import annotations

import re
from html import unescape

import pytest
from markupsafe import escape
from sqlalchemy import select

from arena.db import transaction
from arena.ingest.catalog import content_hash
from arena.models import Battle, Model, Prompt, Reply, Vote
from arena.voting.battle_ids import new_public_id
from arena.voting.sharing import SharedPair, ShareLinks
from tests.conftest import SECRET, make_settings, parse_battle_page
from tests.transcripts_data import load_transcripts

HX = {"HX-Request": "true"}
SHARE_LINK = re.compile(r'<p class="share"><a href="(/battles/[^"]+/share)"')
SHARED = re.compile(r"^/shared/([A-Za-z0-9_-]{36})$")


def battle_row(session_factory) -> Battle:
    with session_factory() as s:
        battle = s.scalars(select(Battle).order_by(Battle.id.desc())).first()
        s.expunge(battle)
        return battle


def model_names(session_factory) -> list[str]:
    with session_factory() as s:
        return list(s.scalars(select(Model.display_name)))


def vote_and_share(client, htmx: bool = False) -> tuple[str, str]:
    """Vote on a fresh battle; returns its share route and the shared page's address."""
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    response = client.post(action, data={"outcome": "model_b", "csrf_token": csrf}, headers=HX if htmx else {})
    reveal = response.get_data(as_text=True) if htmx else client.get(response.location).get_data(as_text=True)
    route = SHARE_LINK.search(reveal).group(1)
    redirect = client.get(route)
    assert redirect.status_code == 303, redirect.get_data(as_text=True)
    assert SHARED.match(redirect.location)
    return route, redirect.location


@pytest.mark.parametrize("htmx", [False, True])
def test_a_voted_battle_shares_the_message_both_replies_and_the_names(app, client, demo_loaded, session_factory,
                                                                       htmx):  # fmt: skip
    _, address = vote_and_share(client, htmx)
    battle = battle_row(session_factory)
    with session_factory() as s:
        prompt = s.get(Prompt, battle.prompt_id).text
        texts = [s.get(Reply, battle.reply_a_id).text, s.get(Reply, battle.reply_b_id).text]
        names = [s.get(Model, battle.model_a_id).display_name, s.get(Model, battle.model_b_id).display_name]
    # Anyone: a client with no cookie of the voter's.
    page = app.test_client().get(address)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert str(escape(prompt)) in html
    for side, name in zip("AB", names, strict=True):
        assert f'Reply {side}: <span class="model-name" data-side="{side}">{escape(name)}</span>' in html
    assert html.count('class="reply-body"') == 2
    for text in texts:
        first_words = text.split("\n")[0][:40]
        assert str(escape(first_words)) in html or first_words.lstrip("#*- ") in unescape(html)


def test_the_shared_page_carries_nothing_of_the_battle_or_its_voter(app, client, demo_loaded, session_factory):
    route, address = vote_and_share(client)
    battle = battle_row(session_factory)
    with session_factory() as s:
        vote = s.scalar(select(Vote).where(Vote.battle_id == battle.id))
    page = app.test_client().get(address)
    text = page.get_data(as_text=True) + str(page.headers)
    battle_token = route.split("/")[2]
    for private in (battle.public_id, battle_token, battle.judge_key, vote.voter_key, vote.network_hash,
                    vote.created_at.isoformat()[:16], vote.created_at.strftime("%Y-%m-%d %H:%M")):  # fmt: skip
        assert not private or private not in text, private
    # No vote: not the outcome, not a pick, and nothing to vote with.
    for said in ("You voted", "your pick", "B is better", "winner", "<form", "/vote"):
        assert said not in text, said
    # The link is the content's, not the battle's: it names no battle, so a link cannot be turned into one.
    assert battle.public_id not in address


def test_two_battles_of_the_same_replies_share_one_address_and_links_are_unforgeable():
    links = ShareLinks(SECRET)
    pair = SharedPair(12, 34, False)
    token = links.token(pair)
    assert links.token(SharedPair(12, 34, False)) == token and links.pair(token) == pair
    # The order seen, and the kind of battle, are part of what is shared.
    assert len({token, links.token(SharedPair(34, 12, False)), links.token(SharedPair(12, 34, True))}) == 3
    assert links.pair(links.token(SharedPair(2**40, 7, True))) == SharedPair(2**40, 7, True)
    # Neighbouring pairs give unrelated tokens: the ids cannot be read or counted from the links.
    neighbour = links.token(SharedPair(12, 35, False))
    assert sum(a == b for a, b in zip(token, neighbour, strict=True)) < 10
    # Another server's link, any changed character, a truncated or padded token: none names anything.
    assert ShareLinks("another-secret").pair(token) is None
    for k in range(len(token)):
        changed = token[:k] + ("A" if token[k] != "A" else "B") + token[k + 1 :]
        assert links.pair(changed) is None
    for bad in ("", token[:-1], token + "A", "x" * 36, "é" * 36, "!" + token[1:], token[:-1] + "="):
        assert links.pair(bad) is None


@pytest.mark.parametrize("token", ["not-a-token", "A" * 36, "A" * 200, "%00"])
def test_an_unknown_shared_address_is_404(client, demo_loaded, token):
    response = client.get(f"/shared/{token}")
    assert response.status_code == 404 and "No such shared battle" in response.get_data(as_text=True)


def test_an_open_battle_has_no_share_link_and_no_shared_page(client, demo_loaded, session_factory, app):
    page = client.get("/").get_data(as_text=True)
    action, _ = parse_battle_page(page)
    assert "/share" not in page and "Share these" not in page
    token = action.split("/")[2]
    names = model_names(session_factory)
    for who in (client, app.test_client()):  # its own visitor, and anyone holding the link
        response = who.get(f"/battles/{token}/share")
        body = response.get_data(as_text=True) + str(response.headers)
        assert response.status_code == 404 and "only after its vote" in body
        assert "Location" not in response.headers
        assert not [n for n in names if n in body]
    # A forged or unknown battle token is 404 too.
    assert client.get(f"/battles/{token[:-2]}xx/share").status_code == 404


def test_an_unverified_vote_shares_nothing(database_url, demo_loaded, session_factory):
    # Where votes count only after the browser's check, a visitor who has not done it sees no names, so no share.
    from arena import create_app

    app = create_app(make_settings(database_url, count_unverified=False))
    client = app.test_client()
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    reveal = client.get(client.post(action, data={"outcome": "tie", "csrf_token": csrf}).location)
    assert "Share these" not in reveal.get_data(as_text=True)
    response = client.get(f"/battles/{action.split('/')[2]}/share")
    body = response.get_data(as_text=True)
    assert response.status_code == 403 and "one-time check" in body
    assert not [n for n in model_names(session_factory) if n in body]
    app.extensions["arena.engine"].dispose()


def _user_battle(session_factory) -> Battle:
    """A voted live battle on a visitor's own message (as arena.llm.live stores one)."""
    with transaction(session_factory) as s:
        models = s.scalars(select(Model).order_by(Model.id).limit(2)).all()
        text = "My own private message about my divorce, which I wrote myself."
        prompt = Prompt(text=text, source="user", content_hash=content_hash(text), active=False, visitor_key="k" * 64)
        s.add(prompt)
        s.flush()
        replies = [Reply(prompt_id=prompt.id, model_id=m.id, text=f"Answer of {m.slug}") for m in models]
        s.add_all(replies)
        s.flush()
        battle = Battle(public_id=new_public_id(), source="live", prompt_id=prompt.id, reply_a_id=replies[0].id,
                        reply_b_id=replies[1].id, model_a_id=models[0].id, model_b_id=models[1].id,
                        judge_key="k" * 64, status="voted")  # fmt: skip
        s.add(battle)
        s.flush()
        s.add(Vote(battle_id=battle.id, model_a_id=models[0].id, model_b_id=models[1].id, outcome="model_a",
                   voter_key="k" * 64))  # fmt: skip
        s.flush()
        s.expunge(battle)
        return battle


def test_a_visitors_own_message_is_never_shared(app, client, demo_loaded, session_factory):
    battle = _user_battle(session_factory)
    token = app.extensions["arena.battle_ids"].sign(battle.public_id)
    # Not its visitor: the battle's page (their own message) is theirs alone, and there is no public page to send to.
    shown = client.get(f"/battles/{token}")
    assert shown.status_code == 403 and "divorce" not in shown.get_data(as_text=True)
    response = client.get(f"/battles/{token}/share")
    assert response.status_code == 403 and "never shared" in response.get_data(as_text=True)
    # Even a link made for that pair (none is ever handed out) opens nothing: the page checks the message too.
    forged = app.extensions["arena.share_links"].token(SharedPair(battle.reply_a_id, battle.reply_b_id, False))
    page = client.get(f"/shared/{forged}")
    assert page.status_code == 404 and "divorce" not in page.get_data(as_text=True)


def test_a_flagged_message_is_not_shared_and_its_page_goes(app, client, demo_loaded, session_factory):
    route, address = vote_and_share(client)
    assert client.get(address).status_code == 200
    battle = battle_row(session_factory)
    with transaction(session_factory) as s:
        s.get(Prompt, battle.prompt_id).moderation_flags = ["crisis"]
    assert client.get(address).status_code == 404  # the page made earlier is gone
    response = client.get(route)
    assert response.status_code == 403 and "flagged or withdrawn" in response.get_data(as_text=True)
    with transaction(session_factory) as s:
        prompt = s.get(Prompt, battle.prompt_id)
        prompt.moderation_flags, prompt.active = [], False
    assert client.get(address).status_code == 404 and client.get(route).status_code == 403


def test_a_transcript_battle_shares_both_whole_conversations(app, client, session_factory):
    load_transcripts(session_factory, ["claude-opus-4-7", "openai_gpt-5.6-terra"])
    _, address = vote_and_share(client)
    html = app.test_client().get(address).get_data(as_text=True)
    battle = battle_row(session_factory)
    with session_factory() as s:
        from arena.voting.conversations import battle_conversation

        conversation = battle_conversation(s.get(Battle, battle.id))
        names = [s.get(Model, battle.model_a_id).display_name, s.get(Model, battle.model_b_id).display_name]
    assert conversation.mode == "transcript"
    assert html.count('<details class="exchange"') == conversation.turns
    for side in (conversation.a, conversation.b):
        for message in side:
            if message.role == "user":
                assert str(escape(message.content.strip())) in html
    assert all(str(escape(n)) in html for n in names) and "your pick" not in html


META = re.compile(r'<meta (name|property)="([^"]+)" content="([^"]*)">')


def meta_tags(html: str) -> dict[str, str]:
    return {name: unescape(content) for _, name, content in META.findall(html)}


def test_every_page_has_a_description_and_open_graph_tags(app, client, demo_loaded):
    open_battle = client.get("/").get_data(as_text=True)
    action, csrf = parse_battle_page(open_battle)
    token = action.split("/")[2]
    other = app.test_client()
    other_action, other_csrf = parse_battle_page(other.get("/").get_data(as_text=True))
    other.post(other_action, data={"outcome": "tie", "csrf_token": other_csrf})
    _, shared = vote_and_share(other)
    pages = {
        "/": "http://localhost/",
        f"/battles/{token}": None,  # a visitor's own battle: its address is never advertised
        f"/battles/{other_action.split('/')[2]}": None,  # a reveal
        "/live": "http://localhost/live",
        "/leaderboard": "http://localhost/leaderboard",
        "/leaderboard?category=overall&order=all": "http://localhost/leaderboard",
        "/leaderboard?category=Negative,+low+energy&utm=x": "http://localhost/leaderboard?category=Negative,+low+energy",
        "/analysis": "http://localhost/analysis",
        "/me/ranking": "http://localhost/me/ranking",
        "/terms": "http://localhost/terms",
        "/privacy": "http://localhost/privacy",
        "/admin/": None,
        shared: f"http://localhost{shared}",
        "/no-such-page": None,
        "/leaderboard?category=nonsense": None,
    }
    descriptions = set()
    for path, url in pages.items():
        response = other.get(path)
        tags = meta_tags(response.get_data(as_text=True))
        assert len(tags.get("description", "")) >= 40, path
        assert tags["og:description"] == tags["description"], path
        title = re.search(r"<title>\s*(.*?)\s*</title>", response.get_data(as_text=True), re.S).group(1)
        assert unescape(title) == tags["og:title"] and "EQ Arena" in tags["og:title"], path
        assert tags["og:type"] == ("article" if path == shared else "website"), path
        assert tags.get("og:url") == url, path
        descriptions.add(tags["description"])
    assert len(descriptions) >= 8  # pages describe themselves, not all the site's one sentence
    board = meta_tags(other.get("/leaderboard?category=Negative,+low+energy").get_data(as_text=True))
    assert board["og:title"] == "Leaderboard: Negative, low energy · EQ Arena"
    page = meta_tags(other.get(shared).get_data(as_text=True))
    assert " vs " in page["og:title"] and page["robots"] == "noindex"


def test_a_board_swap_retitles_the_page_and_history_gets_whole_pages(client, demo_loaded):
    swap = client.get("/leaderboard?category=Negative,+low+energy", headers=HX).get_data(as_text=True)
    assert swap.startswith("<title>Leaderboard: Negative, low energy · EQ Arena</title>")
    assert "<html" not in swap and 'id="board"' in swap
    # Back/forward to a page htmx did not keep asks without HX-Request (base.html's htmx-config): a whole page.
    restore = client.get("/leaderboard?category=Negative,+low+energy", headers={"HX-History-Restore-Request": "true"})
    html = restore.get_data(as_text=True)
    assert html.lstrip().lower().startswith("<!doctype html>") and 'class="site-header"' in html
    assert '"historyRestoreAsHxRequest": false' in client.get("/").get_data(as_text=True)


def test_a_battles_own_address_is_its_visitors(app, client, demo_loaded):
    """Someone else holding a battle's address (a copied reveal URL) never sees its page: before the vote a 403,
    after it the public page of the pair, which says nothing of how its visitor voted."""
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    token = action.split("/")[2]
    stranger = app.test_client()
    refused = stranger.get(f"/battles/{token}")
    assert refused.status_code == 403 and "shown to another visitor" in refused.get_data(as_text=True)
    assert client.post(action, data={"outcome": "model_b", "csrf_token": csrf}).status_code == 303
    assert "You voted" in client.get(f"/battles/{token}").get_data(as_text=True)  # its voter still reads it
    moved = stranger.get(f"/battles/{token}")
    assert moved.status_code == 303 and SHARED.match(moved.location)
    public = stranger.get(moved.location).get_data(as_text=True)
    assert "You voted" not in public and 'class="model-name"' in public
