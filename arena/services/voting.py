"""Create battles and record votes. One vote per battle holds under concurrency: a conditional UPDATE
(status open -> voted) admits one request, and UNIQUE(vote.battle_id) backs it up."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.models import OUTCOMES, Battle, Model, Vote, utcnow
from arena.services.battle_ids import new_public_id
from arena.services.demo import DEMO_PROVIDER
from arena.services.identity_leak import IDENTITY_LEAK, battle_leak, own_names
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


class BattleNotReady(VoteRejected):
    """A live battle whose replies are still streaming (or never arrived)."""

    status = 409


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


def _model_names(model: Model) -> list[str]:
    # Demo personas have everyday names ("Brief", "Cheerleader") and no identity to leak.
    if model.provider == DEMO_PROVIDER:
        return []
    return own_names(model.slug, model.display_name, model.provider, model.litellm_model)


def flag_identity_leak(battle: Battle) -> str | None:
    """Check both replies for a give-away of either model; record what was found on the battle. Returns the
    exclusion reason when the battle leaks."""
    if battle.reply_a is None or battle.reply_b is None:
        return None
    leak = battle_leak(
        battle.reply_a.text, battle.reply_b.text, _model_names(battle.model_a) + _model_names(battle.model_b)
    )
    if leak is None:
        return None
    battle.meta = {**(battle.meta or {}), IDENTITY_LEAK: leak.as_meta()}
    return IDENTITY_LEAK


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
    if battle.source == "live" and (battle.reply_a_id is None or battle.reply_b_id is None):
        if battle.status == "expired":
            raise BattleExpired("a model failed to answer this message, so it takes no vote; write another")
        raise BattleNotReady("the replies are not complete yet; vote when both have arrived")
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
    # A leak excludes the vote whatever the dwell: the visitor knew (or could know) who was who.
    exclusion = flag_identity_leak(battle) or (TOO_FAST if dwell_ms < min_dwell_ms else None)
    vote = Vote(
        battle_id=battle.id,
        model_a_id=battle.model_a_id,
        model_b_id=battle.model_b_id,
        outcome=outcome,
        created_at=now,
        dwell_ms=dwell_ms,
        counts_for_leaderboard=exclusion is None,
        exclusion_reason=exclusion,
    )
    session.add(vote)
    try:
        session.flush()
    except IntegrityError as exc:
        raise AlreadyVoted("this battle already has a vote; each battle takes one") from exc
    session.refresh(battle)
    return vote
