"""Create battles and record votes. One vote per battle holds under concurrency: a conditional UPDATE
(status open -> voted) admits one request, and UNIQUE(vote.battle_id) backs it up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from arena.models import OUTCOMES, Battle, Conversation, Model, Prompt, Reply, UTCDateTime, VisitorProof, Vote, utcnow
from arena.voting.arms import SHOWN as SHOWN_ARMS
from arena.voting.arms import shown_texts
from arena.voting.battle_ids import new_public_id
from arena.voting.edits import edited_side
from arena.voting.identity_leak import IDENTITY_LEAK
from arena.voting.moderation import EDIT, REPEAT, TOO_FAST, UNVERIFIED
from arena.voting.pairing import Draw
from arena.voting.retired_keys import RetiredKey, digest, is_retired_clause


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


class NotYourBattle(VoteRejected):
    """A battle takes the vote of the visitor it was shown to, no one else's."""

    status = 403


class RetiredVisitor(VoteRejected):
    """The voter's key was deleted under privacy: the browser gets a new identity."""

    status = 403

    def __init__(self) -> None:
        super().__init__("Your data was deleted, so this browser has a new identity now: start a new battle.")


class BattleNotReady(VoteRejected):
    """A live battle whose replies are still streaming (or never arrived)."""

    status = 409


# A plain Core INSERT on the session's connection rather than the ORM: this runs on every page view, nothing
# reads the row back within the request, and the ORM's bookkeeping cost more than the statement. It is an
# INSERT ... SELECT so that the retired-key check rides in the same statement: no extra round trip per page.
_BATTLE_COLUMNS = ("public_id", "source", "metadata", "prompt_id", "reply_a_id", "reply_b_id", "model_a_id",
                   "model_b_id", "judge_key", "sampling_prob", "status", "created_at", "expires_at", "arm_a", "arm_b",
                   "arm_a_prob", "arm_b_prob")  # fmt: skip
_INSERT_BATTLE = (
    insert(Battle.__table__)
    .from_select(
        _BATTLE_COLUMNS,
        select(*(bindparam(name, type_=Battle.__table__.c[name].type) for name in _BATTLE_COLUMNS)).where(
            ~is_retired_clause(bindparam("judge_key_digest", type_=Battle.__table__.c.judge_key.type))
        ),
    )
    .returning(Battle.id)
)  # an INSERT ... SELECT's rowcount is not reported on every backend; a returned row is


def create_battle(session: Session, draw: Draw, *, judge_key: str | None, ttl: timedelta) -> str:
    """Store a new open battle for `draw` in the caller's transaction; returns its public id. Raises RetiredKey
    (storing nothing) if `judge_key` was deleted under privacy. A transcript draw also stores the battle's
    conversation row (its turns stay with the replies) and how many exchanges it shows, a second statement: the
    caller's transaction must hold both."""
    now = utcnow()
    public_id = new_public_id()
    meta = {IDENTITY_LEAK: draw.identity_leak} if draw.identity_leak else {}
    if draw.conversation is not None:
        meta[TURNS_SHOWN] = draw.conversation.turns
    if draw.repeat_of is not None:
        meta[REPEAT_OF] = draw.repeat_of
    arms = draw.arms
    if arms is not None and arms.applied:
        meta[SHOWN_ARMS] = arms.meta()
    if draw.edit_dimension is not None:
        meta[EDIT_DIMENSION] = draw.edit_dimension
    # The values are built before the connection is asked for: on SQLite asking begins the transaction, which takes
    # the single write lock, and every other writer waits while it is held.
    values = {
        "public_id": public_id,
        "source": "arena" if draw.edit_dimension is None else "edit",
        "metadata": meta,
        "prompt_id": draw.prompt_id,
        "reply_a_id": draw.reply_a_id,
        "reply_b_id": draw.reply_b_id,
        "model_a_id": draw.model_a_id,
        "model_b_id": draw.model_b_id,
        "judge_key": judge_key,
        "judge_key_digest": digest(judge_key) if judge_key else "",
        # A repeat was not drawn by the pair-and-message draw: it has no such probability (an edit battle
        # stores the probability of its own draw, arena/voting/edits.py).
        "sampling_prob": None if draw.repeat_of is not None else draw.probability,
        "status": "open",
        "created_at": now,
        "expires_at": now + ttl,
        "arm_a": arms.arm_a if arms else None,
        "arm_b": arms.arm_b if arms else None,
        "arm_a_prob": arms.prob_a if arms else None,
        "arm_b_prob": arms.prob_b if arms else None,
    }
    row = session.connection().execute(_INSERT_BATTLE, values).first()
    if row is None:
        raise RetiredKey
    if draw.conversation is not None:
        session.connection().execute(
            insert(Conversation.__table__),
            {"battle_id": row.id, "mode": "transcript", "scenario": draw.scenario, "metadata": {}, "created_at": now},
        )
    return public_id


