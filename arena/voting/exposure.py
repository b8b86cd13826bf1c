"""How much of the reply bank the reveals have given away: a reply shown with its model after a vote can be
recognised in every later battle. For the admin page; each figure is one grouped query, never a loop over rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import case, func, select, union_all
from sqlalchemy.orm import Session, aliased

from arena.models import Battle, Model, Prompt, Reply, Vote

EXCERPT_CHARS = 80


@dataclass(frozen=True)
class RevealedReply:
    reply_id: int
    model: str
    sample: int
    prompt_excerpt: str
    reveals: int


@dataclass(frozen=True)
class RevealShare:
    """Of the battles shown with two stored replies: how many showed at least one, or both, replies that an
    earlier vote had already revealed."""

    battles: int
    either_known: int
    both_known: int

    def share(self, count: int) -> float | None:
        return count / self.battles if self.battles else None


def _reveals():
    """(reply id, revealed at) for each side of each voted battle: the vote is what shows the model names."""
    sides = [
        select(column.label("reply_id"), Vote.created_at.label("revealed_at"))
        .join(Vote, Vote.battle_id == Battle.id)
        .where(column.is_not(None))
        for column in (Battle.reply_a_id, Battle.reply_b_id)
    ]
    return union_all(*sides).subquery("reveals")


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def most_revealed(session: Session, limit: int = 10) -> list[RevealedReply]:
    """The replies revealed most often, with their model and message: the ones a dictionary learns first."""
    reveals = _reveals()
    counted = (
        select(reveals.c.reply_id, func.count().label("reveals"))
        .group_by(reveals.c.reply_id)
        .order_by(func.count().desc(), reveals.c.reply_id)
        .limit(limit)
        .subquery("counted")
    )
    rows = session.execute(
        select(counted.c.reply_id, Model.slug, Reply.sample, Prompt.text, counted.c.reveals)
        .join(Reply, Reply.id == counted.c.reply_id)
        .join(Model, Model.id == Reply.model_id)
        .join(Prompt, Prompt.id == Reply.prompt_id)
        .order_by(counted.c.reveals.desc(), counted.c.reply_id)
    )
    return [RevealedReply(reply_id, slug, sample, excerpt(text), n) for reply_id, slug, sample, text, n in rows]


def revealed_before(session: Session) -> RevealShare:
    """How many battles showed replies already revealed by an earlier vote (the reply's first reveal came before
    the battle was drawn)."""
    reveals = _reveals()
    first = (
        select(reveals.c.reply_id, func.min(reveals.c.revealed_at).label("first_at"))
        .group_by(reveals.c.reply_id)
        .subquery("first_reveal")
    )
    first_a, first_b = aliased(first, name="first_a"), aliased(first, name="first_b")
    a_known = first_a.c.first_at < Battle.created_at
    b_known = first_b.c.first_at < Battle.created_at
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((a_known | b_known, 1), else_=0)), 0),
            func.coalesce(func.sum(case((a_known & b_known, 1), else_=0)), 0),
        )
        .select_from(Battle)
        .outerjoin(first_a, first_a.c.reply_id == Battle.reply_a_id)
        .outerjoin(first_b, first_b.c.reply_id == Battle.reply_b_id)
        .where(Battle.reply_a_id.is_not(None), Battle.reply_b_id.is_not(None))
    ).one()
    return RevealShare(*(int(v) for v in row))
