"""`arena judge pairwise`: a judge model says which of two replies to the same message is the more emotionally
intelligent (A, B or a tie), asked twice, the replies shown A/B and then swapped; stored as JudgeVerdict rows.

The pairs are the site's battles (the voted ones, or all): two replies by different models to one message. The
judge sees the person's message and the two replies, never a model name, and never judges a pair in which either
reply's model shares its family (its `provider`, as the composite board reads it). Both orders of a pair are
stored in one transaction, or (on an unusable answer in either order) neither, with a JudgeVerdictError instead;
a later run asks only for the pairs this judge has not judged both ways (resumable, never duplicated)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, aliased, sessionmaker

from arena.llm import client as llm
from arena.llm.judging import CRITERIA_GUIDE, JudgeSummary, json_object, judge_model
from arena.llm.retry import CallFailed, RetryPolicy, keep_last_failure
from arena.llm.runner import JobRunner
from arena.models import Battle, Conversation, JudgeVerdict, JudgeVerdictError, Model, Prompt, Reply, Vote

BATTLES = ("voted", "all")
AB, BA = "ab", "ba"
VERDICTS = ("A", "B", "tie")

PAIRWISE_PROMPT = (
    """You compare two replies to a person's message and decide which one is more emotionally intelligent.
Weigh what matters in such a reply:
"""
    + CRITERIA_GUIDE
    + """
Judge only the replies' text. Do not prefer a reply for being longer or for coming first. Say "tie" only when
neither is better. Answer with one JSON object and nothing else: a short reason, then your verdict, "A", "B" or
"tie", for example:
{"reason": "B notices the guilt behind the anger; A jumps to advice.", "verdict": "B"}"""
)


def pairwise_messages(prompt_text: str, first_text: str, second_text: str) -> list[dict[str, str]]:
    """What the judge is sent: the criteria, the person's message and two replies as A and B. No model names."""
    user = (
        f"The person wrote:\n<message>\n{prompt_text}\n</message>\n\n"
        f"Reply A:\n<reply_a>\n{first_text}\n</reply_a>\n\n"
        f"Reply B:\n<reply_b>\n{second_text}\n</reply_b>\n\n"
        "Which reply is more emotionally intelligent? Return the JSON object."
    )
    return [{"role": "system", "content": PAIRWISE_PROMPT}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> str:
    """'A', 'B' or 'tie' from a judge's answer (code fences and text around one JSON object allowed); raises
    LLMError(bad_response) otherwise."""
    value = json_object(text).get("verdict")
    label = value.strip() if isinstance(value, str) else None
    for verdict in VERDICTS:
        if label is not None and label.lower() == verdict.lower():
            return verdict
    raise llm.LLMError(llm.BAD_RESPONSE, f"the judge's verdict {value!r} is not A, B or tie")


@dataclass(frozen=True)
class PairwiseOptions:
    judge: str  # slug of the judge model in the registry
    battles: str = "voted"  # which battles' pairs: 'voted' (a vote was cast) or 'all'
    limit: int | None = None  # at most this many pairs of replies (two calls each)
    concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class PairTask:
    low: int  # the pair's reply ids, low < high; order 'ab' shows `low` first
    high: int
    prompt_text: str
    texts: dict[int, str]
    orders: tuple[str, ...]  # the orders still to ask


@dataclass
class PairwisePlan:
    tasks: list[PairTask]
    own_family_skipped: int = 0  # pairs left out: a reply's model shares the judge's family


@dataclass
class PairwiseSummary(JudgeSummary):
    verdicts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "verdicts": self.verdicts}


def shown(low: int, high: int, order: str) -> tuple[int, int]:
    """The (first, second) reply ids of a pair shown in `order`."""
    return (low, high) if order == AB else (high, low)