def find_battle(session: Session, public_id: str) -> Battle | None:
    return session.scalar(select(Battle).where(Battle.public_id == public_id))


def is_expired(battle: Battle, now: datetime) -> bool:
    return battle.status == "expired" or (battle.expires_at is not None and battle.expires_at <= now)


_battle, _prompts, _replies, _models = Battle.__table__, Prompt.__table__, Reply.__table__, Model.__table__


def _shown(column, table, key):
    """What the reveal shows of a battle's prompt, reply or model: a subquery the claim returns, so a vote needs
    no separate read (SQLite and PostgreSQL both take subqueries in RETURNING)."""
    return select(column).where(table.c.id == key).correlate(_battle).scalar_subquery()


# Built once, like _REVEAL below: building statements per request costs more than running them.
_CLAIM = (
    update(_battle)
    .where(
        Battle.public_id == bindparam("claim_public_id"),
        Battle.status == "open",
        # Ownership: the vote of the visitor the battle was shown to, under a key not deleted since.
        Battle.judge_key == bindparam("claim_voter"),
        ~is_retired_clause(bindparam("claim_voter_digest", type_=Battle.__table__.c.judge_key.type)),
        or_(Battle.expires_at.is_(None), Battle.expires_at > bindparam("claim_now", type_=UTCDateTime())),
        # A live battle takes a vote only once both replies arrived whole.
        Battle.reply_a_id.is_not(None),
        Battle.reply_b_id.is_not(None),
    )
    .values(status="voted")
    .returning(
        Battle.id,
        Battle.model_a_id,
        Battle.model_b_id,
        Battle.created_at,
        Battle.source,
        _battle.c["metadata"].label("meta"),
        _shown(_prompts.c.text, _prompts, _battle.c.prompt_id).label("prompt"),
        _shown(_replies.c.text, _replies, _battle.c.reply_a_id).label("reply_a"),
        _shown(_replies.c.text, _replies, _battle.c.reply_b_id).label("reply_b"),
        _shown(_models.c.display_name, _models, _battle.c.model_a_id).label("model_a"),
        _shown(_models.c.display_name, _models, _battle.c.model_b_id).label("model_b"),
        Battle.arm_a,
        Battle.arm_b,
    )  # fmt: skip
)
_INSERT_VOTE = insert(Vote.__table__)
# Battle.meta key: the exchanges a multi-turn battle shows now (absent: one). Set when a transcript battle is drawn
# and after each completed exchange of a live conversation; copied to Vote.turns by the vote.
TURNS_SHOWN = "turns"
# Battle.meta key of a repeat: the id of the battle whose pair of replies it shows again (arena/voting/repeats.py).
REPEAT_OF = "repeat_of"
# Battle.meta key of an edit battle (source 'edit'): the dimension its edited side changed.
EDIT_DIMENSION = "edit_dimension"


@dataclass(frozen=True)
class Reveal:
    """A voted battle with everything the reveal shows, read in one query."""

    public_id: str
    prompt: str
    reply_a: str
    reply_b: str
    model_a: str
    model_b: str
    outcome: str
    exclusion_reason: str | None
    # Whether the reveal may name the models: only for a vote that can count, i.e. cast by a visitor who paid the
    # proof-of-work (or when the operator counts unverified votes). A reveal for a vote that cannot count would
    # hand out the reply-to-model dictionary for free (README, Threat model).
    names_shown: bool = True
    # The exchanges a multi-turn battle showed (its TURNS_SHOWN); None for a single-turn battle, whose reveal
    # needs nothing beyond the fields above.
    turns: int | None = None
    # 'live' for a visitor's own conversation, whose reveal offers to go on with two new models.
    source: str = "arena"
    # An edit battle (one model on both sides): which side was edited and what the edit changed.
    edited: tuple[str, str] | None = None


