"""arena.voting.conversations: each side's messages, for single-turn, shared and transcript battles (both DBs)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.models import Battle, Conversation, Turn
from arena.voting.conversations import battle_conversation, history_for


def _battle(s, public_id="b1"):
    prompt, _ = get_or_create_prompt(s, "I failed my driving test again.", source="curated")
    m1, m2 = get_or_create_model(s, "m1")[0], get_or_create_model(s, "m2")[0]
    r1 = get_or_create_reply(s, prompt, m1, "Third time is hard.")[0]
    r2 = get_or_create_reply(s, prompt, m2, "Try again.")[0]
    battle = Battle(public_id=public_id, prompt_id=prompt.id, reply_a_id=r1.id, reply_b_id=r2.id,
                    model_a_id=m1.id, model_b_id=m2.id)  # fmt: skip
    s.add(battle)
    s.flush()
    return battle, (m1, m2), (r1, r2)


def test_a_single_turn_battle_is_one_exchange(session_factory):
    with transaction(session_factory) as s:
        battle, _, _ = _battle(s)
        seen = battle_conversation(battle)
        assert seen.mode == "single" and seen.turns == 1
        assert [m.content for m in seen.a] == ["I failed my driving test again.", "Third time is hard."]
        assert [m.role for m in seen.b] == ["user", "assistant"]


def test_a_shared_conversation_sends_each_side_only_its_own_answers(session_factory):
    with transaction(session_factory) as s:
        battle, (m1, m2), (r1, r2) = _battle(s)
        conversation = Conversation(battle_id=battle.id, mode="shared")
        # Stored out of order on purpose: the read orders by exchange, the person's message first.
        conversation.turns = [
            Turn(idx=1, side="a", role="assistant", content="What felt hardest?", author="model", model_id=m1.id),
            Turn(idx=1, side="both", role="user", content="The parking.", author="visitor"),
            Turn(idx=0, side="b", role="assistant", content=r2.text, author="model", model_id=m2.id),
            Turn(idx=0, side="a", role="assistant", content=r1.text, author="model", model_id=m1.id),
            Turn(idx=0, side="both", role="user", content=battle.prompt.text, author="visitor"),
            Turn(idx=1, side="b", role="assistant", content="Practise parking.", author="model", model_id=m2.id),
        ]
        s.add(conversation)
        s.flush()
        s.refresh(battle)
        seen = battle_conversation(battle)
        assert seen.mode == "shared" and seen.turns == 2 and seen.shared_messages
        assert history_for(conversation, "a") == [
            {"role": "user", "content": "I failed my driving test again."},
            {"role": "assistant", "content": "Third time is hard."},
            {"role": "user", "content": "The parking."},
            {"role": "assistant", "content": "What felt hardest?"},
        ]
        assert "Third time is hard." not in [m.content for m in seen.b]


def test_a_transcript_battle_reads_each_replys_own_transcript(session_factory):
    with transaction(session_factory) as s:
        battle, (m1, _), (r1, r2) = _battle(s)
        s.add(Conversation(battle_id=battle.id, mode="transcript", scenario="sc-1"))
        own = Conversation(reply_id=r1.id, mode="transcript", scenario="sc-1")
        own.turns = [
            Turn(idx=0, side="own", role="user", content=battle.prompt.text, author="persona"),
            Turn(idx=0, side="own", role="assistant", content=r1.text, author="model", model_id=m1.id),
            Turn(idx=1, side="own", role="user", content="I just feel stupid.", author="persona"),
            Turn(idx=1, side="own", role="assistant", content="You are not stupid.", author="model", model_id=m1.id),
        ]
        s.add(own)
        s.flush()
        s.refresh(battle)
        s.refresh(r1)
        seen = battle_conversation(battle)
        assert seen.mode == "transcript" and not seen.shared_messages
        assert seen.turns == 2  # the longer side; side B (no transcript of its own) is its single reply
        assert [m.author for m in seen.a] == ["persona", "model", "persona", "model"]
        assert [m.content for m in seen.b] == ["I failed my driving test again.", "Try again."]


def test_a_vote_records_the_exchanges_its_battle_showed(session_factory, demo_loaded):
    import random

    from arena.models import Vote
    from arena.voting.pairing import PairingPool
    from arena.voting.voting import TURNS_SHOWN, cast_vote, create_battle

    rng, pool = random.Random(3), PairingPool()
    ids = []
    for shown in (None, 3):
        with transaction(session_factory) as s:
            public_id = create_battle(s, pool.draw(s, rng), judge_key="k", ttl=timedelta(hours=1))
            if shown is not None:
                battle = s.scalars(select(Battle).where(Battle.public_id == public_id)).one()
                battle.meta = {**battle.meta, TURNS_SHOWN: shown}
            ids.append(public_id)
        with transaction(session_factory) as s:
            cast_vote(s, public_id, "tie", voter_key="k")
    with session_factory() as s:
        turns = [s.scalar(select(Vote.turns).join(Battle).where(Battle.public_id == p)) for p in ids]
    assert turns == [1, 3]
