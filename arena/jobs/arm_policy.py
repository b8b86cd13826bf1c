"""Whether battles shown under a presentation arm count on the model board: by default not (a model is rated on
its replies as it wrote them), unless the operator sets ARENA_ARMS_ON_BOARD. The recompute job applies the choice
before anything is counted, in both directions, so changing the setting takes effect at the next rating run:
votes on armed battles that count are set aside with the reason `presentation_arm`, or, with the setting on,
those set aside for it count again. Votes excluded for any other reason are never touched (a repeat, a vote cast
too fast, a filtered voter keep their reason), and the EQ analysis reads armed battles either way."""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.models import Battle, Vote
from arena.voting.moderation import PRESENTATION_ARM


def armed_battles():
    """The ids of battles with an arm applied to either side."""
    return select(Battle.id).where(or_(Battle.arm_a.is_not(None), Battle.arm_b.is_not(None)))


def apply(session: Session, on_board: bool) -> int:
    """Set aside (or, `on_board`, count again) the votes on armed battles, in the caller's transaction, with the
    maintained counts (arena.vote_counts) shifted to match; returns how many votes changed."""
    if on_board:
        stmt = (
            update(Vote)
            .where(Vote.counts_for_leaderboard.is_(False), Vote.exclusion_reason == PRESENTATION_ARM)
            .values(counts_for_leaderboard=True, exclusion_reason=None)
        )
    else:
        stmt = (
            update(Vote)
            .where(Vote.counts_for_leaderboard.is_(True), Vote.battle_id.in_(armed_battles()))
            .values(counts_for_leaderboard=False, exclusion_reason=PRESENTATION_ARM)
        )
    changed = vote_counts.flipped(session, stmt, 1 if on_board else -1)
    vote_counts.settle(session)
    return changed