def _why_not_open(session: Session, public_id: str, voter_key: str, now: datetime) -> VoteRejected:
    battle = find_battle(session, public_id)
    if battle is None:
        return BattleNotFound("no such battle")
    if battle.judge_key != voter_key:
        return NotYourBattle("this battle was shown to another visitor and takes only their vote; start your own")
    if session.scalar(select(is_retired_clause(digest(voter_key)))):
        return RetiredVisitor()
    if battle.status == "voted":
        return AlreadyVoted("this battle already has a vote; each battle takes one")
    if battle.source == "live" and (battle.reply_a_id is None or battle.reply_b_id is None):
        if battle.status == "expired":
            return BattleExpired("a model failed to answer this message, so it takes no vote; write another")
        return BattleNotReady("the replies are not complete yet; vote when both have arrived")
    if is_expired(battle, now):
        return BattleExpired("this battle has expired; start a new one")
    # Open and unexpired now, so another request changed it between our update and this read.
    return AlreadyVoted("this battle already has a vote; each battle takes one")


def cast_vote(
    session: Session,
    public_id: str,
    outcome: str,
    *,
    voter_key: str,
    network_hash: str | None = None,
    now: datetime | None = None,
    min_dwell_ms: int = 0,
    verified: bool = True,
) -> Reveal:
    """Record `voter_key`'s vote in the caller's transaction and return the battle's reveal. Raises VoteRejected
    (and writes nothing) otherwise, also when the battle was shown to another key. A vote on a battle whose
    replies give a model away, faster than `min_dwell_ms`, or by a voter not `verified` is stored all the same,
    marked as not counting, with its reason (the first of those three that applies)."""
    if outcome not in OUTCOMES:
        raise InvalidOutcome(f"outcome must be one of {', '.join(OUTCOMES)}")
    now = now or utcnow()
    # The conditional update is the claim: of racing requests exactly one sees its row come back. It is also
    # the whole read, reveal included, so a vote costs two statements; only a rejected one is looked at again
    # to say why.
    claim = {"claim_public_id": public_id, "claim_now": now, "claim_voter": voter_key,
             "claim_voter_digest": digest(voter_key)}  # fmt: skip
    claimed = session.connection().execute(_CLAIM, claim).first()
    if claimed is None:
        raise _why_not_open(session, public_id, voter_key, now)

    dwell_ms = max(0, int((now - claimed.created_at).total_seconds() * 1000))
    # A leak excludes the vote whatever the dwell: the visitor knew (or could know) who was who.
    # (The replies were checked when the battle was drawn or, live, completed; a leak is in its metadata.)
    leaked = IDENTITY_LEAK in (claimed.meta or {})
    exclusion = IDENTITY_LEAK if leaked else TOO_FAST if dwell_ms < min_dwell_ms else None if verified else UNVERIFIED
    if exclusion is None and REPEAT_OF in (claimed.meta or {}):
        # A repeat never counts (its original does): the pair weighs once, and the visitor gains no second vote.
        exclusion = REPEAT
    if exclusion is None and claimed.source == "edit":
        # One model on both sides: the vote measures the edit, never a model (arena/jobs/edit_effects.py).
        exclusion = EDIT
    try:
        session.connection().execute(
            _INSERT_VOTE,
            {
                "battle_id": claimed.id,
                "model_a_id": claimed.model_a_id,
                "model_b_id": claimed.model_b_id,
                "outcome": outcome,
                "created_at": now,
                "dwell_ms": dwell_ms,
                "counts_for_leaderboard": exclusion is None,
                "exclusion_reason": exclusion,
                "voter_key": voter_key,
                "network_hash": network_hash,
                # A multi-turn battle keeps how many exchanges it shows in its metadata (TURNS_SHOWN), so the
                # claim's row already says how many the voter saw.
                "turns": int((claimed.meta or {}).get(TURNS_SHOWN, 1)),
            },
        )
    except IntegrityError as exc:
        raise AlreadyVoted("this battle already has a vote; each battle takes one") from exc
    # The replies as the voter saw them: a side shown under a presentation arm is rebuilt from its stored text.
    reply_a, reply_b = battle_texts(claimed.reply_a, claimed.reply_b, claimed.arm_a, claimed.arm_b)
    return Reveal(public_id, claimed.prompt, reply_a, reply_b, claimed.model_a, claimed.model_b,
                  outcome, _shown_reason(exclusion), names_shown=verified,
                  turns=(claimed.meta or {}).get(TURNS_SHOWN), source=claimed.source,
                  edited=_edited(session, claimed.id, claimed.source))  # fmt: skip


