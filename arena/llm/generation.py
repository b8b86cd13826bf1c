"""`arena generate`: fill every missing (active prompt, active model) reply through litellm, up to `samples`
replies per pair.

Each call stores its Reply, or its GenerationError, in its own short transaction, so a killed run keeps what
finished and a rerun calls only what is still missing. A reply is stored only when its stream finished."""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from arena.llm import client as llm
from arena.llm.retry import CallFailed, RetryPolicy, keep_last_failure
from arena.llm.runner import JobRunner
from arena.models import GenerationError, Model, Prompt, Reply

# More samples than this cost more than they protect: a voter's dictionary is already incomplete for long.
MAX_SAMPLES = 20
# Completion length assumed for cost estimates when a model sets no max_tokens.
EXPECTED_COMPLETION_TOKENS = 400


class GenerationInputError(ValueError):
    """A request that cannot be planned (unknown model, no litellm model, bad fallback); says why."""


@dataclass(frozen=True)
class GenerationOptions:
    models: Sequence[str] = ()  # slugs; empty: every active model with a litellm model
    prompt_ids: Sequence[int] = ()  # empty: every active prompt
    concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_cost: float | None = None  # USD
    samples: int = 1  # replies kept per (prompt, model); a rerun fills only the missing ones


@dataclass
class PlannedCall:
    prompt_id: int
    prompt_text: str
    chain: list[Model]  # the model, then its fallbacks
    estimated_cost: float | None
    sample: int = 0  # the free sample number planned; the reply takes the lowest free one when it is stored

    @property
    def model(self) -> Model:
        return self.chain[0]


@dataclass
class Plan:
    calls: list[PlannedCall]
    models: list[Model]
    samples: int = 1

    def estimated_cost(self) -> tuple[float, int]:
        """Known estimated cost, and how many calls have no known price."""
        known = [c.estimated_cost for c in self.calls if c.estimated_cost is not None]
        return sum(known), len(self.calls) - len(known)

    def as_dict(self) -> dict[str, Any]:
        cost, unpriced = self.estimated_cost()
        per_model = Counter(c.model.slug for c in self.calls)
        return {
            "planned_calls": len(self.calls),
            "samples": self.samples,
            "per_model": {m.slug: per_model.get(m.slug, 0) for m in self.models},
            "estimated_cost_usd": round(cost, 6),
            "unpriced_calls": unpriced,
        }


@dataclass
class GenerationSummary:
    generated: int = 0
    failed: Counter = field(default_factory=Counter)  # error type -> calls
    skipped_budget: int = 0
    skipped_unpriced: int = 0
    cost_usd: float = 0.0
    unknown_cost: int = 0  # stored replies whose cost is unknown
    prompt_tokens: int = 0
    completion_tokens: int = 0
    fallbacks_used: int = 0
    duplicates: int = 0  # answers identical to a stored sample of their pair: paid for, not kept

    def as_dict(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "failed": sum(self.failed.values()),
            "errors": dict(self.failed),
            "skipped_over_budget": self.skipped_budget,
            "skipped_unpriced": self.skipped_unpriced,
            "cost_usd": round(self.cost_usd, 6),
            "unknown_cost_replies": self.unknown_cost,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "fallbacks_used": self.fallbacks_used,
            "duplicates": self.duplicates,
        }

    def line(self) -> str:
        cost = f"${self.cost_usd:.4f}"
        if self.unknown_cost and self.unknown_cost == self.generated:
            cost = "unknown"
        elif self.unknown_cost:
            cost += f" + unknown for {self.unknown_cost} replies"
        parts = [f"{self.generated} replies generated", f"cost {cost}"]
        if self.failed:
            detail = ", ".join(f"{n} {kind}" for kind, n in sorted(self.failed.items()))
            parts.append(f"{sum(self.failed.values())} failed ({detail}; see generation errors)")
        if self.duplicates:
            parts.append(f"{self.duplicates} not kept: same text as a stored sample (raise the model's temperature)")
        if self.fallbacks_used:
            parts.append(f"{self.fallbacks_used} answered by a fallback")
        if self.skipped_budget:
            parts.append(f"{self.skipped_budget} not started: --max-cost reached")
        if self.skipped_unpriced:
            parts.append(f"{self.skipped_unpriced} not started: price unknown under --max-cost")
        return "; ".join(parts)


def messages_for(prompt_text: str, system_prompt: str | None = None) -> list[dict[str, str]]:
    """The person's message as a person would send it; no system prompt unless the model's registry entry sets one
    (`system_prompt`, part of its configuration hash, so a row's votes are always under one system prompt)."""
    messages = [{"role": "user", "content": prompt_text}]
    if system_prompt:
        messages.insert(0, {"role": "system", "content": system_prompt})
    return messages


