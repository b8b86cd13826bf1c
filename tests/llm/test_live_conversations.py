"""Keep talking, live: a conversation of several exchanges against the local OpenAI-compatible server. What each
model was sent (asserted on the requests the server received), what is stored (conversation and turn rows, the
vote's turn count, the evaluation session), and that every later message passes what the first passes: the crisis
screen and moderation, the identity-leak check, the live budgets and stream limits, the owner check, CSRF and the
length limit; then the same conversation with two new models after the vote."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from arena import create_app
from arena.db import transaction
from arena.jobs.export import PRIVATE_FLAGS
from arena.llm import live
from arena.models import Battle, Conversation, Model, Prompt, Turn, Vote
from arena.voting.conversations import battle_conversation
from arena.voting.privacy import delete_visitor_data
from arena.voting.voting import TURNS_SHOWN
from tests.conftest import CSRF_INPUT, make_settings, parse_battle_page
from tests.llm.test_live_battles import HX, add_live_models, start, stream_of

NEXT_URL = re.compile(r'hx-post="(/live/[^"]+/messages)"')
CONTINUE_URL = re.compile(r'hx-post="(/live/[^"]+/continue)"')
MESSAGES = (
    "My sister hasn't called since the funeral and I don't know if I should reach out first.",
    "I tried texting her yesterday. She read it and said nothing.",
    "Maybe I'm the one who pushed her away. I was so angry at the hospital.",
)
# Each model's replies are numbered and tagged (never with the model's name), so a reply can be traced to its
# writer in what the other model was sent.
TAGS = {"kind-one": "sunrise", "kind-two": "moonlight", "kind-three": "harbour", "kind-four": "meadow"}


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch):
    monkeypatch.setenv("ARENA_TEST_LIVE_KEY", "test-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def tagged_models(session_factory, llm_server, *names: str) -> list[str]:
    """Live models whose every reply says which answer of theirs it is; returns what names them."""
    names = names or ("kind-one", "kind-two")
    strings = add_live_models(session_factory, llm_server, *names)
    for name in names:
        tag = TAGS[name]
        # The n-th answer of a conversation is sent n user messages.
        llm_server.replies[name] = lambda messages, tag=tag: (
            f"I hear you ({tag} answer {sum(m['role'] == 'user' for m in messages)}). What feels hardest right now?"
        )
    return strings


def done_html(events) -> str:
    names = [name for name, _, _ in events]
    assert names[-2:] == ["done", "close"], names
    return next(data for name, data, _ in events if name == "done")


def say(client, page: str, message: str, *, url: re.Pattern = NEXT_URL, headers=None):
    """Post `message` from the form `url` finds on `page` (the conversation or the reveal)."""
    action = url.search(page).group(1)
    csrf = CSRF_INPUT.search(page).group(1)
    return client.post(action, data={"message": message, "csrf_token": csrf}, headers=headers or HX)


def converse(client, messages) -> tuple[str, list[str]]:
    """Write `messages` one after the other, each after both replies to the last arrived; returns the page after
    the last exchange and everything the client received (pages, their headers and the streams)."""
    response = start(client, messages[0], headers=HX)
    first = response.get_data(as_text=True)
    raw, events = stream_of(client, first)
    received = [first, str(response.headers), raw]
    page = done_html(events)
    for message in messages[1:]:
        response = say(client, page, message)
        assert response.status_code == 200, response.get_data(as_text=True)
        sent = response.get_data(as_text=True)
        raw, events = stream_of(client, sent)
        received += [sent, str(response.headers), raw]
        page = done_html(events)
    return page, received


def the_battle(s, order: int = 1) -> Battle:
    return s.scalars(select(Battle).join(Conversation).where(Conversation.evaluation_order == order)).one()


def vote(client, page: str, outcome: str):
    action, csrf = parse_battle_page(page)
    return client.post(action, data={"outcome": outcome, "csrf_token": csrf}, headers=HX)


def test_each_model_is_sent_the_same_messages_and_only_its_own_replies(client, session_factory, llm_server):
    names = tagged_models(session_factory, llm_server)
    with transaction(session_factory) as s:
        for model in s.scalars(select(Model)):
            model.meta = {**model.meta, "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
    page, received = converse(client, MESSAGES)
    for text in received + [page]:
        for name in names:
            assert name not in text, f"{name!r} reached the client before the vote"
    # Earlier exchanges folded, the latest open.
    assert re.findall(r'<details class="exchange"( open)? data-exchange="(\d)"', page) == [("", "1"), ("", "2"),
                                                                                          (" open", "3")]  # fmt: skip
    with session_factory() as s:
        battle = the_battle(s)
        models = {"a": battle.model_a, "b": battle.model_b}
        turns = battle.conversation.turns
        answers = {side: [t.content for t in turns if t.side == side] for side in "ab"}
        assert battle.conversation.mode == "shared" and battle.meta[TURNS_SHOWN] == 3
        assert battle_conversation(battle).turns == 3
        # Exchange 0 is the battle's own prompt and replies.
        assert battle.prompt.text == MESSAGES[0]
        assert (battle.reply_a.text, battle.reply_b.text) == (answers["a"][0], answers["b"][0])
        assert [t.content for t in turns if t.side == "both"] == list(MESSAGES)
        assert all(t.author == "visitor" and t.role == "user" for t in turns if t.side == "both")
        for side, model in models.items():
            own = [t for t in turns if t.side == side]
            assert [t.idx for t in own] == [0, 1, 2]
            assert all(t.model_id == model.id and t.author == "model" and t.latency_ms is not None for t in own)
            assert all(t.prompt_tokens and t.completion_tokens and t.cost_usd > 0 for t in own)
        slugs = {side: m.litellm_model.split("/", 1)[1] for side, m in models.items()}
    for side, slug in slugs.items():
        other = "b" if side == "a" else "a"
        sent = [r.messages for r in llm_server.requests_for(slug)]
        assert len(sent) == 3
        for k, messages in enumerate(sent):
            # The same visitor messages, and between them only this model's own earlier answers, in order.
            expected = []
            for i in range(k):
                expected += [
                    {"role": "user", "content": MESSAGES[i]},
                    {"role": "assistant", "content": answers[side][i]},
                ]
            assert messages == expected + [{"role": "user", "content": MESSAGES[k]}]
            assert not any(a in m["content"] for m in messages for a in answers[other])
            assert TAGS[slug] in answers[side][0] and f"answer {k + 1})" in answers[side][k]


def test_a_crisis_message_at_turn_three_is_screened_like_the_first(client, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES[:2])
    calls = len(llm_server.requests)
    crisis = "Honestly I don't want to be alive anymore. I keep thinking about killing myself."
    response = say(client, page, crisis)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "988" in body and "116 123" in body and "not sent to any model" in body and "sse-connect" not in body
    assert len(llm_server.requests) == calls  # no model call
    with session_factory() as s:
        battle = the_battle(s)
        flagged = s.scalars(select(Prompt).where(Prompt.text == crisis)).one()
        assert (flagged.active, flagged.source, flagged.visitor_key) == (False, "user", battle.judge_key)
        assert "crisis:suicide" in flagged.moderation_flags and PRIVATE_FLAGS & set(flagged.moderation_flags)
        assert not any(crisis in t.content for t in battle.conversation.turns)
        assert (battle.status, battle.meta[live.ENDED], battle.meta[TURNS_SHOWN]) == ("expired", "crisis", 2)
    # Nothing more is contested: no vote, no further message.
    assert vote(client, page, "model_a").status_code == 410
    again = say(client, page, "Sorry, I am fine now.")
    assert again.status_code == 410 and "ended" in again.get_data(as_text=True)


def test_the_moderation_model_screens_later_messages_too(database_url, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    settings = make_settings(database_url, moderation_model="openai/omni-moderation-latest",
                             moderation_api_base=llm_server.url,
                             moderation_api_key_env="ARENA_TEST_LIVE_KEY")  # fmt: skip
    app = create_app(settings)
    client = app.test_client()
    page, _ = converse(client, MESSAGES[:1])
    body = say(client, page, "Nothing here trips a keyword, yet FLAG-CRISIS.").get_data(as_text=True)
    assert "You can talk to someone now" in body
    with session_factory() as s:
        flags = s.scalar(select(Prompt.moderation_flags).where(Prompt.text.like("Nothing here%")))
        assert {"crisis", "moderation", "moderation:self-harm"} <= set(flags)
        assert the_battle(s).status == "expired"
    app.extensions["arena.engine"].dispose()


def test_the_vote_at_turn_two_stores_two_turns_and_closes_the_conversation(client, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES[:2])
    reveal = vote(client, page, "model_b")
    assert reveal.status_code == 200
    revealed = reveal.get_data(as_text=True)
    with session_factory() as s:
        battle = the_battle(s)
        assert s.scalars(select(Vote.turns)).one() == 2
        assert battle.model_b.display_name in revealed
    # The reveal shows both exchanges, the latest open.
    assert str(escape(MESSAGES[1])) in revealed and revealed.count("<details") == 2
    refused = say(client, page, MESSAGES[2])
    assert refused.status_code == 409 and "already has your vote" in refused.get_data(as_text=True)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Turn)) == 6


def test_continuing_after_the_vote_draws_two_new_models_in_the_same_session(client, session_factory, llm_server):
    names = tagged_models(session_factory, llm_server, "kind-one", "kind-two", "kind-three", "kind-four")
    page, _ = converse(client, MESSAGES[:2])
    revealed = vote(client, page, "model_b").get_data(as_text=True)
    assert "Keep talking, with two new models" in revealed
    with session_factory() as s:
        first = the_battle(s)
        first_pair = {first.model_a_id, first.model_b_id}
        kept = [t.content for t in first.conversation.turns if t.side == "b"]
    llm_server.requests.clear()
    response = say(client, revealed, MESSAGES[2], url=CONTINUE_URL)
    assert response.status_code == 200
    sent_page = response.get_data(as_text=True)
    raw, events = stream_of(client, sent_page)
    page = done_html(events)
    with session_factory() as s:
        second = the_battle(s, order=2)
        new_names = [n for m in (second.model_a, second.model_b) for n in (m.display_name, m.slug, m.litellm_model)]
        assert {second.model_a_id, second.model_b_id}.isdisjoint(first_pair)
        assert second.model_a_id != second.model_b_id
        assert second.conversation.evaluation_session == first.conversation.evaluation_session
        assert len(second.conversation.evaluation_session) >= 20
        assert second.conversation.meta["carried_side"] == "b" and second.conversation.meta["carried_exchanges"] == 2
        assert (second.prompt.text, second.meta[TURNS_SHOWN]) == (MESSAGES[2], 3)
        slugs = [m.litellm_model.split("/", 1)[1] for m in (second.model_a, second.model_b)]
    for text in (sent_page, raw, page):
        for name in new_names:
            assert name not in text, f"{name!r} reached the client before the vote"
    # Both new models were sent the conversation so far: the visitor's messages and the replies they kept.
    history = [{"role": "user", "content": MESSAGES[0]}, {"role": "assistant", "content": kept[0]},
               {"role": "user", "content": MESSAGES[1]}, {"role": "assistant", "content": kept[1]},
               {"role": "user", "content": MESSAGES[2]}]  # fmt: skip
    assert sorted(r.model for r in llm_server.requests) == sorted(slugs)
    assert all(r.messages == history for r in llm_server.requests)
    assert "two other models" in page and "The reply you kept" in page
    reveal = vote(client, page, "tie")
    assert reveal.status_code == 200
    with session_factory() as s:
        assert sorted(s.scalars(select(Vote.turns))) == [2, 3]
        assert s.scalar(select(Battle.meta).where(Battle.id == first.id))[live.CONTINUED] is True
    # The evaluation order does not fork: a voted battle goes on once.
    again = say(client, revealed, "One more thing.", url=CONTINUE_URL)
    assert again.status_code == 409 and "already went on" in again.get_data(as_text=True)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Battle)) == 2
    # The earlier pair's names were revealed by the first vote, and only there.
    assert any(name in revealed for name in names)


def test_only_the_writer_may_write_next_or_open_a_later_stream(client, app, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES[:1])
    stranger = app.test_client()
    stranger.get("/live")
    csrf = CSRF_INPUT.search(stranger.get("/live").get_data(as_text=True)).group(1)
    action = NEXT_URL.search(page).group(1)
    refused = stranger.post(action, data={"message": MESSAGES[1], "csrf_token": csrf})
    assert refused.status_code == 403
    token = action.split("/")[2]
    assert stranger.post(f"/live/{token}/continue", data={"message": "x", "csrf_token": csrf}).status_code == 403
    # The writer's next message, then a stranger at its stream.
    sent = say(client, page, MESSAGES[1]).get_data(as_text=True)
    stream_url = re.search(r'sse-connect="([^"]+)"', sent).group(1)
    assert stranger.get(stream_url).status_code == 403
    # A stranger at the open battle's address is shown neither the conversation nor a message box.
    shown = stranger.get(f"/battles/{token}")
    assert shown.status_code == 403
    assert MESSAGES[0] not in shown.get_data(as_text=True) and "next-message" not in shown.get_data(as_text=True)
    with session_factory() as s:
        assert the_battle(s).meta["live"] == "pending"  # untouched by the stranger
    forged = client.post(
        "/live/forged-token/messages", data={"message": "x", "csrf_token": CSRF_INPUT.search(page).group(1)}
    )
    assert forged.status_code == 404


def test_bad_later_messages_are_refused_with_a_reason_and_store_nothing(database_url, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    app = create_app(make_settings(database_url, live_max_turns=2))
    client = app.test_client()
    page, _ = converse(client, MESSAGES[:1])
    action = NEXT_URL.search(page).group(1)
    assert client.post(action, data={"message": MESSAGES[1]}).status_code == 400  # no CSRF token
    for text, status, reason in (("   ", 400, "Write a message first"), ("x" * 2001, 400, "the limit is 2000")):
        refused = say(client, page, text)
        assert refused.status_code == status and reason in refused.get_data(as_text=True)
        assert refused.headers.get("HX-Retarget") == "#next-status"
    with session_factory() as s:
        assert live.PENDING_EXCHANGE not in the_battle(s).meta
    page = done_html(stream_of(client, say(client, page, MESSAGES[1]).get_data(as_text=True))[1])
    assert "reached 2 messages" in page and "next-message" not in page
    csrf = CSRF_INPUT.search(page).group(1)
    too_many = client.post(action, data={"message": MESSAGES[2], "csrf_token": csrf}, headers=HX)
    assert too_many.status_code == 409 and "reached 2 messages" in too_many.get_data(as_text=True)
    revealed = vote(client, page, "model_a").get_data(as_text=True)
    assert "Write a new message to start another" in revealed and "continue-message" not in revealed
    token = action.split("/")[2]
    over = client.post(f"/live/{token}/continue", data={"message": "And then?", "csrf_token": csrf}, headers=HX)
    assert over.status_code == 409 and "reached 2 messages" in over.get_data(as_text=True)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Battle)) == 1
        assert s.scalar(select(func.count()).select_from(Turn)) == 6
    app.extensions["arena.engine"].dispose()


def test_an_expired_conversation_takes_no_message(client, session_factory, llm_server):
    from datetime import timedelta

    from arena.models import utcnow

    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES[:1])
    with transaction(session_factory) as s:
        the_battle(s).expires_at = utcnow() - timedelta(seconds=1)
    refused = say(client, page, MESSAGES[1])
    assert refused.status_code == 410 and "ended" in refused.get_data(as_text=True)


def test_a_failed_later_turn_keeps_the_earlier_exchanges_votable(client, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES[:2])
    with transaction(session_factory) as s:
        battle = the_battle(s)
        working = battle.model_b.litellm_model
        battle.model_b.litellm_model = "openai/fail-500"
    raw, events = stream_of(client, say(client, page, MESSAGES[2]).get_data(as_text=True))
    names = [name for name, _, _ in events]
    assert "done" not in names and names[-2:] == ["failed", "close"]
    failed = events[-2][1]
    # The whole conversation comes back as it was, with the reason and the vote bar.
    assert 'id="battle"' in failed and 'role="alert"' in failed and "did not get two replies" in failed
    assert str(escape(MESSAGES[1])) in failed and str(escape(MESSAGES[2])) not in failed and "fail-500" not in raw
    with session_factory() as s:
        battle = the_battle(s)
        assert (battle.status, battle.meta["live"], battle.meta[TURNS_SHOWN]) == ("open", "complete", 2)
        assert live.PENDING_EXCHANGE not in battle.meta
        assert s.scalar(select(func.count()).select_from(Turn)) == 6  # never half an exchange
        battle.model_b.litellm_model = working
        s.commit()
    # The visitor writes again, and the exchange takes the number the failed one would have had.
    page = done_html(stream_of(client, say(client, failed, MESSAGES[2]).get_data(as_text=True))[1])
    with session_factory() as s:
        assert sorted({t.idx for t in the_battle(s).conversation.turns}) == [0, 1, 2]
    assert vote(client, page, "model_a").status_code == 200
    with session_factory() as s:
        assert s.scalars(select(Vote.turns)).one() == 3


def test_a_vote_while_a_later_message_waits_counts_the_exchanges_shown(client, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES[:1])
    sent = say(client, page, MESSAGES[1]).get_data(as_text=True)
    assert vote(client, page, "model_a").status_code == 200
    calls = len(llm_server.requests)
    _, events = stream_of(client, sent)
    assert [name for name, _, _ in events] == ["failed", "close"]
    assert len(llm_server.requests) == calls
    with session_factory() as s:
        assert s.scalars(select(Vote.turns)).one() == 1
        assert s.scalar(select(func.count()).select_from(Turn)) == 3


def test_a_leak_in_a_later_reply_marks_the_battle(client, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES[:1])
    with session_factory() as s:
        assert "identity_leak" not in the_battle(s).meta
        leaking = the_battle(s).model_a.litellm_model.split("/", 1)[1]
    llm_server.replies[leaking] = "As an AI language model developed by OpenAI, I think reaching out is brave."
    page = done_html(stream_of(client, say(client, page, MESSAGES[1]).get_data(as_text=True))[1])
    with session_factory() as s:
        leak = the_battle(s).meta["identity_leak"]
        assert (leak["side"], leak["exchange"]) == ("a", 1)
    vote(client, page, "model_a")
    with session_factory() as s:
        assert s.execute(select(Vote.counts_for_leaderboard, Vote.exclusion_reason)).one() == (False, "identity_leak")


def test_each_later_turn_is_priced_on_its_whole_history_and_held_to_the_budget(database_url, session_factory,
                                                                                llm_server):  # fmt: skip
    tagged_models(session_factory, llm_server)
    with transaction(session_factory) as s:
        for model in s.scalars(select(Model)):
            model.meta = {**model.meta, "input_cost_per_token": 0.001, "output_cost_per_token": 0.002}
    app = create_app(make_settings(database_url, live_daily_budget_usd=100.0, live_network_daily_budget_usd=100.0))
    client = app.test_client()
    factory = app.extensions["arena.session_factory"]
    page = start(client, MESSAGES[0], headers=HX).get_data(as_text=True)
    with session_factory() as s:
        public_id = the_battle(s).public_id
    first_estimate = live.pending_battle_cost(factory, public_id)
    page = done_html(stream_of(client, page)[1])
    sent = say(client, page, MESSAGES[1]).get_data(as_text=True)
    # The second call resends the first message and its answer: it is priced on them too.
    second_estimate = live.pending_battle_cost(factory, public_id)
    assert second_estimate > first_estimate > 0
    spent = app.extensions["arena.live_gate"].counters
    day_key = next(k for k in spent._sums if k.count(":") == 3)  # the overall budget (a network's has one more)
    spent.add(day_key, 100.0 - spent.total(day_key) - second_estimate / 2, 3600)
    stream_url = re.search(r'sse-connect="([^"]+)"', sent).group(1)
    refused = client.get(stream_url)
    assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
    with session_factory() as s:
        assert the_battle(s).meta["live"] == "pending"  # kept waiting: it can run when there is room
    spent.add(day_key, -second_estimate, 3600)
    page = done_html(stream_of(client, sent)[1])
    # A spent budget refuses the next message before anything is stored.
    spent.add(day_key, 100.0, 3600)
    busy = say(client, page, MESSAGES[2])
    assert busy.status_code == 503 and "budget for live battles is spent" in busy.get_data(as_text=True)
    with session_factory() as s:
        battle = the_battle(s)
        assert live.PENDING_EXCHANGE not in battle.meta and battle.meta[TURNS_SHOWN] == 2
    app.extensions["arena.engine"].dispose()


def test_a_later_stream_waits_for_a_free_slot(database_url, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    app = create_app(make_settings(database_url, live_streams_per_worker=1))
    client = app.test_client()
    page, _ = converse(client, MESSAGES[:1])
    gate = app.extensions["arena.live_gate"]
    held = gate.admit("elsewhere", 0.0)
    busy = say(client, page, MESSAGES[1])
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "15"
    assert "not sent or kept" in busy.get_data(as_text=True)
    held.close()
    sent = say(client, page, MESSAGES[1]).get_data(as_text=True)
    held = gate.admit("elsewhere", 0.0)
    assert client.get(re.search(r'sse-connect="([^"]+)"', sent).group(1)).status_code == 503
    held.close()
    done_html(stream_of(client, sent)[1])
    assert gate.open_here == 0
    app.extensions["arena.engine"].dispose()


def test_later_messages_are_rate_limited_like_the_first(database_url, session_factory, llm_server):
    import uuid

    tagged_models(session_factory, llm_server)
    app = create_app(make_settings(database_url, secret_key=f"live-{uuid.uuid4()}", rate_limit_enabled=True,
                                   rate_limit_live="2 per minute", rate_limit_network="1000 per minute"))  # fmt: skip
    client = app.test_client()
    page, _ = converse(client, MESSAGES[:1])
    statuses = [say(client, page, MESSAGES[1]).status_code for _ in range(3)]
    assert statuses == [200, 409, 429]  # the second: the first's replies are still to come
    app.extensions["arena.engine"].dispose()


def test_deleting_a_visitors_data_deletes_their_conversations(client, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    converse(client, MESSAGES[:2])
    with transaction(session_factory) as s:
        key = the_battle(s).judge_key
        delete_visitor_data(s, key)
    with session_factory() as s:
        for table in (Battle, Conversation, Turn, Prompt):
            assert s.scalar(select(func.count()).select_from(table)) == 0, table.__name__


def test_the_conversation_page_shows_every_exchange_to_its_writer(client, session_factory, llm_server):
    tagged_models(session_factory, llm_server)
    page, _ = converse(client, MESSAGES)
    token = NEXT_URL.search(page).group(1).split("/")[2]
    shown = client.get(f"/battles/{token}").get_data(as_text=True)
    for message in MESSAGES:
        assert str(escape(message)) in shown
    assert "sse-2.2.4.min.js" in shown  # the next message streams from this page too
    assert 'id="next-message"' in shown and 'open data-exchange="3"' in shown


def test_the_message_limit_is_a_setting(monkeypatch):
    from arena.config import ConfigError, Settings

    monkeypatch.setenv("ARENA_LIVE_MAX_TURNS", "8")
    assert Settings.from_env().live_max_turns == 8
    assert Settings().live_max_turns == 5
    for bad in (0, 21):
        with pytest.raises(ConfigError, match="ARENA_LIVE_MAX_TURNS must be 1 to 20"):
            Settings(secret_key="x", live_max_turns=bad).validated()


def test_a_vote_cast_while_later_replies_stream_keeps_them_out(client, app, session_factory, llm_server):
    """The vote is on what was shown: replies still streaming when it came are not added to the conversation."""
    add_live_models(session_factory, llm_server, "kind-one", "slow")
    llm_server.replies["slow"] = " ".join(f"word{i}" for i in range(60))  # about three seconds
    llm_server.replies["kind-one"] = "That sounds lonely. What do you miss most?"
    page, _ = converse(client, MESSAGES[:1])
    say(client, page, MESSAGES[1])
    with session_factory() as s:
        public_id = the_battle(s).public_id
    # The stream as the server runs it, driven here so the vote can come in between its events.
    events = live.stream_battle(app.extensions["arena.session_factory"], public_id, timeout_seconds=30)
    first = next(events)
    assert first.name in ("a", "b")
    assert vote(client, page, "model_a").status_code == 200
    rest = list(events)
    assert rest[-1].name == "failed" and "took its vote" in rest[-1].text
    with session_factory() as s:
        battle = the_battle(s)
        assert s.scalars(select(Vote.turns)).one() == 1
        assert {t.idx for t in battle.conversation.turns} == {0}
        assert live.PENDING_EXCHANGE not in battle.meta and battle.meta["live"] == "complete"
