"""Create battles and record votes. One vote per battle holds under concurrency: a conditional UPDATE
(status open -> voted) admits one request, and UNIQUE(vote.battle_id) backs it up."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.models import OUTCOMES, Battle, Vote, utcnow
from arena.services.battle_ids import new_public_id
from arena.services.pairing import Draw


class VoteRejected(Exception):
    """A vote that cannot be recorded; `status` is the HTTP status that says why."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidOutcome(VoteRejected):
    status = 400


class BattleNotFound(VoteRejected):
    status = 404


class AlreadyVoted(VoteRejected):
    status = 409


class BattleExpired(VoteRejected):
    status = 410


def create_battle(session: Session, draw: Draw, *, judge_key: str | None, ttl: timedelta) -> Battle:
    now = utcnow()
    battle = Battle(
        public_id=new_public_id(),
        prompt_id=draw.prompt_id,
        reply_a_id=draw.reply_a_id,
        reply_b_id=draw.reply_b_id,
        model_a_id=draw.model_a_id,
        model_b_id=draw.model_b_id,
        judge_key=judge_key,
        sampling_prob=draw.probability,
        status="open",
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(battle)
    session.flush()
    return battle


def find_battle(session: Session, public_id: str) -> Battle | None:
    return session.scalar(select(Battle).where(Battle.public_id == public_id))


def is_expired(battle: Battle, now: datetime) -> bool:
    return battle.status == "expired" or (battle.expires_at is not None and battle.expires_at <= now)


TOO_FAST = "too_fast"


def cast_vote(
    session: Session, public_id: str, outcome: str, *, now: datetime | None = None, min_dwell_ms: int = 0
) -> Vote:
    """Record the vote in the caller's transaction. Raises VoteRejected (and writes nothing) otherwise. A vote
    faster than `min_dwell_ms` is stored all the same, marked as not counting, with its reason."""
    if outcome not in OUTCOMES:
        raise InvalidOutcome(f"outcome must be one of {', '.join(OUTCOMES)}")
    now = now or utcnow()
    battle = find_battle(session, public_id)
    if battle is None:
        raise BattleNotFound("no such battle")
    if battle.status == "voted":
        raise AlreadyVoted("this battle already has a vote; each battle takes one")
    if is_expired(battle, now):
        raise BattleExpired("this battle has expired; start a new one")

    claimed = session.execute(
        update(Battle)
        .where(Battle.id == battle.id, Battle.status == "open")
        .values(status="voted")
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        # Another request voted between our read and our update.
        raise AlreadyVoted("this battle already has a vote; each battle takes one")

    dwell_ms = max(0, int((now - battle.created_at).total_seconds() * 1000))
    vote = Vote(
        battle_id=battle.id,
        model_a_id=battle.model_a_id,
        model_b_id=battle.model_b_id,
        outcome=outcome,
        created_at=now,
        dwell_ms=dwell_ms,
        counts_for_leaderboard=dwell_ms >= min_dwell_ms,
        exclusion_reason=None if dwell_ms >= min_dwell_ms else TOO_FAST,
    )
    session.add(vote)
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyVoted("this battle already has a vote; each battle takes one") from exc
    session.refresh(battle)
    return vote
