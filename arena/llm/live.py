"""Live battles ("write your own"): a visitor's message, two anonymous models answering at once, streamed.

Three parts:
- `completion_kwargs` / `classify_error` / `stream_reply` / `moderation_flags`: the calls, through the shared
  litellm seam (`arena.llm.client`: imported inside functions, since `import litellm` costs seconds and
  hundreds of MB and the web app must not pay that on start-up); streamed synchronously, one thread per side,
  so a closed page can cancel both;
- `start_live_battle` / `next_message` / `continue_live_battle` / `record_crisis_message`: what is stored when a
  visitor writes: a new conversation, the next message of one, or (after the vote) the same conversation with
  two new models;
- `stream_battle`: runs both calls of the exchange waiting for its answers concurrently and yields anonymous
  events ('a', 'b', 'done', 'failed'); it stores the exchange only when both answers arrived whole.

A live battle is a shared conversation (arena.models.Conversation, mode 'shared'): the visitor's messages on side
'both', each model's answers on its own side, exchange 0 included; battle.prompt / reply_a / reply_b are the first
exchange this pair answered. Each side is sent its model's system prompt, the visitor's messages and only its own
earlier answers (FastChat's rule: arena.voting.conversations.history_for). An exchange is written whole or not at
all: the message waits in Battle.meta[PENDING_EXCHANGE] until both answers are in. A failed first exchange leaves
nothing to vote on (the battle expires); a failed later one is dropped and the battle stays votable on the
exchanges before it.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from arena.ingest.catalog import content_hash
from arena.llm import client as llm
from arena.llm.generation import messages_for
from arena.models import Battle, Conversation, Model, Prompt, Reply, Turn, utcnow
from arena.voting.battle_ids import new_public_id
from arena.voting.conversations import history_for
from arena.voting.crisis import CRISIS_FLAG
from arena.voting.identity_leak import IDENTITY_LEAK, cached_battle_leak, model_names
from arena.voting.voting import TURNS_SHOWN, is_expired

log = logging.getLogger(__name__)

# Where a live battle's latest exchange stands, kept in Battle.meta["live"]: each exchange's stream may run once.
PENDING, STREAMING, COMPLETE, FAILED = "pending", "streaming", "complete", "failed"
# Battle.meta key of the exchange waiting for its answers: {"idx": k} and, after the first exchange, "text" (the
# visitor's message; the first is the battle's prompt) and "flags" (its moderation flags, if any).
PENDING_EXCHANGE = "pending"
# Battle.meta key set on a voted battle once its conversation went on with two new models (once only: the
# evaluation order must not fork).
CONTINUED = "continued"
# Battle.meta key of a conversation that a crisis message ended: no further message, no vote.
ENDED = "ended"


class LiveError(Exception):
    """A model call that failed, in a few words a visitor can read: `kind` is stable, `reason` human."""

    REASONS = {
        "timeout": "a model took too long to answer",
        "rate_limited": "a model's provider is busy right now",
        "provider_error": "a model's provider returned an error",
        "bad_stream": "a model's reply was cut off or garbled on the way",
        "not_configured": "a model is not fully set up on this server",
        "disconnected": "the connection closed before both replies arrived",
        "already_streamed": "this battle's replies were already requested once",
        "closed": "the conversation took its vote before both replies arrived",
    }

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail

    @property
    def reason(self) -> str:
        return self.REASONS.get(self.kind, self.REASONS["provider_error"])


class NoLiveModels(LookupError):
    """Fewer than two active models can be called live (a litellm model string is needed)."""


class TurnRefused(Exception):
    """A message a live conversation cannot take now; `status` is the HTTP status that says why, `reason` the
    sentence a visitor reads."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# ---- the litellm seam -------------------------------------------------------------------------------------


