"""Live battles ("write your own"): a visitor's message, two anonymous models answering at once, streamed.

Three parts:
- `completion_kwargs` / `classify_error` / `stream_reply` / `moderation_flags`: the calls, through the shared
  litellm seam (`arena.llm.client`: imported inside functions, since `import litellm` costs seconds and
  hundreds of MB and the web app must not pay that on start-up); streamed synchronously, one thread per side,
  so a closed page can cancel both;
- `start_live_battle` / `record_crisis_message`: what is stored when a visitor writes;
- `stream_battle`: runs both calls concurrently and yields anonymous events ('a', 'b', 'done', 'failed'); it
  stores the replies only when both arrived whole, and otherwise marks the battle so it takes no vote.
"""

from __future__ import annotations

import logging
import os
import queue
import random
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
from arena.models import Battle, Model, Prompt, Reply, utcnow
from arena.voting.battle_ids import new_public_id
from arena.voting.crisis import CRISIS_FLAG
from arena.voting.identity_leak import IDENTITY_LEAK, cached_battle_leak, model_names

log = logging.getLogger(__name__)

# Where a live battle stands, kept in Battle.meta["live"]: the stream may run once.
PENDING, STREAMING, COMPLETE, FAILED = "pending", "streaming", "complete", "failed"


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
    random. Raises NoLiveModels when there are not two to call."""
    rng = rng or random.SystemRandom()
    models = live_models(session)
    if len(models) < 2:
        raise NoLiveModels("fewer than two active models have a litellm model")
    model_a, model_b = rng.sample(models, 2)
    prompt = _visitor_prompt(text, visitor_key=visitor_key, flags=flags)
    session.add(prompt)
    session.flush()
    now = utcnow()
    battle = Battle(
        public_id=new_public_id(),
        source="live",
        prompt_id=prompt.id,
        model_a_id=model_a.id,
        model_b_id=model_b.id,
        judge_key=judge_key,
        # Uniform over unordered pairs of callable models.
        sampling_prob=2.0 / (len(models) * (len(models) - 1)),
        status="open",
        meta={"live": PENDING},
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(battle)
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
    # What this side sends (its registry system prompt, if any, then the message) and its configuration hash.
    messages: tuple = ()
    config_hash: str | None = None


def _claim(session_factory: sessionmaker[Session], public_id: str) -> tuple[str, list[tuple[str, Model]]]:
    """Move a pending live battle to 'streaming' (once: the row is locked while checking) and return its
    message and models by side. Raises LiveError('already_streamed') for a second request."""
    with session_factory() as session, session.begin():
        battle = session.scalar(
            select(Battle).where(Battle.public_id == public_id, Battle.source == "live").with_for_update()
        )
        if battle is None or (battle.meta or {}).get("live") != PENDING or battle.status != "open":
            raise LiveError("already_streamed")
        battle.meta = {**battle.meta, "live": STREAMING}
        return battle.prompt.text, [("a", battle.model_a), ("b", battle.model_b)]


def pending_battle_cost(session_factory: sessionmaker[Session], public_id: str) -> float | None:
    """The estimated cost (USD) of both calls of a live battle still waiting for its stream; None when there is
    no such battle (the stream will say so). A model without a known price counts as free."""
    from arena.llm.generation import estimate_cost

    with session_factory() as session:
        battle = session.scalar(select(Battle).where(Battle.public_id == public_id, Battle.source == "live"))
        if battle is None or (battle.meta or {}).get("live") != PENDING or battle.status != "open":
            return None
        text, models = battle.prompt.text, (battle.model_a, battle.model_b)
    # Priced after the session has closed: the first price lookup imports litellm (seconds), and on SQLite an
    # open session holds the write lock.
    return sum(estimate_cost(model, text) or 0.0 for model in models)


def _finish(session_factory: sessionmaker[Session], public_id: str, sides: list[_Side], results: dict) -> float | None:
    """Store both replies and open the battle for its vote; returns what the two calls cost (None: unknown)."""
    with session_factory() as session, session.begin():
        battle = session.scalar(select(Battle).where(Battle.public_id == public_id).with_for_update())
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
        # The battle can be read and voted on only from now: the dwell rule counts from here, not from the
        # request (which included the streaming time).
        now = utcnow()
        if battle.expires_at is not None:
            battle.expires_at = now + (battle.expires_at - battle.created_at)
        battle.meta = {**battle.meta, "live": COMPLETE, "requested_at": battle.created_at.isoformat()}
        names = [
            n
            for m in (battle.model_a, battle.model_b)
            for n in model_names(m.slug, m.display_name, m.provider, m.litellm_model)
        ]
        leak = cached_battle_leak(replies["a"].text, replies["b"].text, tuple(names))
        if leak is not None:
            battle.meta = {**battle.meta, IDENTITY_LEAK: leak.as_meta()}
        battle.created_at = now
        # Generated carries the token counts llm.cost_usd reads from a Completion.
        costs = [llm.cost_usd(m, results[side]) for side, m in (("a", battle.model_a), ("b", battle.model_b))]
        return None if None in costs else sum(costs)


def _fail(session_factory: sessionmaker[Session], public_id: str, error: LiveError) -> None:
    """No reply is kept and the battle expires: a half-answered contest takes no vote."""
    with session_factory() as session, session.begin():
        battle = session.scalar(select(Battle).where(Battle.public_id == public_id).with_for_update())
        if battle is not None and battle.status == "open" and battle.reply_a_id is None:
            battle.meta = {**(battle.meta or {}), "live": FAILED, "error": error.kind}
            battle.status = "expired"


def stream_battle(
    session_factory: sessionmaker[Session], public_id: str, *, timeout_seconds: float
) -> Iterator[LiveEvent]:
    """Run both model calls at once and yield their text as it comes, then 'done' (both replies stored) or
    'failed' (nothing stored, battle expired). `timeout_seconds` bounds the whole exchange."""
    try:
        prompt_text, models = _claim(session_factory, public_id)
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
                tuple(messages_for(prompt_text, (model.meta or {}).get("system_prompt"))),
                model.config_hash,
            )  # fmt: skip
            for name, model in models
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
        cost = _finish(session_factory, public_id, sides, results)
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
