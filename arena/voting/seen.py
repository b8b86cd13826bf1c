"""The messages each visitor was shown, remembered per worker and topped up on every battle instead of read whole:
the whole read grows with a visitor's history (a battle row per battle ever shown), the top-up reads only the
battles shown since, plus a count of the visitor's battles from the judge_key index alone.

Only on SQLite, where the single writer makes battle ids visible in order: a battle that commits after a read has
a higher id than every battle of the visitor that read saw, so `id > last seen` misses none. Anything else that
changes the visitor's battles (a deletion: privacy, a demo reload) changes the count, and the set is read whole
again. On PostgreSQL ids can become visible out of order, so there every draw reads the whole set (the database
does that work in its own process)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, true
from sqlalchemy.orm import Session

from arena.models import Battle
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


class SeenPrompts:
    def __init__(self, incremental: bool, visitors: int = VISITORS) -> None:
        self._incremental = incremental
        self._visitors = visitors
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Seen] = OrderedDict()

    def of(self, session: Session, visitor_key: str | None) -> frozenset[int]:
        """`seen_prompt_ids(session, visitor_key)`, the same set."""
        if visitor_key is None or not self._incremental:
            return seen_prompt_ids(session, visitor_key)
        with self._lock:
            known = self._entries.get(visitor_key) or _Seen(0, 0, frozenset())
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
        with self._lock:
            self._entries[visitor_key] = seen
            self._entries.move_to_end(visitor_key)
            while len(self._entries) > self._visitors:
                self._entries.popitem(last=False)
        return seen.prompts