def completion_kwargs(model: Model, *, timeout_seconds: float) -> dict[str, Any]:
    """litellm.completion arguments for a Model (llm.call_kwargs: model string, API base, key read now from the
    environment), without retries: a visitor is waiting, so fail fast and say so rather than retry behind them."""
    try:
        kwargs = llm.call_kwargs(model, timeout=timeout_seconds)
    except llm.LLMError as exc:
        raise LiveError("not_configured", str(exc)) from exc
    return {**kwargs, "max_retries": 0, "num_retries": 0}


def classify_error(exc: BaseException) -> LiveError:
    """A litellm (or transport) exception as a LiveError; the detail keeps the exception's class only."""
    if isinstance(exc, LiveError):
        return exc
    import litellm.exceptions as errors

    name = type(exc).__name__
    if isinstance(exc, errors.Timeout | TimeoutError):
        return LiveError("timeout", name)
    if isinstance(exc, errors.RateLimitError):
        return LiveError("rate_limited", name)
    if isinstance(exc, errors.AuthenticationError | errors.PermissionDeniedError | errors.NotFoundError):
        return LiveError("not_configured", name)
    if isinstance(exc, errors.MidStreamFallbackError | errors.APIConnectionError | ValueError):
        return LiveError("bad_stream", name)
    return LiveError("provider_error", name)


@dataclass(frozen=True)
class Generated:
    text: str
    latency_ms: int
    prompt_tokens: int | None
    completion_tokens: int | None


def stream_reply(
    kwargs: dict[str, Any], messages: list[dict[str, str]], on_delta: Callable[[str], None], cancel: threading.Event
) -> Generated:
    """Stream one completion, handing each piece of text to `on_delta`. Raises LiveError unless the reply
    arrived whole (a stream that ends without a finish reason is not a reply)."""
    started = time.monotonic()
    pieces: list[str] = []
    finished = False
    usage = None
    try:
        response = llm.import_litellm().completion(
            messages=messages, stream=True, stream_options={"include_usage": True}, **kwargs
        )
        for chunk in response:
            if cancel.is_set():
                raise LiveError("disconnected", "cancelled")
            choice = chunk.choices[0] if chunk.choices else None
            text = choice.delta.content if choice is not None and choice.delta is not None else None
            if text:
                pieces.append(text)
                on_delta(text)
            if choice is not None and choice.finish_reason:
                finished = True
            usage = getattr(chunk, "usage", None) or usage
    except Exception as exc:  # noqa: BLE001 - every failure becomes one the visitor can be told about
        raise classify_error(exc) from exc
    text = "".join(pieces)
    if not finished or not text.strip():
        raise LiveError("bad_stream", "the stream ended without a complete reply")
    return Generated(
        text=text,
        latency_ms=int((time.monotonic() - started) * 1000),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
    )


def moderation_flags(
    text: str, *, model: str | None, api_base: str | None = None, api_key_env: str | None = None
) -> list[str]:
    """Flags from a litellm moderation model ([] when none is configured): 'moderation' plus one
    'moderation:<category>' per category it raised. If the call fails the message is let through (the keyword
    screen already ran) and the failure is recorded as 'moderation_unavailable'."""
    if not model:
        return []
    kwargs: dict[str, Any] = {"model": model}
    if api_base:
        kwargs["api_base"] = api_base
    if api_key_env:
        kwargs["api_key"] = os.environ.get(api_key_env) or None
    try:
        result = llm.import_litellm().moderation(input=text, **kwargs).results[0]
    except Exception as exc:  # noqa: BLE001 - an unreachable moderator must not take the page down
        log.warning("moderation call failed: %s", type(exc).__name__)
        return ["moderation_unavailable"]
    if not result.flagged:
        return []
    categories = sorted({name.replace("_", "-") for name, on in (result.categories or {}).items() if on})
    return ["moderation", *(f"moderation:{name}" for name in categories)]


# ---- what a visitor's message stores ------------------------------------------------------------------------


def _visitor_prompt(text: str, *, visitor_key: str, flags: list[str]) -> Prompt:
    # A visitor's message is theirs: never merged with a curated prompt of the same text (content_hash is
    # unique), never drawn for ordinary battles (inactive), deletable by its author (visitor_key).
    return Prompt(
        text=text.strip(),
        source="user",
        active=False,
        visitor_key=visitor_key,
        moderation_flags=flags,
        content_hash=content_hash(f"{text}\x00user:{new_public_id()}"),
    )


