"""Which votes a rebuilt board counts: only those cast in anonymous battles (the published primary column of
FastChat-style arenas, whose files also hold votes cast after the names were shown), and/or only those cast up
to a date. A scoped run is its own snapshot, marked in its status and parameters, and never replaces the current
board: pages, the export and active sampling read complete runs only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_

from arena.models import Battle, Vote

# RatingRun.status of a scoped run (the current board's runs are 'complete').
AS_OF = "as-of"
ANONY_ONLY = "anony-only"


def anonymous():
    """The battle was voted without the names shown: its record said `anony` true, or said nothing (a battle
    cast on this site always hides the names until the vote)."""
    flag = Battle.meta["anony"].as_boolean()
    return or_(flag.is_(None), flag.is_(True))


@dataclass(frozen=True)
class VoteScope:
    anony_only: bool = False
    # Votes cast at or before this instant (UTC) only.
    as_of: datetime | None = None

    @property
    def active(self) -> bool:
        return self.anony_only or self.as_of is not None

    @property
    def joins_battle(self) -> bool:
        return self.anony_only

    @property
    def status(self) -> str:
        return AS_OF if self.as_of is not None else ANONY_ONLY

    def conditions(self) -> list:
        """WHERE clauses over Vote (and Battle, when `joins_battle`)."""
        found = []
        if self.as_of is not None:
            found.append(Vote.created_at <= self.as_of)
        if self.anony_only:
            found.append(anonymous())
        return found

    def as_params(self) -> dict:
        return {"anony_only": self.anony_only, "as_of": None if self.as_of is None else self.as_of.isoformat()}


def parse_as_of(text: str) -> datetime:
    """A date (the whole day counts: votes up to its last microsecond, UTC) or an ISO date and time (UTC unless it
    names its zone). Raises ValueError naming the accepted forms."""
    try:
        if len(text.strip()) == 10:
            day = datetime.fromisoformat(text.strip())
            return day.replace(hour=23, minute=59, second=59, microsecond=999999, tzinfo=UTC)
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--as-of takes a date (2024-02-20) or an ISO date and time, got {text!r}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


EVERY_VOTE = VoteScope()
