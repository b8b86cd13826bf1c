"""A visitor's history as the vote loop reads it on every battle and vote (the messages shown, the votes cast),
remembered per worker and topped up instead of read whole: the whole read grows with the visitor's history (a
battle row per battle ever shown), the top-up reads only the battles shown since (and, for votes, the visitor's
battles still open last time), plus a count of the visitor's battles (the judge_key index).

Exact on both databases because the count is read in the top-up's own snapshot: anything that changes the
visitor's battles other than new ones with higher ids changes the count, and the set is read whole again. That
covers a deletion (privacy, a demo reload) and, on PostgreSQL, a battle that commits after a read with a lower id
than one that read saw (ids come from a sequence before commit, so two draws of one visitor can become visible out
of order). Left alone: a deletion and as many such late battles of the same visitor between two of its reads
cancel out in the count; the kept entry is then off by those battles until the count next disagrees or the entry
is forgotten (what it feeds is a soft preference for unseen messages, whose draw stores the probability it used,
and a vote counter)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, true
from sqlalchemy.orm import Session

from arena.models import Battle, Vote
from arena.voting.pairing import seen_prompt_ids

# Visitors remembered per worker (the least recently drawn for forgotten first).
VISITORS = 4096

_KEY = bindparam("judge_key")
_total = select(func.count().label("total")).select_from(Battle).where(Battle.judge_key == _KEY).subquery("total")
_newer = select(Battle.id, Battle.prompt_id).where(Battle.judge_key == _KEY, Battle.id > bindparam("after")).subquery()
# One statement, one snapshot: the count and the new battles agree. Always one row at least (the count).
_TOP_UP = select(_total.c.total, _newer.c.id, _newer.c.prompt_id).select_from(_total.outerjoin(_newer, true()))
_ALL = select(Battle.id, Battle.prompt_id).where(Battle.judge_key == _KEY)


@dataclass(frozen=True)
class _Seen:
    after: int  # the highest battle id read
    battles: int  # the visitor's battles up to it
    prompts: frozenset[int]


class _PerVisitor:
    """The newest few thousand visitors' entries, shared by a worker's threads. Two threads topping up the same
    visitor each store a state read in one snapshot; an older one stored last is topped up on the next read."""

    def __init__(self, visitors: int = VISITORS) -> None:
        self._visitors = visitors
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, object] = OrderedDict()

    def _get(self, visitor_key: str):
        with self._lock:
            return self._entries.get(visitor_key)

    def _put(self, visitor_key: str, entry) -> None:
        with self._lock:
            self._entries[visitor_key] = entry
            self._entries.move_to_end(visitor_key)
            while len(self._entries) > self._visitors:
                self._entries.popitem(last=False)


class SeenPrompts(_PerVisitor):
    def of(self, session: Session, visitor_key: str | None) -> frozenset[int]:
        """`seen_prompt_ids(session, visitor_key)`, the same set."""
        if visitor_key is None:
            return seen_prompt_ids(session, visitor_key)
        known = self._get(visitor_key) or _Seen(0, 0, frozenset())
        connection = session.connection()
        rows = connection.execute(_TOP_UP, {"judge_key": visitor_key, "after": known.after}).all()
        newer = [(row.id, row.prompt_id) for row in rows if row.id is not None]
        if rows[0].total == known.battles + len(newer):
            seen = _Seen(max([known.after, *(i for i, _ in newer)]), rows[0].total,
                         known.prompts.union(p for _, p in newer))  # fmt: skip
        else:
            # A battle of the visitor's went away: read them all again.
            every = connection.execute(_ALL, {"judge_key": visitor_key}).all()
            seen = _Seen(max((i for i, _ in every), default=0), len(every), frozenset(p for _, p in every))
        self._put(visitor_key, seen)
        return seen.prompts


# Open battles remembered per visitor at most: past that (a visitor who opens battles and never votes) the votes
# are counted whole each time.
OPEN_BATTLES = 256
_OPEN = bindparam("open", expanding=True)
_battles = select(Battle.id, Vote.id.label("vote_id")).outerjoin(
    Vote, (Vote.battle_id == Battle.id) & (Vote.voter_key == _KEY)
)
_changed = _battles.where(Battle.judge_key == _KEY, (Battle.id > bindparam("after")) | Battle.id.in_(_OPEN)).subquery()
_VOTES_TOP_UP = select(_total.c.total, _changed.c.id, _changed.c.vote_id).select_from(
    _total.outerjoin(_changed, true())
)
_VOTES_ALL = _battles.where(Battle.judge_key == _KEY)


@dataclass(frozen=True)
class _Votes:
    after: int  # the highest battle id read
    battles: int  # the visitor's battles up to it
    votes: int  # their votes on those battles
    open: frozenset[int]  # those battles without a vote yet


class OwnVotes(_PerVisitor):
    def count(self, session: Session, visitor_key: str) -> int:
        """`count_own_votes(session, visitor_key)`, the same number. A vote only ever lands on a battle shown to
        its voter, once: on a battle newer than the last read, or on one that was still open then."""
        known = self._get(visitor_key) or _Votes(0, 0, 0, frozenset())
        connection = session.connection()
        rows = connection.execute(_VOTES_TOP_UP, {"judge_key": visitor_key, "after": known.after,
                                                  "open": sorted(known.open)}).all()  # fmt: skip
        changed = [(row.id, row.vote_id) for row in rows if row.id is not None]
        newer = sum(1 for battle, _ in changed if battle > known.after)
        if rows[0].total == known.battles + newer:
            votes = known.votes + sum(1 for _, vote in changed if vote is not None)
            state = _Votes(max([known.after, *(b for b, _ in changed)]), rows[0].total, votes,
                           frozenset(b for b, vote in changed if vote is None))  # fmt: skip
        else:
            # A battle of the visitor's went away: count them all again.
            every = connection.execute(_VOTES_ALL, {"judge_key": visitor_key}).all()
            state = _Votes(max((b for b, _ in every), default=0), len(every),
                           sum(1 for _, vote in every if vote is not None),
                           frozenset(b for b, vote in every if vote is None))  # fmt: skip
        if len(state.open) <= OPEN_BATTLES:
            self._put(visitor_key, state)
        return state.votes
