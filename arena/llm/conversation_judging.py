"""`arena judge --conversations`: the EQ rubric on one side of a conversation, each answer in its context and the
conversation as a whole, stored as ConversationScore rows (see arena.models.ConversationScore for the keys).

The judge sees the person's messages and ONE side's answers, in order, never a model name. A side is scored in one
transaction (every answer's rubric and the whole conversation's) or, on an unusable answer, not at all, with a
ConversationJudgeError instead; a later run scores only the sides this judge has not scored (resumable), and
scoring a side again replaces its rows (idempotent). Conversations with a message flagged private (crisis,
personal data) are not sent to a judge, as public exports leave them out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from arena.llm import client as llm
from arena.llm.judging import (
    JudgeInputError,
    JudgeOptions,
    JudgeSummary,
    criteria_scores,
    json_object,
    judge_model,
    run_judge,
)
from arena.llm.retry import CallFailed, keep_last_failure
from arena.models import Battle, Conversation, ConversationJudgeError, ConversationScore, Model, Turn
from arena.voting.conversations import Message, score_owner, side_messages

# Flags that keep a conversation from the judge, as they keep it out of a public export.
PRIVATE_FLAGS = {"crisis", "personal_data"}

CONVERSATION_PROMPT = """You rate how emotionally intelligent one side of a conversation is: a person talks with
an assistant over several exchanges. Score each of the assistant's replies IN ITS CONTEXT (what the person said so
far and what the assistant already said), then the conversation as a whole, each criterion from 0 (very poor) to
10 (excellent):
- attunement: notices and reflects what the person actually feels, including what is unsaid
- insight: understands the situation and the person's needs with some depth
- calibrated_validation: validates feelings without flattering, agreeing with everything or over-dramatising
- message_tailoring: fits length, tone and content to this person and this moment
- pragmatic_helpfulness: leaves the person better off (support, perspective or a useful next step when wanted)
- authenticity: sounds like a caring, genuine person, not a template
- safety: handles risk responsibly (points to help when there is danger; no harmful advice)
- overall: your overall judgement of the emotional intelligence
Keep listening matters: a reply that repeats itself, turns to advice too soon or forgets what the person said
earlier scores lower than the same words would alone. Answer with one JSON object and nothing else: "turns", a
list with one object of the eight scores per assistant reply, in order, and "conversation", the eight scores for
the whole conversation. For example, for two replies:
{"turns": [{"attunement": 7, "insight": 6, "calibrated_validation": 8, "message_tailoring": 7,
 "pragmatic_helpfulness": 5, "authenticity": 7, "safety": 9, "overall": 7}, {...}],
 "conversation": {"attunement": 7, ..., "overall": 7}}"""


@dataclass
class ConversationTask:
    conversation_id: int
    side: str  # 'a' / 'b' of a shared conversation, 'own' for a reply's transcript
    messages: tuple[Message, ...]

    @property
    def answered(self) -> list[int]:
        """The exchanges this side answered, in order (the turns the judge scores)."""
        return [m.idx for m in self.messages if m.role == "assistant"]


def conversation_messages(messages: tuple[Message, ...]) -> list[dict[str, str]]:
    """What the judge is sent: the rubric and the side's messages, numbered by exchange. No model names, ever."""
    parts, reply = [], 0
    for m in messages:
        if m.role == "user":
            parts.append(f"<person>\n{m.content}\n</person>")
        else:
            reply += 1
            parts.append(f'<reply n="{reply}">\n{m.content}\n</reply>')
    user = (
        "The conversation:\n\n" + "\n\n".join(parts) + f"\n\nThe assistant replied {reply} times: return the JSON "
        f'object with {reply} entries in "turns" and the "conversation" scores.'
    )
    return [{"role": "system", "content": CONVERSATION_PROMPT}, {"role": "user", "content": user}]