def record_crisis_message(session: Session, text: str, *, visitor_key: str, flags: list[str]) -> Prompt:
    """Keep a message that signals crisis, flagged so public exports leave it out; no battle is made of it."""
    prompt = _visitor_prompt(text, visitor_key=visitor_key, flags=[CRISIS_FLAG, *flags])
    session.add(prompt)
    session.flush()
    return prompt


def live_models(session: Session) -> list[Model]:
    return list(
        session.scalars(
            select(Model).where(Model.active.is_(True), Model.litellm_model.is_not(None)).order_by(Model.id)
        )
    )


def _draw_pair(
    models: list[Model], rng: random.Random, avoid: frozenset[int] = frozenset()
) -> tuple[Model, Model, float]:
    """Two distinct models, sides at random, uniform over unordered pairs, and that probability. A conversation
    continued after its vote draws from the models other than the pair just revealed when two others can answer
    (else from all: a small site still lets the visitor go on)."""
    others = [m for m in models if m.id not in avoid]
    pool = others if len(others) >= 2 else models
    if len(pool) < 2:
        raise NoLiveModels("fewer than two active models have a litellm model")
    model_a, model_b = rng.sample(pool, 2)
    return model_a, model_b, 2.0 / (len(pool) * (len(pool) - 1))


def new_evaluation_session() -> str:
    """An opaque id for the battles one visitor votes on along one conversation (LMArena's evaluation session)."""
    return secrets.token_urlsafe(16)


def _new_battle(
    session: Session,
    text: str,
    *,
    visitor_key: str,
    judge_key: str,
    flags: list[str],
    ttl: timedelta,
    pair: tuple[Model, Model, float],
    conversation: Conversation,
) -> Battle:
    model_a, model_b, probability = pair
    prompt = _visitor_prompt(text, visitor_key=visitor_key, flags=flags)
    session.add(prompt)
    session.flush()
    now = utcnow()
    # The first exchange this pair answers follows whatever the conversation carried over.
    first = 1 + max((t.idx for t in conversation.turns), default=-1)
    battle = Battle(
        public_id=new_public_id(),
        source="live",
        prompt_id=prompt.id,
        model_a_id=model_a.id,
        model_b_id=model_b.id,
        judge_key=judge_key,
        sampling_prob=probability,
        status="open",
        meta={"live": PENDING, PENDING_EXCHANGE: {"idx": first}},
        created_at=now,
        expires_at=now + ttl,
    )
    battle.conversation = conversation
    session.add(battle)
    session.flush()
    return battle


def start_live_battle(
    session: Session,
    text: str,
    *,
    visitor_key: str,
    judge_key: str,
    flags: list[str],
    ttl: timedelta,
    rng: random.Random | None = None,
) -> Battle:
    """Store the visitor's message and an open live battle between two distinct callable models, sides at
    random, opening a conversation and its evaluation session. Raises NoLiveModels when there are not two to
    call."""
    pair = _draw_pair(live_models(session), rng or random.SystemRandom())
    conversation = Conversation(mode="shared", evaluation_session=new_evaluation_session(), evaluation_order=1)
    return _new_battle(session, text, visitor_key=visitor_key, judge_key=judge_key, flags=flags, ttl=ttl,
                       pair=pair, conversation=conversation)  # fmt: skip


def exchanges_shown(battle: Battle) -> int:
    """The completed exchanges a live battle shows (the earlier ones it carried over included)."""
    return int((battle.meta or {}).get(TURNS_SHOWN, 1))


def _locked(session: Session, battle: Battle) -> Battle:
    # Two messages posted at once must not both become the next one: the row is read again under its lock.
    return session.scalar(
        select(Battle).where(Battle.id == battle.id).with_for_update().execution_options(populate_existing=True)
    )


