"""The one seam to litellm: import it lazily, build a call for a Model, stream a reply, name an error.

Importing litellm costs seconds and hundreds of megabytes, so it happens inside these functions, never at module
import; nothing else in the project imports litellm. Everything a call needs comes from the Model row:

    Model.litellm_model                 the litellm model string, e.g. "openai/gpt-4.1-mini"
    Model.meta["api_base"]              an OpenAI-compatible base URL (optional)
    Model.meta["api_key_env"]           the NAME of the environment variable with the key; the value is read at
                                        call time and is never stored, logged or put in an error message
    Model.meta["fallbacks"]             slugs of models to try, in order, when this one fails (litellm Router)
    Model.meta["params"]                extra completion parameters (temperature, max_tokens, ...)
    Model.meta["input_cost_per_token"] / ["output_cost_per_token"]   pricing for models litellm does not know

Live battles and the generate/judge jobs share `call_kwargs`, `stream_reply` (with `on_delta` for text as it
arrives), `complete`, `error_type`/`error_message` and `cost_usd`; retries with backoff live in retry.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from arena.models import Model

# Short error types stored in GenerationError / JudgeError and shown in summaries.
TIMEOUT = "timeout"
RATE_LIMITED = "rate_limited"
AUTH = "auth_error"
BAD_REQUEST = "bad_request"
BAD_RESPONSE = "bad_response"
PROVIDER_ERROR = "provider_error"
NOT_CONFIGURED = "not_configured"
# Worth another attempt: the same call may well succeed a little later.
RETRYABLE = frozenset({TIMEOUT, RATE_LIMITED, PROVIDER_ERROR, BAD_RESPONSE})


class LLMError(Exception):
    """A call that did not yield a complete reply; `kind` is one of the short error types above."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


_priced_models: frozenset[str] = frozenset()


def import_litellm():
    """litellm, configured never to reach the network on its own (bundled cost map) and to stay quiet."""
    global _priced_models
    # The bundled cost map ships with the pinned version; fetching the remote one stalls offline machines.
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    if not _priced_models:
        litellm.suppress_debug_info = True
        litellm.telemetry = False
        # A Router adds an empty, zero-priced cost-map entry for each deployment it does not know, which would make
        # unknown prices look free: remember which models the cost map really priced before any Router exists.
        _priced_models = frozenset(k for k, v in litellm.model_cost.items() if "input_cost_per_token" in v)
    return litellm


def api_key(model: Model) -> str | None:
    """The model's key from the environment variable its metadata names; None when it names none."""
    name = (model.meta or {}).get("api_key_env")
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise LLMError(NOT_CONFIGURED, f"environment variable {name} (the API key of {model.slug}) is not set")
    return value


def key_secrets(model: Model) -> tuple[str, ...]:
    """The model's API key as the secrets a job masks in the errors it stores: none when the model names no key or
    its variable is unset (the call then fails and says so)."""
    try:
        key = api_key(model)
    except LLMError:
        return ()
    return (key,) if key else ()


def call_kwargs(model: Model, *, timeout: float) -> dict[str, Any]:
    """Keyword arguments for litellm.(a)completion that call `model` (without messages)."""
    if not model.litellm_model:
        raise LLMError(NOT_CONFIGURED, f"model {model.slug} has no litellm model (arena models add ... --litellm)")
    meta = model.meta or {}
    kwargs: dict[str, Any] = dict(meta.get("params") or {})
    kwargs.update(model=model.litellm_model, timeout=timeout)
    if meta.get("api_base"):
        kwargs["api_base"] = meta["api_base"]
    key = api_key(model)
    if key is not None:
        kwargs["api_key"] = key
    return kwargs


def error_type(exc: BaseException) -> str:
    """Map a litellm (or our own) exception to a short error type."""
    if isinstance(exc, LLMError):
        return exc.kind
    import_litellm()
    from litellm import exceptions as e

    checks = (
        (e.Timeout, TIMEOUT),
        (e.RateLimitError, RATE_LIMITED),
        (e.AuthenticationError, AUTH),
        (e.PermissionDeniedError, AUTH),
        # A stream that broke or carried garbage after it started: what arrived is partial.
        (e.MidStreamFallbackError, BAD_RESPONSE),
        (e.BadRequestError, BAD_REQUEST),
        (e.NotFoundError, BAD_REQUEST),
        (e.APIConnectionError, PROVIDER_ERROR),
    )
    for cls, kind in checks:
        if isinstance(exc, cls):
            return kind
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    return PROVIDER_ERROR


