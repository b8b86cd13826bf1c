"""A transcript battle over HTTP (both databases): the page shows both sides' whole conversations, anonymously;
the vote (plain form POST or htmx) is stored with the number of exchanges shown, and the reveal shows the
conversation with the names. A single-turn battle's page is the one it always was."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlalchemy import select

from arena.models import Battle, Model, Vote
from arena.voting.conversations import battle_conversation
from tests.conftest import parse_battle_page
from tests.transcripts_data import load_transcripts

HX = {"HX-Request": "true"}
MODELS = ["claude-opus-4-7", "openai_gpt-5.6-terra"]  # terra/2.json ends after six answers, opus-4-7's after eight


@pytest.fixture
def transcripts(session_factory):
    load_transcripts(session_factory, MODELS)


def shown(session_factory):
    with session_factory() as s:
        battle = s.scalars(select(Battle).order_by(Battle.id.desc())).first()
        return battle, battle_conversation(battle), dict(battle.meta)


def names(session_factory) -> list[str]:
    with session_factory() as s:
        return [n for row in s.execute(select(Model.slug, Model.display_name)) for n in row]


def test_the_battle_page_shows_both_whole_conversations_anonymously(client, transcripts, session_factory):
    page = client.get("/")
    html = page.get_data(as_text=True)
    battle, conversation, meta = shown(session_factory)
    assert conversation.mode == "transcript"
    assert "Which conversation would you rather have had?" in html and "its own copy" in html
    # Every person's message of both sides, and every answer, is on the page.
    for side in (conversation.a, conversation.b):
        for message in side:
            if message.role == "user":
                assert str(escape(message.content.strip())) in html
    answers = sum(m.role == "assistant" for side in (conversation.a, conversation.b) for m in side)
    assert html.count('class="reply-body"') == answers
    # One fold per exchange shown, the latest open.
    assert html.count('<details class="exchange"') == meta["turns"] == conversation.turns
    assert len(re.findall(r'<details class="exchange" open', html)) == 1
    for name in names(session_factory):
        assert name not in html and name not in str(page.headers)


@pytest.mark.parametrize("htmx", [False, True])
def test_the_vote_stores_the_turns_shown_and_the_reveal_shows_the_conversation(
    client, transcripts, session_factory, htmx
):
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    battle, conversation, meta = shown(session_factory)
    if htmx:
        response = client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX)
        assert response.status_code == 200
        reveal = response.get_data(as_text=True)
    else:
        response = client.post(action, data={"outcome": "model_a", "csrf_token": csrf})
        assert response.status_code == 303
        reveal = client.get(response.headers["Location"]).get_data(as_text=True)
    with session_factory() as s:
        vote = s.scalars(select(Vote)).one()
        model_a, model_b = s.get(Model, battle.model_a_id), s.get(Model, battle.model_b_id)
    assert vote.turns == meta["turns"] == conversation.turns == 8
    assert "You voted: A is better" in reveal
    assert reveal.count('<details class="exchange"') == conversation.turns
    # Names beside each side's heading in every exchange, the pick marked.
    assert reveal.count(f'data-side="A">{escape(model_a.display_name)}<') == conversation.turns
    assert reveal.count(f'data-side="B">{escape(model_b.display_name)}<') == conversation.turns
    assert reveal.count("your pick") >= conversation.turns
    last_a = [m for m in conversation.a if m.role == "user"][-1].content.strip()
    assert str(escape(last_a)) in reveal


def test_a_single_turn_battle_page_is_unchanged(client, demo_loaded):
    html = client.get("/").get_data(as_text=True)
    assert "Which reply would you rather receive?" in html
    assert 'class="conversation' not in html and "<details" not in html
    assert '<section class="message" aria-label="The message">' in html
    assert html.count('<section class="reply" aria-labelledby="reply-') == 2


def test_an_open_transcript_battle_reloads_with_its_conversation(client, transcripts, session_factory):
    first = client.get("/").get_data(as_text=True)
    action, _ = parse_battle_page(first)
    again = client.get(action.removesuffix("/vote"))
    assert again.status_code == 200
    html = again.get_data(as_text=True)
    _, conversation, _ = shown(session_factory)
    assert html.count('<details class="exchange"') == conversation.turns
    closing = [m for m in conversation.a if m.role == "user"][-1].content.strip()
    assert str(escape(closing)) in html
    for name in names(session_factory):
        assert name not in html