def check_next_message(battle: Battle, *, max_turns: int) -> None:
    """Raise TurnRefused unless the visitor's live battle can take their next message now."""
    meta = battle.meta or {}
    if battle.status == "voted":
        raise TurnRefused(409, "This conversation already has your vote, so these two models take no further "
                               "message. You can go on with two new models from the reveal.")  # fmt: skip
    if battle.status == "expired" and battle.reply_a_id is None:
        raise TurnRefused(410, "A model failed to answer the first message, so this conversation has nothing to "
                               "go on from. Write a new message.")  # fmt: skip
    if meta.get(ENDED) or is_expired(battle, utcnow()):
        raise TurnRefused(410, "This conversation has ended. Write a new message to start another.")
    if battle.conversation is None or battle.conversation.mode != "shared":
        raise TurnRefused(409, "This battle cannot take another message. Write a new one.")
    if battle.reply_a_id is None or meta.get("live") != COMPLETE:
        raise TurnRefused(409, "The replies to your last message are still being written; wait for both.")
    if exchanges_shown(battle) >= max_turns:
        raise TurnRefused(409, f"This conversation has reached {max_turns} messages, the most one battle takes. "
                               "Vote on it to see who wrote the replies.")  # fmt: skip


def next_message(session: Session, battle: Battle, text: str, *, flags: list[str], max_turns: int) -> int:
    """Queue the visitor's next message (the stream asks both models for its answers and writes the exchange
    whole); returns its exchange number. Raises TurnRefused (storing nothing) when the battle cannot take it."""
    battle = _locked(session, battle)
    check_next_message(battle, max_turns=max_turns)
    idx = exchanges_shown(battle)
    pending: dict[str, Any] = {"idx": idx, "text": text.strip()}
    if flags:
        pending["flags"] = flags
    battle.meta = {**battle.meta, "live": PENDING, PENDING_EXCHANGE: pending}
    session.flush()
    return idx


def end_for_crisis(session: Session, battle: Battle) -> None:
    """A crisis message partway through ends the conversation, as at the first message none starts: it is not
    sent, nothing more is contested, and the battle takes no vote."""
    battle = _locked(session, battle)
    if battle.status == "open":
        battle.status = "expired"
    meta = {k: v for k, v in (battle.meta or {}).items() if k != PENDING_EXCHANGE}
    battle.meta = {**meta, ENDED: "crisis"}
    session.flush()


def check_continuation(battle: Battle, *, max_turns: int) -> None:
    """Raise TurnRefused unless the visitor's voted live battle can go on with two new models."""
    if battle.status != "voted":
        raise TurnRefused(409, "Vote on this conversation first; until then your next message goes to the same "
                               "two models.")  # fmt: skip
    if battle.conversation is None or battle.conversation.mode != "shared":
        raise TurnRefused(409, "This battle cannot be continued. Write a new message.")
    if (battle.meta or {}).get(CONTINUED):
        raise TurnRefused(409, "This conversation already went on with two new models; continue it there.")
    if exchanges_shown(battle) >= max_turns:
        raise TurnRefused(409, f"This conversation has reached {max_turns} messages, the most one conversation "
                               "takes. Write a new message to start another.")  # fmt: skip


def carried_side(outcome: str, rng: random.Random) -> str:
    """Whose answers a continued conversation keeps: the side the visitor preferred; after a tie or "both are
    bad", a side drawn at random (the visitor preferred neither, and the sides were drawn at random anyway)."""
    return {"model_a": "a", "model_b": "b"}.get(outcome) or rng.choice("ab")


