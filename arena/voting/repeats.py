"""Repeated battles: how far people agree, measured on the site itself.

With probability ARENA_REPEAT_SHARE (at most 2%) a new battle shows, instead of a fresh draw, a pair of replies
already voted on, sides swapped: either one this visitor voted on at least GAP battles ago (their
self-consistency), or one another visitor voted on (human-human agreement). The battle is an ordinary battle with
a new id; only its metadata (`repeat_of`, never sent to the page) says what it repeats. Its vote is kept with the
reason `repeat` and never counts, so a pair shown twice weighs once on the board, and nothing about a repeat lets a
visitor vote twice on a battle for double weight. The reveal of a repeat looks like any other.

Only honest originals are repeated: single-reply battles from the bank whose vote counts, whose replies, message
and models are still active. A visitor is never shown the same pair twice as a repeat, nor a pair of another
visitor they have already been shown. A repeat of a battle shown under presentation arms shows each reply under
the arm it had (never drawn afresh)."""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.models import Battle, Conversation, Vote
from arena.voting.arms import Assignment, shown_texts
from arena.voting.pairing import Draw, current_texts

# How many of the visitor's own battles must come after the original before it is shown again: a repeat right
# after the original measures memory, not judgement.
GAP = 3
# Others' originals are drawn among the latest of them: recent replies are the ones still on the site.
RECENT_OTHERS = 500


def _own_battles(session: Session, visitor_key: str) -> list[tuple]:
    """The visitor's battles, newest first: (id, reply a, reply b, meta, counted single-turn bank vote)."""
    rows = session.execute(
        select(
            Battle.id,
            Battle.reply_a_id,
            Battle.reply_b_id,
            Battle.meta,
            Battle.source,
            Vote.counts_for_leaderboard,
            Conversation.id,
        )  # fmt: skip
        .outerjoin(Vote, Vote.battle_id == Battle.id)
        .outerjoin(Conversation, Conversation.battle_id == Battle.id)
        .where(Battle.judge_key == visitor_key)
        .order_by(Battle.id.desc())
    ).all()
    return [(i, a, b, meta or {}, source == "arena" and bool(counts) and conversation is None)
            for i, a, b, meta, source, counts, conversation in rows]  # fmt: skip


def _others(session: Session, visitor_key: str) -> list[int]:
    """Ids of the latest counted single-turn bank battles voted by other visitors."""
    return list(
        session.scalars(
            select(Battle.id)
            .join(Vote, (Vote.battle_id == Battle.id) & Vote.counts_for_leaderboard.is_(True))
            .outerjoin(Conversation, Conversation.battle_id == Battle.id)
            .where(Battle.source == "arena", Battle.judge_key != visitor_key, Conversation.id.is_(None))
            .order_by(Battle.id.desc())
            .limit(RECENT_OTHERS)
        )
    )


def draw_repeat(session: Session, visitor_key: str | None, rng: random.Random) -> Draw | None:
    """A repeat for this visitor, or None when there is nothing suitable (the caller then draws afresh)."""
    if visitor_key is None:
        return None
    own = _own_battles(session, visitor_key)
    shown_pairs = {frozenset((a, b)) for _, a, b, _, _ in own if a is not None and b is not None}
    repeated = {meta.get("repeat_of") for *_, meta, _ in own if meta.get("repeat_of") is not None}
    mine = [i for i, _, _, meta, honest in own[GAP:] if honest and "repeat_of" not in meta and i not in repeated]
    candidates = []
    if mine:
        candidates.append(rng.choice(mine))
    others = [i for i in _others(session, visitor_key) if i not in repeated]
    if others:
        candidates.append(rng.choice(others))
    rng.shuffle(candidates)
    for original_id in candidates:
        original = session.get(Battle, original_id)
        if original is None or original.meta and "repeat_of" in original.meta:
            continue
        pair = frozenset((original.reply_a_id, original.reply_b_id))
        if original.judge_key != visitor_key and pair in shown_pairs:
            continue  # this visitor has met the pair already: it would be neither kind of repeat
        texts = current_texts(session, original.prompt_id, original.reply_a_id, original.reply_b_id)
        if len(texts) != 2:
            continue  # a reply, its message or a model was withdrawn since
        # Sides swapped: a voter who remembers a position rather than a reply does not agree by memory.
        reply_a_text, reply_b_text = texts[original.reply_b_id][1], texts[original.reply_a_id][1]
        # Shown as the original was: each reply keeps the presentation arm it had (arena/voting/arms.py).
        arms = None
        if original.arm_a is not None or original.arm_b is not None:
            reply_a_text, reply_b_text = shown_texts(reply_a_text, reply_b_text, original.arm_b, original.arm_a)
            arms = Assignment(original.arm_b, original.arm_a, original.arm_b_prob, original.arm_a_prob,
                              reply_a_text, reply_b_text)  # fmt: skip
        return Draw(
            prompt_id=original.prompt_id, reply_a_id=original.reply_b_id, reply_b_id=original.reply_a_id,
            model_a_id=original.model_b_id, model_b_id=original.model_a_id, probability=0.0,
            prompt_text=texts[original.reply_a_id][0], reply_a_text=reply_a_text,
            reply_b_text=reply_b_text, repeat_of=original.id, arms=arms,
        )  # fmt: skip
    return None
