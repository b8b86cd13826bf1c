"""The run loop of every job that calls models (`arena generate`, `generate edits`, `judge`, `judge
--conversations`, `judge pairwise`): at most `concurrency` calls in flight, each retried under the job's
RetryPolicy, an item's answer stored or its failure recorded as soon as it is known, progress after each item.

A job brings its own parts: its work items (planned from what is still missing, so a rerun resumes), how an item
is asked, and how its answer or its error is stored (each in a short transaction of its own, so a killed run keeps
what finished)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from arena.llm import client as llm
from arena.llm.retry import CallFailed, RetryPolicy, run_coroutine, with_retries

Item = TypeVar("Item")
T = TypeVar("T")


class NotStarted(Exception):
    """An item's call that its `admit` check refused (a budget): the item is done, with nothing stored."""


class JobRunner:
    """One run of a job. `secrets` (API keys) are masked in the errors its calls raise; a call may name its own
    (a generation call: the keys of its model's fallbacks too)."""

    def __init__(
        self,
        concurrency: int,
        policy: RetryPolicy,
        *,
        secrets: tuple[str, ...] = (),
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.concurrency, self.policy, self.secrets, self.progress = max(1, concurrency), policy, secrets, progress
        self._slots: asyncio.Semaphore | None = None

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        secrets: tuple[str, ...] | None = None,
        admit: Callable[[], bool] | None = None,
    ) -> tuple[T, int]:
        """`attempt()` in one of the run's slots, retried under the policy: its result and the attempts it took.
        Raises CallFailed when no attempt succeeded, NotStarted when `admit()` refuses; it is asked once the slot
        is held, so that it sees every call in flight and the items in their order."""
        async with self._slots:
            if admit is not None and not admit():
                raise NotStarted
            return await with_retries(attempt, self.policy, secrets=self.secrets if secrets is None else secrets)

    def run(
        self,
        items: Sequence[Item],
        ask: Callable[[Item], Awaitable[Any]],
        store: Callable[[Item, Any], None],
        record: Callable[[Item, CallFailed], None],
    ) -> None:
        """Every item at once, its calls (made with `call`) waiting for a slot in the items' order: `ask(item)`,
        then `store(item, answer)`, or `record(item, failure)` when a call failed for good. Any other error ends
        the run."""
        if not items:
            return
        llm.import_litellm()  # pay the import once, before the clock of the first call starts
        run_coroutine(self._run(items, ask, store, record))

    async def _run(self, items, ask, store, record) -> None:
        # Made here: a semaphore belongs to the event loop that first waits on it, and each run has its own.
        self._slots = asyncio.Semaphore(self.concurrency)
        done = 0

        async def one(item) -> None:
            nonlocal done
            try:
                answer = await ask(item)
            except NotStarted:
                pass
            except CallFailed as failure:
                record(item, failure)
            else:
                store(item, answer)
            done += 1
            if self.progress is not None:
                self.progress(done)

        await asyncio.gather(*(one(item) for item in items))
