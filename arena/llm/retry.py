"""Retries with exponential backoff and a hard per-attempt deadline, for the generate and judge jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import select

from arena.llm import client as llm
from arena.models import utcnow

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` in all (1 = no retry); waits base_delay, 2 * base_delay, ... capped at max_delay between them.
    `timeout` bounds each attempt as a whole, so a provider that hangs or trickles forever still ends."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0
    timeout: float = 60.0

    def delay(self, failed_attempts: int) -> float:
        return min(self.max_delay, self.base_delay * 2 ** (failed_attempts - 1))


class CallFailed(Exception):
    """Every attempt failed; the last error's short type and message, and how many attempts were made."""

    def __init__(self, kind: str, message: str, attempts: int) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.attempts = kind, message, attempts


def run_coroutine(coroutine: Awaitable[T]) -> T:
    """asyncio.run, also from a thread whose event loop is already running (a notebook, or a test process where
    Playwright's sync API has one): the job's loop then runs in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="arena-job") as pool:
        return pool.submit(asyncio.run, coroutine).result()


def keep_last_failure(session, error_table, key: dict, failure: CallFailed) -> None:
    """Store `failure` as the one error row of `key` (GenerationError per prompt and model, JudgeError per reply
    and judge): the newest kind and message, with attempts adding up across runs."""
    row = session.scalar(select(error_table).filter_by(**key))
    if row is None:
        session.add(error_table(**key, error_type=failure.kind, message=failure.message, attempts=failure.attempts))
    else:
        row.error_type, row.message, row.updated_at = failure.kind, failure.message, utcnow()
        row.attempts += failure.attempts


async def with_retries(
    call: Callable[[], Awaitable[T]], policy: RetryPolicy, *, secrets: tuple[str, ...] = ()
) -> tuple[T, int]:
    """The result of `call()` and the attempts it took; raises CallFailed when no attempt succeeded. Only errors
    that may pass (timeouts, rate limits, provider errors, broken replies) are retried."""
    attempt = 0
    while True:
        attempt += 1
        try:
            # litellm's own timeout covers connecting and each read; this one also ends a stream that never stops.
            return await asyncio.wait_for(call(), timeout=policy.timeout + 1.0), attempt
        except Exception as exc:  # noqa: BLE001 - every failure becomes a recorded error type
            kind = llm.error_type(exc)
            if attempt >= policy.attempts or kind not in llm.RETRYABLE:
                raise CallFailed(kind, llm.error_message(exc, secrets), attempt) from exc
        await asyncio.sleep(policy.delay(attempt))