def plan_pairwise(session: Session, options: PairwiseOptions) -> PairwisePlan:
    """The battles' pairs of replies (two models, one message, single replies) this judge has not judged in both
    orders, lowest reply ids first; pairs of the judge's own family left out and counted."""
    if options.battles not in BATTLES:
        raise ValueError(f"battles must be one of {', '.join(BATTLES)}")
    judge_family = session.scalar(select(Model.provider).where(Model.slug == options.judge))
    reply_a, reply_b = aliased(Reply), aliased(Reply)
    model_a, model_b = aliased(Model), aliased(Model)
    query = (
        select(reply_a.id, reply_b.id, model_a.provider, model_b.provider, Prompt.text, reply_a.text, reply_b.text)
        .select_from(Battle)
        .join(reply_a, reply_a.id == Battle.reply_a_id)
        .join(reply_b, reply_b.id == Battle.reply_b_id)
        .join(model_a, model_a.id == reply_a.model_id)
        .join(model_b, model_b.id == reply_b.model_id)
        .join(Prompt, Prompt.id == reply_a.prompt_id)
        # Multi-turn battles and transcripts are not one message and two replies: the rubric judge covers them.
        .where(model_a.id != model_b.id, reply_a.prompt_id == reply_b.prompt_id)
        .where(~exists().where(Conversation.battle_id == Battle.id, Conversation.mode != "single"))
        .where(~exists().where(Conversation.reply_id.in_([reply_a.id, reply_b.id])))
        .order_by(Battle.id)
    )
    if options.battles == "voted":
        query = query.where(exists().where(Vote.battle_id == Battle.id))
    done: dict[tuple[int, int], set[str]] = {}
    for first, second in session.execute(
        select(JudgeVerdict.reply_first_id, JudgeVerdict.reply_second_id).where(JudgeVerdict.judge == options.judge)
    ):
        done.setdefault((min(first, second), max(first, second)), set()).add(AB if first < second else BA)
    pairs: dict[tuple[int, int], PairTask] = {}
    own = set()
    for ra, rb, pa, pb, prompt_text, ta, tb in session.execute(query):
        key = (min(ra, rb), max(ra, rb))
        if key in pairs or key in own:
            continue
        if judge_family is not None and judge_family in (pa, pb):
            own.add(key)
            continue
        orders = tuple(o for o in (AB, BA) if o not in done.get(key, set()))
        if orders:
            pairs[key] = PairTask(key[0], key[1], prompt_text, {ra: ta, rb: tb}, orders)
    tasks = [pairs[key] for key in sorted(pairs)]
    if options.limit is not None:
        tasks = tasks[: options.limit]
    return PairwisePlan(tasks, len(own))


def store_verdicts(factory: sessionmaker[Session], task: PairTask, judge: str, answers: dict[str, tuple]) -> None:
    """Both orders' verdicts (and raw answers) in one transaction; the pair's error row goes."""
    with factory() as session, session.begin():
        for order, (verdict, raw) in answers.items():
            first, second = shown(task.low, task.high, order)
            session.add(JudgeVerdict(judge=judge, reply_first_id=first, reply_second_id=second, shown_order=order,
                                     verdict=verdict, raw=raw))  # fmt: skip
        session.execute(delete(JudgeVerdictError).filter_by(judge=judge, reply_low_id=task.low,
                                                            reply_high_id=task.high))  # fmt: skip


def record_verdict_error(factory: sessionmaker[Session], task: PairTask, judge: str, failure: CallFailed) -> None:
    with factory() as session, session.begin():
        key = {"judge": judge, "reply_low_id": task.low, "reply_high_id": task.high}
        keep_last_failure(session, JudgeVerdictError, key, failure)


def judge_pairs(
    factory: sessionmaker[Session],
    options: PairwiseOptions,
    *,
    model: Model | None = None,
    plan: PairwisePlan | None = None,
    progress: Callable[[int], None] | None = None,
) -> PairwiseSummary:
    """Ask for every pair this judge has not judged both ways (the judge model and the plan looked up unless
    given)."""
    if model is None or plan is None:
        with factory() as session:
            model, plan = judge_model(session, options.judge), plan_pairwise(session, options)
    summary = PairwiseSummary()
    runner = JobRunner(options.concurrency, options.retry, secrets=llm.key_secrets(model), progress=progress)

    async def attempt(task: PairTask, order: str):
        # A malformed answer is retried like any broken reply: a judge that answers well next time is fine.
        first, second = shown(task.low, task.high, order)
        messages = pairwise_messages(task.prompt_text, task.texts[first], task.texts[second])
        completion = await llm.complete(model, messages, timeout=options.retry.timeout)
        return completion, parse_verdict(completion.text)

    async def ask(task: PairTask):
        # The orders at once, each call in a slot of its own; the first order that failed fails the pair.
        calls = (runner.call(partial(attempt, task, order)) for order in task.orders)
        results = await asyncio.gather(*calls, return_exceptions=True)
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            raise failure
        return results

    def store(task: PairTask, results) -> None:
        answers = {order: (verdict, completion.text)
                   for order, ((completion, verdict), _) in zip(task.orders, results, strict=True)}  # fmt: skip
        store_verdicts(factory, task, options.judge, answers)
        summary.scored += 1
        summary.verdicts += len(answers)
        costs = [llm.cost_usd(model, completion) for (completion, _), _attempts in results]
        summary.cost_usd += sum(c or 0.0 for c in costs)
        summary.unknown_cost += any(c is None for c in costs)  # per pair, as `scored` counts pairs

    def record(task: PairTask, failure: CallFailed) -> None:
        record_verdict_error(factory, task, options.judge, failure)
        summary.failed[failure.kind] += 1

    runner.run(plan.tasks, ask, store, record)
    return summary
