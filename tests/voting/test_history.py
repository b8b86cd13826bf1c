"""A visitor's history topped up per worker (messages shown, votes cast): always what a whole read gives."""

from __future__ import annotations

import random

from sqlalchemy import delete, func, select

from arena.models import Battle, Reply, Vote, utcnow
from arena.voting import history
from arena.voting.history import OwnVotes, SeenPrompts
from arena.voting.my_ranking import count_own_votes
from arena.voting.pairing import seen_prompt_ids

ME, OTHER = "me" + "k" * 62, "other" + "k" * 59


def show(session, key: str, prompts: list[int], rng: random.Random) -> None:
    """Store a battle shown to `key` on each of `prompts` (as the site's draw does, one row per battle)."""
    replies = session.execute(select(Reply.id, Reply.prompt_id, Reply.model_id)).all()
    for prompt in prompts:
        a, b = rng.sample([r for r in replies if r.prompt_id == prompt], 2)
        session.add(Battle(public_id=f"{key[:6]}-{rng.random()}", source="arena", meta={}, prompt_id=prompt,
                           reply_a_id=a.id, reply_b_id=b.id, model_a_id=a.model_id, model_b_id=b.model_id,
                           judge_key=key, status="open", created_at=utcnow()))  # fmt: skip
    session.commit()


def test_the_kept_set_is_the_whole_read_through_new_battles_and_deletions(session_factory, demo_loaded):
    rng = random.Random(7)
    with session_factory() as s:
        prompts = sorted({p for (p,) in s.execute(select(Reply.prompt_id))})
        seen = SeenPrompts(visitors=2)
        assert seen.of(s, ME) == frozenset() and seen.of(s, None) == frozenset()
        steps = [
            lambda: show(s, ME, rng.sample(prompts, 5), rng),
            lambda: show(s, OTHER, rng.sample(prompts, 5), rng),  # another visitor's battles are not mine
            lambda: show(s, ME, [prompts[0], *rng.sample(prompts[1:], 3)], rng),
            # A deletion (privacy, a demo reload) takes battles away: the set must lose their messages.
            lambda: (
                s.execute(delete(Battle).where(Battle.judge_key == ME, Battle.prompt_id == prompts[0])),
                s.commit(),
            ),
            lambda: show(s, ME, [prompts[0], prompts[1]], rng),
            lambda: (s.execute(delete(Battle).where(Battle.judge_key == ME)), s.commit()),
            lambda: show(s, ME, [prompts[2]], rng),
        ]
        for step in steps:
            step()
            for key in (ME, OTHER):
                assert seen.of(s, key) == seen_prompt_ids(s, key)
                s.rollback()  # each draw reads in a transaction of its own
        # A third visitor in a cache of two: the least recent is forgotten, and read whole when drawn again.
        assert seen.of(s, "nobody") == frozenset()
        assert list(seen._entries) == [OTHER, "nobody"]
        assert seen.of(s, ME) == seen_prompt_ids(s, ME) == {prompts[2]}


def show_late(session, key: str, prompt: int, below: int) -> None:
    """A battle of `key` that becomes visible after a read that saw ids above its own, as two draws of one visitor
    can commit out of order on PostgreSQL (ids come from a sequence before commit)."""
    reply_a, reply_b = session.execute(select(Reply.id, Reply.model_id).where(Reply.prompt_id == prompt)).all()[:2]
    session.add(Battle(id=below - 1, public_id=f"late-{below}", source="arena", meta={}, prompt_id=prompt,
                       reply_a_id=reply_a.id, reply_b_id=reply_b.id, model_a_id=reply_a.model_id,
                       model_b_id=reply_b.model_id, judge_key=key, status="open", created_at=utcnow()))  # fmt: skip
    session.commit()


def test_a_battle_visible_late_with_a_lower_id_is_not_missed(session_factory, demo_loaded):
    rng = random.Random(3)
    with session_factory() as s:
        prompts = sorted({p for (p,) in s.execute(select(Reply.prompt_id))})
        seen, own = SeenPrompts(), OwnVotes()
        # Ids far above the sequence's, with a gap below the newest: the late battle takes an id in it.
        top = s.scalar(select(func.max(Battle.id))) or 0
        show(s, ME, prompts[:3], rng)
        for offset, battle in enumerate(s.scalars(select(Battle).where(Battle.judge_key == ME).order_by(Battle.id))):
            battle.id = top + 1000 + 10 * offset
        s.commit()
        assert seen.of(s, ME) == set(prompts[:3]) and own.count(s, ME) == 0
        s.rollback()
        show_late(s, ME, prompts[5], below=top + 1020)
        vote_on(s, ME)
        assert seen.of(s, ME) == seen_prompt_ids(s, ME) == {*prompts[:3], prompts[5]}
        assert own.count(s, ME) == count_own_votes(s, ME) == 4


def vote_on(session, key: str, how_many: int | None = None) -> None:
    """`key` votes on its open battles (the oldest first), as the claim and insert would store it."""
    open_battles = session.scalars(
        select(Battle).where(Battle.judge_key == key, Battle.status == "open").order_by(Battle.id)
    ).all()
    for battle in open_battles[:how_many]:
        battle.status = "voted"
        session.add(Vote(battle_id=battle.id, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id,
                         outcome="tie", created_at=utcnow(), voter_key=key))  # fmt: skip
    session.commit()


def test_the_kept_vote_count_is_the_whole_count_through_votes_late_votes_and_deletions(
    session_factory, demo_loaded, monkeypatch
):
    monkeypatch.setattr(history, "OPEN_BATTLES", 3)
    rng = random.Random(11)
    with session_factory() as s:
        prompts = sorted({p for (p,) in s.execute(select(Reply.prompt_id))})
        own = OwnVotes(visitors=2)
        assert own.count(s, ME) == 0
        steps = [
            lambda: show(s, ME, rng.sample(prompts, 4), rng),
            lambda: vote_on(s, ME, 2),  # two voted, two left open
            lambda: show(s, OTHER, rng.sample(prompts, 3), rng),
            lambda: vote_on(s, OTHER),  # another visitor's votes are not mine
            lambda: show(s, ME, rng.sample(prompts, 2), rng),
            lambda: vote_on(s, ME, 1),  # a late vote on a battle that was open at the last read
            lambda: show(s, ME, rng.sample(prompts, 3), rng),  # five open: more than the cache keeps
            lambda: vote_on(s, ME),
            lambda: (show(s, ME, [prompts[0]], rng), vote_on(s, ME)),
            # A deletion (privacy, a demo reload) takes a voted battle away: the count must lose its vote.
            lambda: (
                s.execute(
                    delete(Vote).where(
                        Vote.battle_id.in_(
                            select(Battle.id).where(Battle.judge_key == ME, Battle.prompt_id == prompts[0])
                        )
                    )
                ),
                s.execute(delete(Battle).where(Battle.judge_key == ME, Battle.prompt_id == prompts[0])),
                s.commit(),
            ),  # fmt: skip
            lambda: (show(s, ME, [prompts[0]], rng), vote_on(s, ME)),
        ]
        for step in steps:
            step()
            for key in (ME, OTHER):
                assert own.count(s, key) == count_own_votes(s, key)
                s.rollback()
        assert own.count(s, ME) > 0