def _edited(session: Session, battle_id: int, source: str) -> tuple[str, str] | None:
    """The edited side of an edit battle (a read only edit battles pay for), else None."""
    if source != "edit":
        return None
    pair = session.execute(select(Battle.reply_a_id, Battle.reply_b_id).where(Battle.id == battle_id)).one()
    return edited_side(session, *pair)


def battle_texts(reply_a: str, reply_b: str, arm_a: str | None, arm_b: str | None) -> tuple[str, str]:
    """A battle's two replies as shown: as stored, or as their presentation arms made them."""
    if arm_a is None and arm_b is None:
        return reply_a, reply_b
    return shown_texts(reply_a, reply_b, arm_a, arm_b)


def _shown_reason(reason: str | None) -> str | None:
    """What the reveal says of a vote's exclusion: nothing for a repeat or an edit battle, which must look like any
    battle (a voter told which battles are repeats would learn to answer them consistently)."""
    return None if reason in (REPEAT, EDIT) else reason


def _reveal_statement():
    reply_a, reply_b = aliased(Reply), aliased(Reply)
    model_a, model_b = aliased(Model), aliased(Model)
    return (
        select(
            Battle.id,
            Battle.public_id,
            Prompt.text,
            reply_a.text,
            reply_b.text,
            model_a.display_name,
            model_b.display_name,
            Vote.outcome,
            Vote.exclusion_reason,
            # Names only for a voter who paid the proof-of-work (now: paying later shows earlier reveals, as a
            # paying identity would have seen them; it costs the same).
            select(VisitorProof.visitor_key).where(VisitorProof.visitor_key == Battle.judge_key).exists(),
            Battle.meta,
            Battle.source,
            Battle.arm_a,
            Battle.arm_b,
        )  # fmt: skip
        .join(Vote, Vote.battle_id == Battle.id)
        .join(Prompt, Prompt.id == Battle.prompt_id)
        .join(reply_a, reply_a.id == Battle.reply_a_id)
        .join(reply_b, reply_b.id == Battle.reply_b_id)
        .join(model_a, model_a.id == Battle.model_a_id)
        .join(model_b, model_b.id == Battle.model_b_id)
        .where(Battle.public_id == bindparam("public_id"))
    )


_REVEAL = _reveal_statement()


def find_reveal(session: Session, public_id: str, *, count_unverified: bool = False) -> Reveal | None:
    """The reveal of a voted battle, or None if it has no vote (or no shown replies). Its names are shown only if
    its voter paid the proof-of-work, or `count_unverified` (every vote can count)."""
    row = session.connection().execute(_REVEAL, {"public_id": public_id}).first()
    if row is None:
        return None
    battle_id, public, prompt, reply_a, reply_b, *fields, reason, paid, meta, source, arm_a, arm_b = row
    reply_a, reply_b = battle_texts(reply_a, reply_b, arm_a, arm_b)
    return Reveal(public, prompt, reply_a, reply_b, *fields, _shown_reason(reason),
                  names_shown=bool(paid) or count_unverified,
                  turns=(meta or {}).get(TURNS_SHOWN), source=source,
                  edited=_edited(session, battle_id, source))  # fmt: skip
