"""A visitor's right to be forgotten: everything stored under their visitor key, deleted in one transaction.

What goes: every battle shown to the key (with its vote, and the vote's reasons by ON DELETE CASCADE; a battle
is itself a record of what this visitor saw and when, so keeping it without the vote would still be personal
data), every message the visitor wrote (with
its replies, emotion tags, features and scores, by the database's ON DELETE CASCADE), their terms acceptances
and their proof-of-work record. Another visitor's vote on a message being deleted is not theirs to delete: the
vote stays, detached from the message and its replies (like an imported battle without text), so no acknowledged
vote of anyone else is lost. Rating runs are immutable snapshots; the deletion counts from the next recompute.
A visitor's own ranking (my_ranking.py) is computed on request from exactly these votes and stored nowhere, so
it goes with them."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.hashing import PSEUDONYM_CHARS
from arena.models import Battle, Prompt, Reply, TermsAcceptance, VisitorProof, Vote
from arena.voting.retired_keys import retire

# visitors.keyed_hash: 32 lowercase hex digits.
VISITOR_KEY = re.compile(r"[0-9a-f]{32}")
PSEUDONYM = re.compile(rf"[0-9a-f]{{{PSEUDONYM_CHARS}}}")


class BadVisitorKey(ValueError):
    """Not a visitor key (32 hexadecimal digits)."""


@dataclass(frozen=True)
class DeletionSummary:
    votes: int
    battles: int
    prompts: int
    replies: int
    terms_acceptances: int
    # Other visitors' votes on the deleted messages: kept, without the message.
    others_votes_detached: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def anything(self) -> bool:
        return any(self.as_dict().values())


def normalise_visitor_key(value: str) -> str:
    key = value.strip().lower()
    if PSEUDONYM.fullmatch(key):
        # The public export's judge_hash: a one-way pseudonym anyone holding the file can read, so no credential.
        raise BadVisitorKey(
            f"{value!r} is a public export pseudonym (judge_hash), which no deletion accepts: ask the visitor for "
            "the visitor key /privacy shows in their own browser"
        )
    if not VISITOR_KEY.fullmatch(key):
        raise BadVisitorKey(f"{value!r} is not a visitor key (32 hexadecimal digits, as shown on /privacy)")
    return key


def _count(session: Session, stmt) -> int:
    return session.scalar(select(func.count()).select_from(stmt.subquery()))


def delete_visitor_data(session: Session, visitor_key: str) -> DeletionSummary:
    """Delete everything stored under `visitor_key`, in the caller's transaction (commit to make it final)."""
    key = normalise_visitor_key(visitor_key)
    own_battles = select(Battle.id).where(Battle.judge_key == key)
    own_prompts = select(Prompt.id).where(Prompt.visitor_key == key)
    others_on_own_prompts = and_(
        Battle.prompt_id.in_(own_prompts), or_(Battle.judge_key.is_(None), Battle.judge_key != key)
    )

    votes = _count(session, select(Vote.id).where(Vote.battle_id.in_(own_battles)))
    battles = _count(session, own_battles)
    prompts = _count(session, own_prompts)
    replies = _count(session, select(Reply.id).where(Reply.prompt_id.in_(own_prompts)))

    # The maintained counts lose the visitor's votes, and the others' votes on their messages leave the emotion
    # boards (detached from the message, they count overall only).
    touched = (
        select(Vote.id)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(or_(Battle.judge_key == key, others_on_own_prompts))
    )
    with vote_counts.recounted(session, touched):
        detached = _delete(session, key, others_on_own_prompts)
    terms = session.execute(
        delete(TermsAcceptance).where(TermsAcceptance.visitor_key == key).execution_options(synchronize_session=False)
    ).rowcount
    session.execute(delete(VisitorProof).where(VisitorProof.visitor_key == key))
    # Whatever still carries the key (a stale cookie in another tab) can never vote or be shown battles under it.
    retire(session, key)
    session.expire_all()
    return DeletionSummary(
        votes=votes,
        battles=battles,
        prompts=prompts,
        replies=replies,
        terms_acceptances=terms,
        others_votes_detached=detached,
    )


def _delete(session: Session, key: str, others_on_own_prompts) -> int:
    """The visitor's battles, votes and messages; others' battles on those messages detached. Returns how many
    of those were detached."""
    own_battles = select(Battle.id).where(Battle.judge_key == key)
    # Others' unvoted battles on these messages only go (nothing acknowledged in them); their votes stay.
    session.execute(
        delete(Battle)
        .where(others_on_own_prompts, Battle.status != "voted")
        .execution_options(synchronize_session=False)
    )
    detached = session.execute(
        update(Battle)
        .where(others_on_own_prompts)
        .values(prompt_id=None, reply_a_id=None, reply_b_id=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.execute(delete(Vote).where(Vote.battle_id.in_(own_battles)).execution_options(synchronize_session=False))
    session.execute(delete(Battle).where(Battle.judge_key == key).execution_options(synchronize_session=False))
    # Replies, emotion tags, features, EQ scores and job errors follow by ON DELETE CASCADE.
    session.execute(delete(Prompt).where(Prompt.visitor_key == key).execution_options(synchronize_session=False))
    return detached
