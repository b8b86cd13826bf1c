"""Battles of a reply against its edit: with probability ARENA_EDIT_SHARE (default 0: an arena that did not ask
never sees one) a new battle shows, instead of a fresh draw, a stored reply and its edit (`arena generate edits`),
sides at random. The battle's source is 'edit' and its metadata names the dimension; its vote is kept with the
reason `edit` and never counts on a board (both sides are one model). arena/jobs/edit_effects.py reads those votes
for each dimension's effect.

The pair is drawn uniformly among the (original, edit) pairs whose message this visitor has not been shown (a
message seen before would compare the edit with a remembered original) and whose message and model are active;
the battle stores that probability. None when there is no such pair: the caller then draws afresh."""

from __future__ import annotations

import random

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from arena.models import Model, Prompt, Reply
from arena.voting.identity_leak import cached_battle_leak
from arena.voting.pairing import Draw, current_texts

# What the reveal says an edited side is: the vote is over, so the voter is told what they compared (a study that
# shows people a changed reply owes them that), in words that fit "Reply B was <model>'s reply ...".
SHOWN_DIMENSIONS = {
    "remove_validation": "with its sentences that acknowledge feelings taken out",
    "add_premature_advice": "with advice added before the person was heard",
    "add_question_back": "with a caring question back added at the end",
}


def edited_side(session: Session, reply_a_id: int, reply_b_id: int) -> tuple[str, str] | None:
    """('a' or 'b', what was changed) for the edited side of an edit battle's pair, or None if neither is an edit."""
    rows = session.execute(select(Reply.id, Reply.edit_dimension).where(Reply.id.in_((reply_a_id, reply_b_id))))
    for reply_id, dimension in rows:
        if dimension is not None:
            side = "a" if reply_id == reply_a_id else "b"
            return side, SHOWN_DIMENSIONS.get(dimension, f"edited ({dimension})")
    return None


def edit_pairs(session: Session, seen: frozenset[int]) -> list[tuple[int, int, int, int, str]]:
    """(prompt id, original id, edit id, model id, dimension) of every drawable pair, in edit id order."""
    original = aliased(Reply)
    rows = session.execute(
        select(Reply.prompt_id, original.id, Reply.id, Reply.model_id, Reply.edit_dimension)
        .join(original, original.id == Reply.edit_of)
        .join(Prompt, (Prompt.id == Reply.prompt_id) & Prompt.active.is_(True))
        .join(Model, (Model.id == Reply.model_id) & Model.active.is_(True))
        .order_by(Reply.id)
    ).all()
    return [tuple(row) for row in rows if row[0] not in seen]


def draw_edit(session: Session, seen: frozenset[int], rng: random.Random) -> Draw | None:
    """A reply against its edit for a visitor who has been shown the messages in `seen`, or None."""
    pairs = edit_pairs(session, seen)
    if not pairs:
        return None
    prompt_id, original_id, edit_id, model_id, dimension = rng.choice(pairs)
    texts = current_texts(session, prompt_id, original_id, edit_id)
    if len(texts) != 2:
        return None
    a, b = (original_id, edit_id) if rng.random() < 0.5 else (edit_id, original_id)
    leak = cached_battle_leak(texts[a][1], texts[b][1], tuple(texts[a][2]))
    return Draw(
        prompt_id=prompt_id, reply_a_id=a, reply_b_id=b, model_a_id=model_id, model_b_id=model_id,
        probability=1.0 / len(pairs), prompt_text=texts[a][0], reply_a_text=texts[a][1], reply_b_text=texts[b][1],
        identity_leak=leak.as_meta() if leak else None, edit_dimension=dimension,
    )  # fmt: skip
