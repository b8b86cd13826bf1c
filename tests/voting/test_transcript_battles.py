"""Transcript battles (both databases): two models' whole EQ-Bench 4 conversations on the same scenario, never a
transcript against a plain reply; the battle stores its conversation row and how many exchanges it shows, the vote
copies that count, and the identity-leak check reads every turn of both sides."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.models import Battle, Conversation, Model, Prompt, Reply, Turn, Vote
from arena.voting.conversations import battle_conversation, side_messages
from arena.voting.identity_leak import IDENTITY_LEAK
from arena.voting.pairing import PairingPool, shared_prompts
from arena.voting.voting import TURNS_SHOWN, cast_vote, create_battle
from tests.transcripts_data import load_transcripts

MODELS = ["claude-fable-5", "openai_gpt-5.6-terra", "google_gemini-3.5-flash", "x-ai_grok-4.3"]


@pytest.fixture
def mixed_arena(session_factory):
    """Four models' transcripts of both scenarios, plus plain single replies: a second sample of two of those
    models on the same openers, two models with only plain replies there, and a plain prompt everyone answered."""
    load_transcripts(session_factory, MODELS)
    with transaction(session_factory) as s:
        starters = s.scalars(select(Prompt).order_by(Prompt.id)).all()
        plain_prompt, _ = get_or_create_prompt(s, "My dog died this morning.", source="curated")
        for slug in MODELS + ["plain-1", "plain-2"]:
            model, _ = get_or_create_model(s, slug)
            get_or_create_reply(s, plain_prompt, model, f"{slug} is sorry about the dog.")
            if slug.startswith("plain") or slug in MODELS[:2]:
                for prompt in starters:
                    get_or_create_reply(s, prompt, model, f"{slug} answers {prompt.id} in one go.")
    return session_factory


def transcript_of(s, reply_id: int) -> Conversation | None:
    return s.scalar(select(Conversation).where(Conversation.reply_id == reply_id))


def test_transcripts_are_drawn_only_against_transcripts_of_their_scenario(mixed_arena):
    pool, rng = PairingPool(), random.Random(5)
    kinds = Counter()
    with mixed_arena() as s:
        for _ in range(600):
            draw = pool.draw(s, rng)
            own_a, own_b = transcript_of(s, draw.reply_a_id), transcript_of(s, draw.reply_b_id)
            if draw.conversation is None:
                assert own_a is None and own_b is None and draw.scenario is None
                kinds["single"] += 1
                continue
            kinds["transcript"] += 1
            assert own_a is not None and own_b is not None
            assert own_a.scenario == own_b.scenario == draw.scenario
            assert draw.conversation.a == side_messages(own_a, "own")
            assert draw.conversation.b == side_messages(own_b, "own")
            assert draw.conversation.mode == "transcript" and not draw.conversation.shared_messages
            assert draw.reply_a_text == s.get(Reply, draw.reply_a_id).text
    assert kinds["single"] > 100 and kinds["transcript"] > 100


def test_a_prompt_shared_in_both_kinds_counts_once_per_kind(mixed_arena):
    with mixed_arena() as s:
        pool = shared_prompts(s)
        ids = {m.slug: m.id for m in s.scalars(select(Model))}
    both = pool[tuple(sorted((ids[MODELS[0]], ids[MODELS[1]])))]
    # Two openers, each as a transcript and as a plain reply, and the plain prompt.
    assert sorted((scenario is None) for *_, scenario in both) == [False, False, True, True, True]
    only_transcripts = pool[tuple(sorted((ids[MODELS[2]], ids[MODELS[3]])))]
    assert [scenario is None for *_, scenario in only_transcripts] == [False, False, True]
    draw_rng = random.Random(9)
    with mixed_arena() as s:
        draws = [PairingPool().draw(s, draw_rng) for _ in range(300)]
    pairs = len(pool)
    for draw in draws:
        key = tuple(sorted((draw.model_a_id, draw.model_b_id)))
        assert draw.probability == pytest.approx(1 / pairs / len(pool[key]))


def test_a_single_turn_arena_pools_as_before(session_factory, demo_loaded):
    # No transcripts: every shared prompt is a plain one, each once, in prompt order, as the draw always read it.
    with session_factory() as s:
        pool = shared_prompts(s)
    assert pool and all(scenario is None for rows in pool.values() for *_, scenario in rows)
    assert all([p for p, *_ in rows] == sorted({p for p, *_ in rows}) for rows in pool.values())


def test_a_transcript_battle_stores_its_conversation_and_the_vote_its_turns(mixed_arena):
    pool, rng = PairingPool(), random.Random(1)
    with mixed_arena() as s:
        draw = next(d for d in (pool.draw(s, rng) for _ in range(200)) if d.conversation is not None)
    with transaction(mixed_arena) as s:
        public_id = create_battle(s, draw, judge_key="k", ttl=timedelta(hours=1))
    with mixed_arena() as s:
        battle = s.scalar(select(Battle).where(Battle.public_id == public_id))
        seen = battle_conversation(battle)
        assert battle.conversation.mode == "transcript" and battle.conversation.scenario == draw.scenario
        # The battle's own conversation row holds no turns: they stay with the replies.
        assert s.scalars(select(Turn).where(Turn.conversation_id == battle.conversation.id)).all() == []
        assert battle.meta[TURNS_SHOWN] == seen.turns == draw.conversation.turns
        assert seen == draw.conversation
        expected = max(sum(m.role == "assistant" for m in side) for side in (seen.a, seen.b))
        assert seen.turns == expected >= 6
    with transaction(mixed_arena) as s:
        reveal = cast_vote(s, public_id, "model_b", voter_key="k")
    assert reveal.turns == expected
    with mixed_arena() as s:
        assert s.scalar(select(Vote.turns)) == expected


def test_a_model_naming_itself_late_in_its_transcript_flags_the_battle(mixed_arena):
    # The fifth answer of one transcript gives the model away; its first answer (the battle's reply) does not.
    with transaction(mixed_arena) as s:
        model = s.scalar(select(Model).where(Model.slug == "claude-fable-5"))
        turn = s.scalars(select(Turn).where(Turn.model_id == model.id, Turn.idx == 4, Turn.role == "assistant")).first()
        turn.content += "\n\nAs an AI developed by Anthropic, I can't be there in person."
        scenario = turn.conversation.scenario
        reply_id = turn.conversation.reply_id
    pool, rng = PairingPool(), random.Random(3)
    flagged = clean = 0
    with mixed_arena() as s:
        for _ in range(600):
            draw = pool.draw(s, rng)
            if draw.conversation is None or draw.scenario != scenario:
                continue
            if reply_id in (draw.reply_a_id, draw.reply_b_id):
                side = "a" if draw.reply_a_id == reply_id else "b"
                assert draw.identity_leak == {"side": side, "phrase": "As an AI developed by Anthropic"}
                flagged += 1
            else:
                assert draw.identity_leak is None
                clean += 1
    assert flagged and clean
    with transaction(mixed_arena) as s:
        public_id = create_battle(s, next_flagged(mixed_arena, reply_id), judge_key="k", ttl=timedelta(hours=1))
    with transaction(mixed_arena) as s:
        assert cast_vote(s, public_id, "tie", voter_key="k").exclusion_reason == IDENTITY_LEAK


def next_flagged(factory, reply_id):
    pool, rng = PairingPool(), random.Random(4)
    with factory() as s:
        while True:
            draw = pool.draw(s, rng)
            if draw.conversation is not None and reply_id in (draw.reply_a_id, draw.reply_b_id):
                return draw


def test_exchanges_pair_the_sides_and_keep_a_closing_message_with_the_last_answer():
    from arena.voting.conversations import BattleConversation, Message

    def side(tag: str, answers: int, closer: bool) -> tuple[Message, ...]:
        out = [Message("user", "Opening.\n", "persona", 0)]
        for k in range(answers):
            if k:
                out.append(Message("user", f"{tag} person {k}", "persona", k))
            out.append(Message("assistant", f"{tag} answer {k}", "model", k))
        if closer:
            out.append(Message("user", f"{tag} says goodbye", "persona", answers))
        return tuple(out)

    transcript = BattleConversation("transcript", side("A", 8, True), side("B", 6, True))
    exchanges = transcript.exchanges
    assert len(exchanges) == transcript.turns == 8
    assert exchanges[0].person_message == "Opening.\n"  # the same starter for both: shown once
    assert exchanges[3].person_message is None and exchanges[3].first_person_message == "A person 3"
    # B's closing message ends B's sixth exchange's row (exchange idx 6), A's closes the last.
    assert [m.content for m in exchanges[6].b] == ["B says goodbye"]
    assert exchanges[7].b == () and [m.content for m in exchanges[7].a][-1] == "A says goodbye"
    assert sum(len(e.a) + len(e.b) for e in exchanges) == len(transcript.a) + len(transcript.b)

    opening = (Message("user", "Hi", "visitor", 0),)
    pending = BattleConversation(
        "shared",
        opening + (Message("assistant", "a0", "model", 0), Message("user", "More", "visitor", 1)),
        opening + (Message("assistant", "b0", "model", 0), Message("user", "More", "visitor", 1)),
    )
    assert [(e.person_message, e.answered) for e in pending.exchanges] == [("Hi", True), ("More", False)]


def test_the_remembered_leak_check_still_depends_on_the_names():
    from arena.voting.pairing import _text_leak

    text = "I hear you.\n\nHonestly, Inkling thinks you should rest."
    assert _text_leak(text, ("claude-fable-5",)) is None
    assert _text_leak(text, ("Inkling", "claude-fable-5")) == "Inkling"
    assert _text_leak(text, ("claude-fable-5",)) is None
    assert _text_leak(text + "\n\nAs an AI developed by OpenAI, I rest too.", ()) == "As an AI developed by OpenAI"


@pytest.mark.parametrize("left", ["one opener", "all but one opener"])
def test_a_seen_message_is_not_drawn_again_in_either_kind(mixed_arena, left):
    # A message is seen whichever kind showed it: an opener seen as a plain reply is not drawn as a transcript (and
    # back). With one opener left the draw takes the direct path: both of its kinds, by their probabilities.
    with mixed_arena() as s:
        pool = shared_prompts(s)
        openers = sorted({p for rows in pool.values() for p, *_, scenario in rows if scenario is not None})
    every = sorted({p for rows in pool.values() for p, *_ in rows})
    seen = frozenset(openers[:1]) if left == "one opener" else frozenset(p for p in every if p != openers[-1])
    p0 = {(pair, p, scenario): 1 / len(pool) / len(rows) for pair, rows in pool.items() for p, *_, scenario in rows}
    unseen = sum(p for (_, prompt, _), p in p0.items() if prompt not in seen)
    kinds, rng = Counter(), random.Random(13)
    with mixed_arena() as s:
        drawing = PairingPool()
        for _ in range(300):
            draw = drawing.draw(s, rng, seen=seen)
            assert draw.prompt_id not in seen
            key = (tuple(sorted((draw.model_a_id, draw.model_b_id))), draw.prompt_id, draw.scenario)
            assert draw.probability == pytest.approx(p0[key] / unseen)
            kinds[draw.scenario is None] += 1
    assert kinds[True] and kinds[False]