def error_message(exc: BaseException, secrets: Sequence[str] = ()) -> str:
    """A short, single-line message with any key value blanked out (providers sometimes echo keys back)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text[:500]


@dataclass
class Completion:
    """A complete reply; `answered_by` (a slug) and `litellm_model` name the model that actually answered, which is
    a fallback when the first choice failed."""

    text: str
    answered_by: str
    litellm_model: str
    latency_ms: int
    prompt_tokens: int | None
    completion_tokens: int | None
    meta: dict[str, Any] = field(default_factory=dict)


# Routers by event loop (their HTTP clients belong to one) and by the deployments they route: building one costs
# about as much as a call, and a run makes many calls through the same chain.
_routers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


def _router(chain: Sequence[Model], timeout: float):
    """A litellm Router over a model and its fallbacks, each deployment named and identified by its slug."""
    litellm = import_litellm()
    deployments = [
        {"model_name": m.slug, "litellm_params": call_kwargs(m, timeout=timeout), "model_info": {"id": m.slug}}
        for m in chain
    ]
    routers = _routers.setdefault(asyncio.get_running_loop(), {})
    key = json.dumps(deployments, sort_keys=True, default=str)
    if key not in routers:
        # Retries are ours (with backoff, counted per call); the Router only walks the fallback chain, every time
        # from the first model (no cooldowns: a model that failed a moment ago is still asked first).
        routers[key] = litellm.Router(
            model_list=deployments,
            fallbacks=[{chain[0].slug: [m.slug for m in chain[1:]]}],
            num_retries=0,
            disable_cooldowns=True,
        )
    return routers[key]


async def _open(chain: Sequence[Model], messages: list[dict[str, Any]], *, timeout: float, stream: bool):
    litellm = import_litellm()
    extra: dict[str, Any] = {"stream": stream}
    if stream:
        extra["stream_options"] = {"include_usage": True}
    if len(chain) > 1:
        response = await _router(chain, timeout).acompletion(model=chain[0].slug, messages=messages, **extra)
        answered = (getattr(response, "_hidden_params", None) or {}).get("model_id") or chain[0].slug
        return response, next((m for m in chain if m.slug == answered), chain[0])
    kwargs = call_kwargs(chain[0], timeout=timeout)
    response = await litellm.acompletion(messages=messages, num_retries=0, **kwargs, **extra)
    return response, chain[0]


async def stream_reply(
    chain: Sequence[Model],
    messages: list[dict[str, Any]],
    *,
    timeout: float,
    on_delta: Callable[[str], Awaitable[None]] | None = None,
) -> Completion:
    """Stream a reply from chain[0] (falling back along chain[1:]) and return it only if it finished.

    `on_delta` (e.g. a live battle pushing text to the page) is awaited with each piece of text as it arrives. A
    stream that ends without a finish reason, or breaks, raises LLMError(bad_response) (or a litellm error that
    `error_type` names): a partial reply is never returned as complete. `timeout` is litellm's per-request timeout."""
    started = time.monotonic()
    response, answered = await _open(chain, messages, timeout=timeout, stream=True)
    parts: list[str] = []
    finish = None
    usage = None
    async for chunk in response:
        if chunk.choices:
            delta = chunk.choices[0].delta.content or ""
            parts.append(delta)
            finish = chunk.choices[0].finish_reason or finish
            if delta and on_delta is not None:
                await on_delta(delta)
        usage = getattr(chunk, "usage", None) or usage
    text = "".join(parts)
    if finish is None:
        raise LLMError(BAD_RESPONSE, "the stream ended before the model finished its reply")
    if finish == "length":
        raise LLMError(BAD_RESPONSE, "the reply was cut off at the token limit (finish_reason=length)")
    if not text.strip():
        raise LLMError(BAD_RESPONSE, "the model returned an empty reply")
    return Completion(
        text=text,
        answered_by=answered.slug,
        litellm_model=answered.litellm_model,
        latency_ms=round((time.monotonic() - started) * 1000),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        meta={"finish_reason": finish},
    )


async def complete(model: Model, messages: list[dict[str, Any]], *, timeout: float) -> Completion:
    """One non-streamed completion (the judge's JSON answer)."""
    started = time.monotonic()
    response, answered = await _open([model], messages, timeout=timeout, stream=False)
    choice = response.choices[0]
    text = choice.message.content or ""
    if not text.strip():
        raise LLMError(BAD_RESPONSE, "the model returned an empty answer")
    usage = getattr(response, "usage", None)
    return Completion(
        text=text,
        answered_by=answered.slug,
        litellm_model=answered.litellm_model,
        latency_ms=round((time.monotonic() - started) * 1000),
        prompt_tokens=getattr(usage, "prompt_tokens", None),
        completion_tokens=getattr(usage, "completion_tokens", None),
        meta={"finish_reason": choice.finish_reason},
    )


def price_per_token(model: Model) -> tuple[float, float] | None:
    """(input, output) USD per token: litellm's cost map when it knows the model, else the model's metadata
    pricing, else None (unknown)."""
    litellm = import_litellm()
    name = model.litellm_model
    if name and (name in _priced_models or name.split("/", 1)[-1] in _priced_models):
        try:
            return litellm.cost_per_token(model=name, prompt_tokens=1, completion_tokens=1)
        except Exception:  # noqa: BLE001 - litellm raises several types for "not in the cost map"
            pass
    meta = model.meta or {}
    if meta.get("input_cost_per_token") is not None and meta.get("output_cost_per_token") is not None:
        return float(meta["input_cost_per_token"]), float(meta["output_cost_per_token"])
    return None


def cost_usd(answered_by: Model, completion: Completion) -> float | None:
    """What a completion cost (priced as the model that answered), or None when the price or tokens are unknown."""
    if completion.prompt_tokens is None or completion.completion_tokens is None:
        return None
    price = price_per_token(answered_by)
    if price is None:
        return None
    return price[0] * completion.prompt_tokens + price[1] * completion.completion_tokens