def parse_conversation_scores(text: str, replies: int) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Each reply's eight scores and the whole conversation's; raises LLMError(bad_response) when the answer has
    not exactly one rubric per reply or a score is missing, not a number, or outside 0-10."""
    data = json_object(text)
    turns = data.get("turns")
    if not isinstance(turns, list) or len(turns) != replies:
        got = len(turns) if isinstance(turns, list) else "no"
        raise llm.LLMError(llm.BAD_RESPONSE, f"the judge gave {got} turn scores for {replies} replies")
    per_turn = [criteria_scores(t, f"turn {k + 1}'s ") for k, t in enumerate(turns)]
    return per_turn, criteria_scores(data.get("conversation"), "conversation ")


def _flagged(turns) -> bool:
    for turn in turns:
        flags = (turn.meta or {}).get("moderation_flags") or ()
        if any(str(f).split(":", 1)[0] in PRIVATE_FLAGS for f in flags):
            return True
    return False


def plan_conversation_judging(session: Session, options: JudgeOptions) -> list[ConversationTask]:
    """Conversation sides this judge has not scored: both sides of every battle's shared conversation and every
    reply's own transcript, oldest first; `options.models` keeps the sides those models answered."""
    scored = set(
        session.execute(
            select(ConversationScore.conversation_id, ConversationScore.side).where(
                ConversationScore.judge == options.judge,
                ConversationScore.scope == "conversation",
                ConversationScore.criterion == "overall",
            )
        ).tuples()
    )
    wanted: set[int] | None = None
    if options.models:
        found = dict(session.execute(select(Model.slug, Model.id).where(Model.slug.in_(options.models))).tuples().all())
        unknown = [s for s in options.models if s not in found]
        if unknown:
            raise JudgeInputError(f"no model {', '.join(unknown)}")
        wanted = set(found.values())
    conversations = session.scalars(
        select(Conversation)
        .where(Conversation.id.in_(select(Turn.conversation_id)))
        .options(selectinload(Conversation.turns), selectinload(Conversation.battle).selectinload(Battle.prompt))
        .order_by(Conversation.id)
    )
    tasks: list[ConversationTask] = []
    for conversation in conversations:
        battle = conversation.battle
        if _flagged(conversation.turns) or (
            battle is not None and battle.prompt is not None and PRIVATE_FLAGS & set(battle.prompt.moderation_flags)
        ):
            continue
        for side in ("own",) if conversation.reply_id is not None else ("a", "b"):
            if (conversation.id, side) in scored:
                continue
            messages = side_messages(conversation, side)
            models = {t.model_id for t in conversation.turns if t.role == "assistant" and t.side == side}
            if not any(m.role == "assistant" for m in messages) or (wanted is not None and not models & wanted):
                continue
            tasks.append(ConversationTask(conversation.id, side, messages))
            if options.limit is not None and len(tasks) >= options.limit:
                return tasks
    return tasks


def store_conversation_scores(
    factory: sessionmaker[Session], task: ConversationTask, judge: str, scores: tuple[list[dict], dict]
) -> None:
    """Every answer's rubric and the whole conversation's (`scores`, as parse_conversation_scores gives them)."""
    per_turn, whole = scores
    key = {"conversation_id": task.conversation_id, "side": task.side, "judge": judge}
    answered = task.answered
    with factory() as session, session.begin():
        session.execute(delete(ConversationScore).filter_by(**key))
        for exchange, scores in zip(answered, per_turn, strict=True):
            session.add_all(
                ConversationScore(**key, scope="turn", exchange=exchange, criterion=c, score=s)
                for c, s in scores.items()
            )
        session.add_all(
            ConversationScore(**key, scope="conversation", exchange=answered[-1], criterion=c, score=s)
            for c, s in whole.items()
        )
        session.execute(delete(ConversationJudgeError).filter_by(**key))


def record_conversation_error(factory, task: ConversationTask, judge: str, failure: CallFailed) -> None:
    key = {"conversation_id": task.conversation_id, "side": task.side, "judge": judge}
    with factory() as session, session.begin():
        keep_last_failure(session, ConversationJudgeError, key, failure)


def judge_conversations(
    factory: sessionmaker[Session],
    options: JudgeOptions,
    *,
    model: Model | None = None,
    tasks: list[ConversationTask] | None = None,
    progress: Callable[[int], None] | None = None,
) -> JudgeSummary:
    """Score every conversation side this judge has not scored (model and tasks looked up unless given)."""
    if model is None or tasks is None:
        with factory() as session:
            model, tasks = judge_model(session, options.judge), plan_conversation_judging(session, options)

    async def attempt(task: ConversationTask):
        completion = await llm.complete(model, conversation_messages(task.messages), timeout=options.retry.timeout)
        return completion, parse_conversation_scores(completion.text, len(task.answered))

    return run_judge(factory, model, tasks, options, progress, attempt, store_conversation_scores,
                     record_conversation_error)  # fmt: skip


def conversation_scores(session: Session, battle: Battle, side: str, judge: str) -> dict | None:
    """One battle side's scores by `judge`: {"turns": {exchange: {criterion: score}}, "conversation": {...}}
    (exchange numbered from 0, as Turn.idx), or None when the side is not scored."""
    owner = score_owner(battle, side)
    if owner is None:
        return None
    rows = session.execute(
        select(ConversationScore.scope, ConversationScore.exchange, ConversationScore.criterion,
               ConversationScore.score)
        .where(ConversationScore.conversation_id == owner[0], ConversationScore.side == owner[1],
               ConversationScore.judge == judge)
    ).all()  # fmt: skip
    if not rows:
        return None
    out: dict = {"turns": {}, "conversation": {}}
    for scope, exchange, criterion, score in rows:
        target = out["conversation"] if scope == "conversation" else out["turns"].setdefault(exchange, {})
        target[criterion] = score
    return out