def continue_live_battle(
    session: Session,
    voted: Battle,
    text: str,
    *,
    visitor_key: str,
    flags: list[str],
    ttl: timedelta,
    max_turns: int,
    rng: random.Random | None = None,
) -> Battle:
    """After the vote, the same conversation with two new anonymous models (LMArena's evaluation order): a new
    live battle in the same evaluation session, next in its order. It carries the conversation so far as shared
    turns: the visitor's messages and the answers of the side they preferred (`carried_side`), which both new
    models are sent as if they had written them. Raises TurnRefused (storing nothing) when the battle cannot go on,
    NoLiveModels when there are not two models to call."""
    voted = _locked(session, voted)
    check_continuation(voted, max_turns=max_turns)
    rng = rng or random.SystemRandom()
    side = carried_side(voted.vote.outcome, rng)
    pair = _draw_pair(live_models(session), rng, frozenset({voted.model_a_id, voted.model_b_id}))
    earlier = voted.conversation
    conversation = Conversation(
        mode="shared",
        evaluation_session=earlier.evaluation_session or new_evaluation_session(),
        evaluation_order=(earlier.evaluation_order or 1) + 1,
        meta={"continued_from": voted.id, "carried_side": side, "carried_exchanges": exchanges_shown(voted)},
    )
    for turn in earlier.turns:
        if turn.side in ("both", side):
            conversation.turns.append(
                Turn(idx=turn.idx, side="both", role=turn.role, content=turn.content, author=turn.author,
                     model_id=turn.model_id, meta={"carried": True})
            )  # fmt: skip
    battle = _new_battle(session, text, visitor_key=visitor_key, judge_key=voted.judge_key or visitor_key,
                         flags=flags, ttl=ttl, pair=pair, conversation=conversation)  # fmt: skip
    voted.meta = {**voted.meta, CONTINUED: True}
    session.flush()
    return battle


# ---- the stream -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveEvent:
    """What the visitor's page receives: a side ('a' / 'b') and a piece of its text, 'done', or 'failed' with
    the reason. Nothing here names a model."""

    name: str
    text: str = ""
    # On 'done': what both calls cost in USD, when both prices and token counts are known.
    cost_usd: float | None = None


@dataclass(frozen=True)
class _Side:
    name: str
    model_id: int
    litellm_model: str
    kwargs: dict[str, Any]
    # What this side sends (its registry system prompt, if any, the conversation as this side saw it, then the
    # new message) and its configuration hash.
    messages: tuple = ()
    config_hash: str | None = None


@dataclass(frozen=True)
class _Exchange:
    """The exchange a live battle waits for: its number, the visitor's message and what each side is sent."""

    idx: int
    text: str
    flags: tuple[str, ...]
    sides: tuple[tuple[str, Model, tuple[dict[str, str], ...]], ...]


def messages_to_send(history: list[dict[str, str]], text: str, system_prompt: str | None) -> list[dict[str, str]]:
    """What one side is sent: its model's system prompt (if any), the conversation so far as that side saw it,
    then the new message; for a first exchange exactly arena.llm.generation.messages_for."""
    first = messages_for(text, system_prompt)
    return first[:-1] + history + first[-1:]


def _pending_exchange(battle: Battle) -> _Exchange:
    pending = (battle.meta or {}).get(PENDING_EXCHANGE) or {}
    idx = int(pending.get("idx", 0))
    # The first exchange a pair answers is the battle's prompt; a later one's message waits in the metadata.
    text = pending.get("text") or battle.prompt.text
    conversation = battle.conversation
    sides = []
    for name, model in (("a", battle.model_a), ("b", battle.model_b)):
        history = history_for(conversation, name) if conversation is not None else []
        messages = messages_to_send(history, text, (model.meta or {}).get("system_prompt"))
        sides.append((name, model, tuple(messages)))
    return _Exchange(idx, text, tuple(pending.get("flags") or ()), tuple(sides))


def _waiting(battle: Battle | None) -> bool:
    return battle is not None and (battle.meta or {}).get("live") == PENDING and battle.status == "open"


