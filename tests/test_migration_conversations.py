"""Migration 0014 (conversations), both backends: a single-turn arena's stored ratings are bit-identical across
the migration and a recompute after it; every earlier vote counts one turn; a downgrade that would lose turns is
refused, and one that would not is clean."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.migrate import current_revision, downgrade, head_revision, upgrade
from arena.models import Battle, Conversation, Rating, Turn, Vote
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.votes_files import battle_records, write_jsonl

NAMES = ["alpha", "bravo", "charlie", "delta"]


def _ratings(factory, run_id: int) -> list[tuple]:
    with factory() as s:
        rows = s.execute(
            select(Rating.category, Rating.model_id, Rating.rating, Rating.ci_low, Rating.ci_high, Rating.rank_ub,
                   Rating.battles, Rating.wins, Rating.ties).where(Rating.run_id == run_id)
            .order_by(Rating.category, Rating.model_id)
        ).all()  # fmt: skip
    return [tuple(r) for r in rows]


def test_single_turn_ratings_are_bit_identical_across_the_migration(empty_database_url, tmp_path):
    engine = make_engine(empty_database_url)
    upgrade(engine)
    rng = np.random.default_rng(14)
    battles = simulate(true_strengths(len(NAMES), rng), 800, rng, n_voters=50)
    path = write_jsonl(tmp_path / "votes.jsonl", battle_records(battles, NAMES))
    assert run_arena("import", "votes", str(path), "--database-url", empty_database_url).returncode == 0
    factory = make_session_factory(engine)
    request = RecomputeRequest(rounds=200, seed=3)
    before = recompute(factory, factory, request).run_id
    stored = _ratings(factory, before)

    downgrade(engine, "0013")
    upgrade(engine)
    assert _ratings(factory, before) == stored  # the migration touched no stored rating
    with factory() as s:
        assert set(s.scalars(select(Vote.turns))) == {1}
    after = recompute(factory, factory, request).run_id
    assert after != before
    assert [r[1:] for r in _ratings(factory, after)] == [r[1:] for r in stored]  # bit for bit, not approx
    engine.dispose()


def test_a_downgrade_that_would_lose_turns_is_refused(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        prompt, _ = get_or_create_prompt(s, "My sister stopped talking to me.", source="curated")
        m1, m2 = get_or_create_model(s, "m1")[0], get_or_create_model(s, "m2")[0]
        r1 = get_or_create_reply(s, prompt, m1, "That sounds painful.")[0]
        r2 = get_or_create_reply(s, prompt, m2, "Why?")[0]
        battle = Battle(public_id="c1", prompt_id=prompt.id, reply_a_id=r1.id, reply_b_id=r2.id,
                        model_a_id=m1.id, model_b_id=m2.id, status="voted")  # fmt: skip
        s.add(battle)
        s.flush()
        conversation = Conversation(battle_id=battle.id, mode="shared", evaluation_session="s1", evaluation_order=1)
        conversation.turns = [
            Turn(idx=0, side="both", role="user", content=prompt.text, author="visitor"),
            Turn(idx=0, side="a", role="assistant", content=r1.text, author="model", model_id=m1.id),
            Turn(idx=0, side="b", role="assistant", content=r2.text, author="model", model_id=m2.id),
        ]
        s.add(conversation)
        s.add(Vote(battle_id=battle.id, model_a_id=m1.id, model_b_id=m2.id, outcome="tie", turns=1))

    with pytest.raises(RuntimeError, match="3 conversation turns are stored"):
        downgrade(engine, "0013")
    assert current_revision(engine) == head_revision()
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Turn)) == 3

    with transaction(factory) as s:
        s.execute(delete(Conversation))
    downgrade(engine, "0013")
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Battle)) == 1
    upgrade(engine)
    engine.dispose()
