"""`arena generate edits`: an editor model rewrites stored replies to change one EI dimension (edit_rules.py), and
each edit that passes the checks is stored as a Reply with `edit_of` and `edit_dimension`, under its original's
prompt and model (the model is unchanged: an edit is a treatment of that model's reply, never a new contestant;
the metadata names the editor). Battles of a reply against its edit (ARENA_EDIT_SHARE, arena/voting/edits.py)
measure the dimension's effect.

Each reply's edit, or its EditError, is stored in its own short transaction: a killed run keeps what finished, and
a rerun asks only for what is still missing (one edit per original and dimension)."""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from arena.llm import client as llm
from arena.llm.edit_rules import DIMENSIONS, EditRefused, check_edit, edited_text, editor_messages
from arena.llm.retry import CallFailed, RetryPolicy
from arena.llm.runner import JobRunner
from arena.models import Conversation, EditError, Model, Prompt, Reply, utcnow


class EditInputError(ValueError):
    """An edit request that cannot run (unknown dimension, editor or model); says why."""


@dataclass(frozen=True)
class EditOptions:
    dimension: str
    editor: str  # slug of the editor model in the registry
    models: Sequence[str] = ()  # only replies of these models; empty: every model's
    limit: int | None = None
    concurrency: int = 4
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass
class EditTask:
    reply_id: int
    prompt_text: str
    reply_text: str


@dataclass
class EditSummary:
    edited: int = 0
    refused: Counter = field(default_factory=Counter)  # check that refused -> replies
    failed: Counter = field(default_factory=Counter)  # call error type -> replies
    cost_usd: float = 0.0
    unknown_cost: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "edited": self.edited,
            "refused": sum(self.refused.values()),
            "refusals": dict(self.refused),
            "failed": sum(self.failed.values()),
            "errors": dict(self.failed),
            "cost_usd": round(self.cost_usd, 6),
            "unknown_cost_edits": self.unknown_cost,
        }

    def line(self, dimension: str) -> str:
        parts = [f"{dimension}: {self.edited} edits stored", f"cost ${self.cost_usd:.4f}"]
        for label, counts in (("refused by the checks", self.refused), ("failed", self.failed)):
            if counts:
                detail = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
                parts.append(f"{sum(counts.values())} {label} ({detail}; see edit errors)")
        return "; ".join(parts)


def editor_model(session: Session, options: EditOptions) -> Model:
    if options.dimension not in DIMENSIONS:
        raise EditInputError(f"no dimension {options.dimension!r}: one of {', '.join(DIMENSIONS)}")
    model = session.scalar(select(Model).where(Model.slug == options.editor))
    if model is None:
        raise EditInputError(f"no editor model {options.editor}: register it first (arena models add ... --litellm)")
    if not model.litellm_model:
        raise EditInputError(f"editor model {options.editor} has no litellm model")
    return model


def plan_edits(session: Session, options: EditOptions) -> list[EditTask]:
    """Original replies to active prompts (not edits, not the opening of an imported transcript) with no edit on
    this dimension yet, oldest first."""
    edit = aliased(Reply)
    has_edit = select(edit.id).where(edit.edit_of == Reply.id, edit.edit_dimension == options.dimension).exists()
    transcript = select(Conversation.id).where(Conversation.reply_id == Reply.id).exists()
    query = (
        select(Reply.id, Prompt.text, Reply.text)
        .join(Prompt, Prompt.id == Reply.prompt_id)
        # Never a visitor's own message (live battles): it is theirs, not material for a study's editor.
        .where(Prompt.active.is_(True), Prompt.source != "user", Reply.edit_of.is_(None), ~has_edit, ~transcript)
        .order_by(Reply.id)
    )
    if options.models:
        known = set(session.scalars(select(Model.slug).where(Model.slug.in_(options.models))))
        unknown = [s for s in options.models if s not in known]
        if unknown:
            raise EditInputError(f"no model {', '.join(unknown)} (see `arena models list`)")
        query = query.join(Model, Model.id == Reply.model_id).where(Model.slug.in_(options.models))
    if options.limit is not None:
        query = query.limit(options.limit)
    return [EditTask(*row) for row in session.execute(query)]