def samples_for(model: Model, default: int) -> int:
    """Replies kept per (message, model): the registry's `samples` when set (part of the configuration hash), else
    the run's --samples."""
    registered = (model.meta or {}).get("samples")
    return registered if isinstance(registered, int) and not isinstance(registered, bool) else default


def estimate_cost(model: Model, prompt_text: str) -> float | None:
    """A rough upper-side estimate: ~4 characters a token in, max_tokens (or EXPECTED_COMPLETION_TOKENS) out."""
    price = llm.price_per_token(model)
    if price is None:
        return None
    params = (model.meta or {}).get("params") or {}
    prompt_tokens = len(prompt_text) / 4 + 8
    completion_tokens = params.get("max_tokens") or EXPECTED_COMPLETION_TOKENS
    return price[0] * prompt_tokens + price[1] * completion_tokens


def _selected_models(session: Session, slugs: Sequence[str]) -> list[Model]:
    if not slugs:
        query = select(Model).where(Model.active.is_(True), Model.litellm_model.is_not(None)).order_by(Model.slug)
        return list(session.scalars(query))
    found = {m.slug: m for m in session.scalars(select(Model).where(Model.slug.in_(slugs)))}
    for slug in slugs:
        model = found.get(slug)
        if model is None:
            raise GenerationInputError(f"no model {slug} (see `arena models list`)")
        if not model.active:
            raise GenerationInputError(f"model {slug} is inactive (arena models activate {slug})")
        if not model.litellm_model:
            raise GenerationInputError(f"model {slug} has no litellm model (arena models add {slug} --litellm ...)")
    return [found[s] for s in dict.fromkeys(slugs)]


def _chain(session: Session, model: Model) -> list[Model]:
    chain = [model]
    for slug in (model.meta or {}).get("fallbacks") or []:
        fallback = session.scalar(select(Model).where(Model.slug == slug))
        if fallback is None or not fallback.litellm_model:
            raise GenerationInputError(f"{model.slug}: fallback {slug} is not a registered litellm model")
        chain.append(fallback)
    return chain


def free_samples(taken: set[int], wanted: int) -> list[int]:
    """The lowest sample numbers not yet taken, as many as the pair still lacks of `wanted` replies."""
    missing = wanted - len(taken)
    return list(itertools.islice((n for n in itertools.count() if n not in taken), max(missing, 0)))


def plan_generation(session: Session, options: GenerationOptions) -> Plan:
    """One call per reply missing from `options.samples` per (prompt, model), in a stable order (prompt, model,
    sample)."""
    if not 1 <= options.samples <= MAX_SAMPLES:
        raise GenerationInputError(f"--samples must be from 1 to {MAX_SAMPLES}, got {options.samples}")
    models = _selected_models(session, options.models)
    prompt_query = select(Prompt.id, Prompt.text).where(Prompt.active.is_(True)).order_by(Prompt.id)
    if options.prompt_ids:
        prompt_query = prompt_query.where(Prompt.id.in_(options.prompt_ids))
    prompts = session.execute(prompt_query).all()
    if options.prompt_ids:
        missing = set(options.prompt_ids) - {p.id for p in prompts}
        if missing:
            raise GenerationInputError(f"no active prompt with id {', '.join(map(str, sorted(missing)))}")
    model_ids = [m.id for m in models]
    taken: dict[tuple[int, int], set[int]] = defaultdict(set)
    for prompt_id, model_id, sample in session.execute(
        select(Reply.prompt_id, Reply.model_id, Reply.sample).where(
            Reply.model_id.in_(model_ids), Reply.edit_of.is_(None)
        )
    ):
        taken[(prompt_id, model_id)].add(sample)
    chains = {m.id: _chain(session, m) for m in models}
    calls = [
        PlannedCall(prompt.id, prompt.text, chains[model.id], estimate_cost(model, prompt.text), sample)
        for prompt in prompts
        for model in models
        for sample in free_samples(taken.get((prompt.id, model.id), set()), samples_for(model, options.samples))
    ]
    return Plan(calls=calls, models=models, samples=options.samples)