def _claim(session_factory: sessionmaker[Session], public_id: str) -> _Exchange:
    """Move a live battle's pending exchange to 'streaming' (once: the row is locked while checking) and return
    it. Raises LiveError('already_streamed') for a second request."""
    with session_factory() as session, session.begin():
        battle = session.scalar(
            select(Battle).where(Battle.public_id == public_id, Battle.source == "live").with_for_update()
        )
        if _waiting(battle):
            battle.meta = {**battle.meta, "live": STREAMING}
            return _pending_exchange(battle)
        closed = battle is not None and battle.status != "open" and battle.reply_a_id is not None
        if closed and PENDING_EXCHANGE in battle.meta:
            # Voted (or ended) while its next message waited for this stream: the message goes unanswered and
            # unkept; the exchanges shown stay as they were voted on.
            meta = {k: v for k, v in battle.meta.items() if k != PENDING_EXCHANGE}
            battle.meta = {**meta, "live": COMPLETE}
    raise LiveError("closed" if closed else "already_streamed")


def pending_battle_cost(session_factory: sessionmaker[Session], public_id: str) -> float | None:
    """The estimated cost (USD) of both calls of a live battle's exchange still waiting for its stream, each
    priced on everything that side is sent (the whole conversation so far); None when there is no such exchange
    (the stream will say so). A model without a known price counts as free."""
    from arena.llm.generation import estimate_cost

    with session_factory() as session:
        battle = session.scalar(select(Battle).where(Battle.public_id == public_id, Battle.source == "live"))
        if not _waiting(battle):
            return None
        exchange = _pending_exchange(battle)
    # Priced after the session has closed: the first price lookup imports litellm (seconds), and on SQLite an
    # open session holds the write lock.
    return sum(
        estimate_cost(model, "\n".join(m["content"] for m in messages)) or 0.0 for _, model, messages in exchange.sides
    )


def _finish(
    session_factory: sessionmaker[Session], public_id: str, exchange: _Exchange, sides: list[_Side], results: dict
) -> float | None:
    """Write the exchange whole (the visitor's message and both answers) and open the battle for its vote on it;
    returns what the two calls cost (None: unknown). Raises LiveError('closed') when the battle took its vote (or
    ended) while the answers were being written: the exchange is then not part of what was voted on."""
    with session_factory() as session, session.begin():
        battle = session.scalar(select(Battle).where(Battle.public_id == public_id).with_for_update())
        pending = (battle.meta or {}).get(PENDING_EXCHANGE) or {}
        if battle.status != "open" or pending.get("idx") != exchange.idx:
            raise LiveError("closed")
        model_of = {"a": battle.model_a, "b": battle.model_b}
        # Generated carries the token counts llm.cost_usd reads from a Completion.
        costs = {side.name: llm.cost_usd(model_of[side.name], results[side.name]) for side in sides}
        meta = {k: v for k, v in battle.meta.items() if k not in (PENDING_EXCHANGE, "error")}
        if battle.reply_a_id is None:
            replies = {}
            for side in sides:
                generated: Generated = results[side.name]
                reply = Reply(
                    prompt_id=battle.prompt_id,
                    model_id=side.model_id,
                    text=generated.text.strip(),
                    litellm_model=side.litellm_model,
                    latency_ms=generated.latency_ms,
                    prompt_tokens=generated.prompt_tokens,
                    completion_tokens=generated.completion_tokens,
                    meta={"live": True},
                    config_hash=side.config_hash,
                )
                session.add(reply)
                replies[side.name] = reply
            session.flush()
            battle.reply_a_id, battle.reply_b_id = replies["a"].id, replies["b"].id
            meta["requested_at"] = battle.created_at.isoformat()
        conversation = battle.conversation
        if conversation is not None:
            user_meta = {"moderation_flags": list(exchange.flags)} if exchange.flags else {}
            conversation.turns.append(Turn(idx=exchange.idx, side="both", role="user", content=exchange.text,
                                           author="visitor", meta=user_meta))  # fmt: skip
            for side in sides:
                generated = results[side.name]
                conversation.turns.append(
                    Turn(idx=exchange.idx, side=side.name, role="assistant", content=generated.text.strip(),
                         author="model", model_id=side.model_id, latency_ms=generated.latency_ms,
                         prompt_tokens=generated.prompt_tokens, completion_tokens=generated.completion_tokens,
                         cost_usd=costs[side.name])
                )  # fmt: skip
        # The battle can be read and voted on only from now: the dwell rule counts from here, not from the
        # request (which included the streaming time), and so does its time to live.
        now = utcnow()
        if battle.expires_at is not None:
            battle.expires_at = now + (battle.expires_at - battle.created_at)
        meta.update({"live": COMPLETE, TURNS_SHOWN: exchange.idx + 1})
        if IDENTITY_LEAK not in meta:
            names = [
                n
                for m in (battle.model_a, battle.model_b)
                for n in model_names(m.slug, m.display_name, m.provider, m.litellm_model)
            ]
            new_a, new_b = (results[name].text.strip() for name in ("a", "b"))
            leak = cached_battle_leak(new_a, new_b, tuple(names))
            if leak is not None:
                meta[IDENTITY_LEAK] = {**leak.as_meta(), "exchange": exchange.idx}
        battle.meta = meta
        battle.created_at = now
        return None if None in costs.values() else sum(costs.values())


