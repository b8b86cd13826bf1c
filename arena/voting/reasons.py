"""Why people voted: the optional reasons a voter taps on the reveal, per side, after their vote (issue 21).

A reason is a tag of one side of one vote, stored in `vote_reason` (never a column of the vote, never a battle):
each tap sets or clears one tag, so a repeated tap changes nothing (idempotent) and a tap on a chip already on
clears it. Only the visitor the battle was shown to may tag it, and only once it has their vote."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from arena.models import REASON_SIDES, VOTE_REASONS, Battle, Vote, VoteReason, utcnow
from arena.voting.voting import BattleNotFound, NotYourBattle, VoteRejected

# What each chip says, in the fixed order of VOTE_REASONS.
REASON_LABELS = {
    "felt_heard": "Felt heard",
    "practical_help": "Practical help",
    "too_long": "Too long",
    "preachy": "Preachy",
    "cold": "Cold",
    "flattering": "Flattering",
    "unsafe": "Unsafe",
}
assert tuple(REASON_LABELS) == VOTE_REASONS


class InvalidReason(VoteRejected):
    status = 400


class NotVotedYet(VoteRejected):
    """Reasons explain a vote: there is none to explain yet."""

    status = 409


def check_tag(side: str, reason: str) -> None:
    """Raises InvalidReason naming the allowed values; shared by the web form and the vote import."""
    if side not in REASON_SIDES:
        raise InvalidReason(f"side must be 'a' or 'b'; got {side!r}")
    if reason not in VOTE_REASONS:
        raise InvalidReason(f"reason must be one of {', '.join(VOTE_REASONS)}; got {reason!r}")


def _own_vote(session: Session, public_id: str, voter_key: str | None) -> int:
    row = session.execute(
        select(Battle.judge_key, Vote.id)
        .outerjoin(Vote, Vote.battle_id == Battle.id)
        .where(Battle.public_id == public_id)
    ).first()
    if row is None:
        raise BattleNotFound("no such battle")
    judge_key, vote_id = row
    if voter_key is None or judge_key != voter_key:
        raise NotYourBattle("this battle was shown to another visitor: only they can say why they voted")
    if vote_id is None:
        raise NotVotedYet("vote first: reasons explain a vote, and this battle has none yet")
    return vote_id


def set_reason(session: Session, public_id: str, voter_key: str | None, side: str, reason: str, tagged: bool) -> None:
    """Tag (or untag) one side of `voter_key`'s vote on the battle, in the caller's transaction. Raises
    VoteRejected (writing nothing) for a bad tag, someone else's battle, or a battle without a vote."""
    check_tag(side, reason)
    vote_id = _own_vote(session, public_id, voter_key)
    if not tagged:
        session.execute(
            delete(VoteReason).where(
                VoteReason.vote_id == vote_id, VoteReason.side == side, VoteReason.reason == reason
            )
        )
        return
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(VoteReason)
        .values(vote_id=vote_id, side=side, reason=reason, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["vote_id", "side", "reason"])
    )


def reasons_of(session: Session, public_id: str) -> set[tuple[str, str]]:
    """The (side, reason) tags of the battle's vote."""
    return set(
        session.execute(
            select(VoteReason.side, VoteReason.reason)
            .join(Vote, Vote.id == VoteReason.vote_id)
            .join(Battle, Battle.id == Vote.battle_id)
            .where(Battle.public_id == public_id)
        ).tuples()
    )


class Chip(NamedTuple):
    reason: str
    label: str
    on: bool


class SideChips(NamedTuple):
    side: str
    chips: list[Chip]


# Tuples with attributes rather than dicts: the template reads each field of fourteen chips on every reveal, and
# Jinja looks a name up as an attribute first (a dict answers only after a failed attribute lookup, an exception).
def chips(tagged: set[tuple[str, str]]) -> list[SideChips]:
    """Per side, its chips in the fixed order with whether each is on: what templates/battle/_reasons.html draws."""
    return [
        SideChips(side, [Chip(r, label, (side, r) in tagged) for r, label in REASON_LABELS.items()])
        for side in REASON_SIDES
    ]
