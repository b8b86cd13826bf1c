"""What the export writes of each vote's reasons (arena/voting/reasons.py): `reasons_a` and `reasons_b`, the tags
of each side in the fixed order of VOTE_REASONS ([] when the voter tapped none). Read in chunks as the battles
stream past in id order, like the conversations, so memory holds one chunk of tagged votes, not the arena."""

from __future__ import annotations

import bisect

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.models import VOTE_REASONS, Vote, VoteReason

CHUNK = 5_000
_ORDER = {reason: k for k, reason in enumerate(VOTE_REASONS)}


class ReasonReader:
    """`get(battle_id)`: (reasons_a, reasons_b) of the battle's vote. Asked in increasing battle id order."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.ids = list(
            session.scalars(
                select(Vote.battle_id).where(Vote.id.in_(select(VoteReason.vote_id))).order_by(Vote.battle_id)
            )
        )
        self.chunk: dict[int, tuple[list[str], list[str]]] = {}

    def get(self, battle_id: int) -> tuple[list[str], list[str]]:
        if battle_id in self.chunk:
            return self.chunk[battle_id]
        at = bisect.bisect_left(self.ids, battle_id)
        if at == len(self.ids) or self.ids[at] != battle_id:
            return [], []
        wanted = self.ids[at : at + CHUNK]
        tags: dict[int, dict[str, list[str]]] = {b: {"a": [], "b": []} for b in wanted}
        for battle, side, reason in self.session.execute(
            select(Vote.battle_id, VoteReason.side, VoteReason.reason)
            .join(Vote, Vote.id == VoteReason.vote_id)
            .where(Vote.battle_id.in_(wanted))
        ):
            tags[battle][side].append(reason)
        self.chunk = {
            b: (sorted(t["a"], key=_ORDER.__getitem__), sorted(t["b"], key=_ORDER.__getitem__)) for b, t in tags.items()
        }
        return self.chunk[battle_id]