def _store_reply(
    factory: sessionmaker[Session], call: PlannedCall, completion: llm.Completion, cost, attempts, config_hash=None
) -> str:
    """'stored', 'duplicate' (the pair already has this text: a repeat teaches a voter nothing new, so the sample
    stays free for a rerun) or 'conflict' (another run took the sample, or the prompt is gone)."""
    text = completion.text.strip()
    meta = {"attempts": attempts, **completion.meta}
    if completion.answered_by != call.model.slug:
        meta["fallback_for"] = call.model.slug
        meta["answered_by"] = completion.answered_by
    try:
        with factory() as session, session.begin():
            stored = session.execute(
                select(Reply.sample, Reply.text).where(
                    Reply.prompt_id == call.prompt_id, Reply.model_id == call.model.id, Reply.edit_of.is_(None)
                )
            ).all()
            if any(stored_text == text for _, stored_text in stored):
                return "duplicate"
            # The lowest free number, not the planned one: calls of one pair finish in any order, and a sample
            # 1 kept while the answer planned as sample 0 was a repeat would leave a hole at 0.
            (sample,) = free_samples({s for s, _ in stored}, len(stored) + 1)
            session.add(
                Reply(
                    prompt_id=call.prompt_id,
                    model_id=call.model.id,
                    sample=sample,
                    text=text,
                    litellm_model=completion.litellm_model,
                    latency_ms=completion.latency_ms,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    cost_usd=cost,
                    meta=meta,
                    config_hash=config_hash,
                )
            )
            session.execute(
                delete(GenerationError).where(
                    GenerationError.prompt_id == call.prompt_id, GenerationError.model_id == call.model.id
                )
            )
    except IntegrityError:
        # Another run stored this sample of the pair meanwhile (or the prompt was deleted): nothing to add.
        return "conflict"
    return "stored"


def record_error(factory: sessionmaker[Session], prompt_id: int, model_id: int, failure: CallFailed) -> None:
    """Keep the last failure of a pair; attempts add up across runs."""
    with contextlib.suppress(IntegrityError), factory() as session, session.begin():
        # (IntegrityError: the prompt or model was deleted meanwhile; there is nothing left to record against.)
        keep_last_failure(session, GenerationError, {"prompt_id": prompt_id, "model_id": model_id}, failure)


class _Budget:
    """Spent plus the estimates of calls in flight must stay within max_cost."""

    def __init__(self, max_cost: float | None) -> None:
        self.max_cost, self.spent, self.in_flight = max_cost, 0.0, 0.0
        self.closed = False

    def admits(self, estimate: float) -> bool:
        return self.max_cost is None or self.spent + self.in_flight + estimate <= self.max_cost

    def admit(self, call: PlannedCall, summary: GenerationSummary) -> bool:
        """Whether `call` may start (its estimate then counts as in flight); a call not started is counted."""
        if self.max_cost is not None and call.estimated_cost is None:
            summary.skipped_unpriced += 1
            return False
        if self.closed or not self.admits(call.estimated_cost or 0.0):
            # Stop starting calls: later calls are not cheaper on average, and order must not decide the spend.
            self.closed = True
            summary.skipped_budget += 1
            return False
        self.in_flight += call.estimated_cost or 0.0
        return True

    def settle(self, call: PlannedCall, actual: float | None) -> None:
        estimate = call.estimated_cost or 0.0
        self.in_flight -= estimate
        self.spent += estimate if actual is None else actual


def generate(
    factory: sessionmaker[Session],
    options: GenerationOptions,
    *,
    progress: Callable[[int], None] | None = None,
    plan: Plan | None = None,
) -> GenerationSummary:
    """Run the plan (made here unless given) and return what happened."""
    if plan is None:
        with factory() as session:
            plan = plan_generation(session, options)
    summary = GenerationSummary()
    budget = _Budget(options.max_cost)
    runner = JobRunner(options.concurrency, options.retry, progress=progress)

    def ask(call: PlannedCall):
        messages = messages_for(call.prompt_text, (call.model.meta or {}).get("system_prompt"))
        secrets = tuple(secret for model in call.chain for secret in llm.key_secrets(model))
        return runner.call(lambda: llm.stream_reply(call.chain, messages, timeout=options.retry.timeout),
                           secrets=secrets, admit=lambda: budget.admit(call, summary))  # fmt: skip

    def store(call: PlannedCall, answer) -> None:
        completion, attempts = answer
        answered = next(m for m in call.chain if m.slug == completion.answered_by)
        cost = llm.cost_usd(answered, completion)
        budget.settle(call, cost)
        # The row's configuration (a fallback's answer says so in its metadata: answered_by, fallback_for).
        outcome = _store_reply(factory, call, completion, cost, attempts, call.model.config_hash)
        if outcome == "duplicate":
            summary.duplicates += 1
            summary.cost_usd += cost or 0.0
        elif outcome == "stored":
            summary.generated += 1
            summary.cost_usd += cost or 0.0
            summary.unknown_cost += cost is None
            summary.prompt_tokens += completion.prompt_tokens or 0
            summary.completion_tokens += completion.completion_tokens or 0
            summary.fallbacks_used += completion.answered_by != call.model.slug

    def record(call: PlannedCall, failure: CallFailed) -> None:
        record_error(factory, call.prompt_id, call.model.id, failure)
        summary.failed[failure.kind] += 1
        budget.settle(call, 0.0)

    runner.run(plan.calls, ask, store, record)
    return summary