def store_edit(factory: sessionmaker[Session], task: EditTask, dimension: str, editor: Model,
               completion: llm.Completion, text: str, lengths: dict, cost, attempts: int) -> bool:  # fmt: skip
    """Store the edit under its original's prompt and model with the next free negative sample number; False when
    another run stored this edit meanwhile (or the original is gone)."""
    try:
        with factory() as session, session.begin():
            original = session.get(Reply, task.reply_id)
            if original is None:
                return False
            lowest = session.scalar(
                select(func.min(Reply.sample)).where(
                    Reply.prompt_id == original.prompt_id, Reply.model_id == original.model_id
                )
            )
            session.add(
                Reply(
                    prompt_id=original.prompt_id,
                    model_id=original.model_id,
                    sample=min(lowest or 0, 0) - 1,
                    text=text,
                    litellm_model=completion.litellm_model,
                    latency_ms=completion.latency_ms,
                    prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens,
                    cost_usd=cost,
                    meta={
                        "editor": editor.slug,
                        "editor_config_hash": editor.config_hash,
                        "attempts": attempts,
                        **lengths,
                        **completion.meta,
                    },  # fmt: skip
                    edit_of=original.id,
                    edit_dimension=dimension,
                )
            )
            session.execute(delete(EditError).where(EditError.reply_id == task.reply_id,
                                                    EditError.dimension == dimension))  # fmt: skip
    except IntegrityError:
        return False
    return True


def record_edit_error(factory: sessionmaker[Session], reply_id: int, dimension: str, editor: str,
                      failure: CallFailed) -> None:  # fmt: skip
    """Keep the last failure per reply and dimension (which editor, why); attempts add up across runs."""
    with contextlib.suppress(IntegrityError), factory() as session, session.begin():
        # (IntegrityError: the reply was deleted meanwhile; nothing is left to record against.)
        row = session.scalar(select(EditError).filter_by(reply_id=reply_id, dimension=dimension))
        if row is None:
            row = EditError(reply_id=reply_id, dimension=dimension, attempts=0)
            session.add(row)
        row.editor, row.error_type, row.message, row.updated_at = editor, failure.kind, failure.message, utcnow()
        row.attempts += failure.attempts


def edit_replies(
    factory: sessionmaker[Session],
    options: EditOptions,
    *,
    editor: Model | None = None,
    tasks: list[EditTask] | None = None,
    progress: Callable[[int], None] | None = None,
) -> EditSummary:
    """Edit every planned reply on the dimension (the editor and the tasks are looked up unless given)."""
    if editor is None or tasks is None:
        with factory() as session:
            editor, tasks = editor_model(session, options), plan_edits(session, options)
    summary = EditSummary()
    runner = JobRunner(options.concurrency, options.retry, secrets=llm.key_secrets(editor), progress=progress)

    def ask(task: EditTask):
        messages = editor_messages(options.dimension, task.prompt_text, task.reply_text)
        return runner.call(lambda: llm.complete(editor, messages, timeout=options.retry.timeout))

    def store(task: EditTask, answer) -> None:
        completion, attempts = answer
        cost = llm.cost_usd(editor, completion)
        summary.cost_usd += cost or 0.0
        text = edited_text(completion.text)
        try:
            lengths = check_edit(task.reply_text, text)
        except EditRefused as refused:
            failure = CallFailed(refused.kind, str(refused), attempts)
            record_edit_error(factory, task.reply_id, options.dimension, editor.slug, failure)
            summary.refused[refused.kind] += 1
            return
        if store_edit(factory, task, options.dimension, editor, completion, text, lengths, cost, attempts):
            summary.edited += 1
            summary.unknown_cost += cost is None

    def record(task: EditTask, failure: CallFailed) -> None:
        record_edit_error(factory, task.reply_id, options.dimension, editor.slug, failure)
        summary.failed[failure.kind] += 1

    runner.run(tasks, ask, store, record)
    return summary
