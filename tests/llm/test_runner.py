"""The run loop every model-calling job shares (arena/llm/runner.py), on its own: calls made of plain coroutines,
so what it promises (slots, retries, stored or recorded answers, admission in order, progress) shows directly.
The jobs' own tests (generate, edits, judge, conversations, pairwise) run it against a local model server."""

from __future__ import annotations

import asyncio

import pytest

from arena.llm import client as llm
from arena.llm.retry import RetryPolicy
from arena.llm.runner import JobRunner

pytest.importorskip("litellm")  # run() pays litellm's import first, as the jobs do

FAST = RetryPolicy(attempts=3, base_delay=0.001, timeout=5.0)


def test_at_most_concurrency_calls_run_at_once_and_every_item_is_stored_with_progress():
    in_flight, peak, stored, progress = 0, 0, {}, []
    runner = JobRunner(3, FAST, progress=progress.append)

    async def attempt(item: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01 * (item % 4))
        in_flight -= 1
        return item * item

    runner.run(list(range(20)), lambda item: runner.call(lambda: attempt(item)),
               lambda item, answer: stored.__setitem__(item, answer), lambda item, failure: None)  # fmt: skip
    assert peak == 3
    assert stored == {item: (item * item, 1) for item in range(20)}
    assert progress == list(range(1, 21))


def test_a_retryable_error_is_tried_again_and_a_lasting_one_is_recorded_not_stored():
    tries: dict[str, int] = {}
    stored, recorded = {}, {}
    runner = JobRunner(2, FAST)

    async def attempt(item: str) -> str:
        tries[item] = tries.get(item, 0) + 1
        if item == "flaky" and tries[item] < 2:
            raise llm.LLMError(llm.PROVIDER_ERROR, "a hiccup")
        if item == "broken":
            raise llm.LLMError(llm.BAD_REQUEST, "never valid")
        if item == "down":
            raise llm.LLMError(llm.RATE_LIMITED, "slow down")
        return item.upper()

    runner.run(["ok", "flaky", "broken", "down"], lambda item: runner.call(lambda: attempt(item)),
               stored.__setitem__, recorded.__setitem__)  # fmt: skip
    assert stored == {"ok": ("OK", 1), "flaky": ("FLAKY", 2)}
    assert {item: (f.kind, f.attempts) for item, f in recorded.items()} == {
        "broken": (llm.BAD_REQUEST, 1),  # not worth another attempt
        "down": (llm.RATE_LIMITED, 3),  # every attempt of the policy
    }
    assert tries == {"ok": 1, "flaky": 2, "broken": 1, "down": 3}


def test_admission_is_asked_in_the_items_order_once_a_slot_is_free_and_a_refused_item_still_counts_as_done():
    asked, started, progress = [], [], []
    runner = JobRunner(2, FAST, progress=progress.append)

    def admit(item: int) -> bool:
        asked.append(item)
        return item % 3 != 0

    async def attempt(item: int) -> int:
        started.append(item)
        await asyncio.sleep(0.005)
        return item

    stored = {}
    runner.run(list(range(10)), lambda item: runner.call(lambda: attempt(item), admit=lambda: admit(item)),
               stored.__setitem__, lambda item, failure: None)  # fmt: skip
    assert asked == list(range(10))
    assert started == [i for i in range(10) if i % 3]
    assert sorted(stored) == started
    assert progress == list(range(1, 11))


def test_an_unexpected_error_ends_the_run():
    runner = JobRunner(1, FAST)

    def store(item, answer):
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        runner.run([1], lambda item: runner.call(lambda: asyncio.sleep(0, item)), store, lambda item, f: None)


def test_no_items_runs_nothing():
    runner = JobRunner(1, FAST)
    runner.run([], lambda item: pytest.fail("asked"), lambda *a: pytest.fail("stored"), lambda *a: None)
