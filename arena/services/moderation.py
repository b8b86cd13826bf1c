"""Votes kept but not counted: how many, why, and putting them back. Used by the admin pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from arena.models import Battle, Model, RatingRun, Vote


@dataclass(frozen=True)
class ArenaTotals:
    votes: int
    counted: int
    battles: int
    models: int
    active_models: int
    latest_run: RatingRun | None


def count_votes(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Vote)) or 0


def totals(session: Session) -> ArenaTotals:
    def count(stmt) -> int:
        return session.scalar(stmt) or 0

    return ArenaTotals(
        votes=count_votes(session),
        counted=count(select(func.count()).select_from(Vote).where(Vote.counts_for_leaderboard.is_(True))),
        battles=count(select(func.count()).select_from(Battle)),
        models=count(select(func.count()).select_from(Model)),
        active_models=count(select(func.count()).select_from(Model).where(Model.active.is_(True))),
        latest_run=session.scalar(select(RatingRun).order_by(RatingRun.id.desc()).limit(1)),
    )


def exclusions(session: Session) -> list[tuple[str | None, int]]:
    """(reason, votes) for every vote that does not count, most frequent first."""
    return [
        (reason, n)
        for reason, n in session.execute(
            select(Vote.exclusion_reason, func.count())
            .where(Vote.counts_for_leaderboard.is_(False))
            .group_by(Vote.exclusion_reason)
            .order_by(func.count().desc())
        )
    ]


def reinclude(session: Session, reason: str) -> int:
    """Count again every vote excluded for `reason` (from the next rating run on); returns how many."""
    return session.execute(
        update(Vote)
        .where(Vote.counts_for_leaderboard.is_(False), Vote.exclusion_reason == reason)
        .values(counts_for_leaderboard=True, exclusion_reason=None)
        .execution_options(synchronize_session=False)
    ).rowcount