def _fail(session_factory: sessionmaker[Session], public_id: str, error: LiveError) -> None:
    """Drop the exchange that failed, whole. A battle's first exchange leaves nothing to vote on, so the battle
    expires; a later one leaves the exchanges before it, and the battle stays votable on those."""
    with session_factory() as session, session.begin():
        battle = session.scalar(select(Battle).where(Battle.public_id == public_id).with_for_update())
        if battle is None:
            return
        meta = {k: v for k, v in (battle.meta or {}).items() if k != PENDING_EXCHANGE}
        if battle.reply_a_id is None:
            if battle.status == "open":
                battle.meta = {**meta, "live": FAILED, "error": error.kind}
                battle.status = "expired"
        else:
            battle.meta = {**meta, "live": COMPLETE, "error": error.kind}


def stream_battle(
    session_factory: sessionmaker[Session], public_id: str, *, timeout_seconds: float
) -> Iterator[LiveEvent]:
    """Run both model calls of the pending exchange at once and yield their text as it comes, then 'done' (the
    exchange stored whole) or 'failed' (nothing of it stored). `timeout_seconds` bounds the whole exchange."""
    try:
        exchange = _claim(session_factory, public_id)
    except LiveError as error:
        yield LiveEvent("failed", error.reason)
        return
    try:
        sides = [
            _Side(
                name,
                model.id,
                model.litellm_model,
                completion_kwargs(model, timeout_seconds=timeout_seconds),
                messages,
                model.config_hash,
            )  # fmt: skip
            for name, model, messages in exchange.sides
        ]
    except LiveError as error:
        _fail(session_factory, public_id, error)
        yield LiveEvent("failed", error.reason)
        return
    events: queue.Queue = queue.Queue()
    cancel = threading.Event()

    def call(side: _Side) -> None:
        try:
            generated = stream_reply(
                side.kwargs, list(side.messages), lambda text: events.put(("delta", side.name, text)), cancel
            )
            events.put(("done", side.name, generated))
        except LiveError as error:
            events.put(("error", side.name, error))

    for side in sides:
        threading.Thread(target=call, args=(side,), name=f"live-{side.name}", daemon=True).start()
    deadline = time.monotonic() + timeout_seconds
    results: dict[str, Generated] = {}
    settled = False
    try:
        while len(results) < len(sides):
            try:
                kind, name, payload = events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise LiveError("timeout", "the exchange took longer than the limit") from None
            if kind == "delta":
                yield LiveEvent(name, payload)
            elif kind == "error":
                raise payload
            else:
                results[name] = payload
        cost = _finish(session_factory, public_id, exchange, sides, results)
        settled = True
        yield LiveEvent("done", cost_usd=cost)
    except LiveError as error:
        cancel.set()
        log.info("live battle failed: %s", error)
        _fail(session_factory, public_id, error)
        settled = True
        yield LiveEvent("failed", error.reason)
    finally:
        if not settled:
            # The visitor went away mid-stream (the server closed this generator): stop the calls, keep nothing.
            cancel.set()
            _fail(session_factory, public_id, LiveError("disconnected"))
