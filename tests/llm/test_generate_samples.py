"""`arena generate --samples N`: up to N distinct replies per (message, model), filled resumably; the default of 1
is today's behaviour; --dry-run and --max-cost count the extra calls; an answer repeating a stored sample is not
kept. Real HTTP to the local server, both databases."""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_reply
from arena.llm.generation import GenerationInputError, GenerationOptions, generate, plan_generation
from arena.llm.retry import RetryPolicy
from arena.models import Model, Prompt, Reply
from tests.arena_cli import run_arena
from tests.llm.llm_models import add_model, add_prompts, served

pytest.importorskip("litellm")

MESSAGES = (
    "My dog died this morning and the house is so quiet I can't stand it.",
    "I didn't get the promotion. Again. I'm starting to think I'm just not good enough.",
)
FAST = RetryPolicy(attempts=1, base_delay=0.01, timeout=5)


def varied(llm_server, *names) -> None:
    """Each call of these models answers with a new text, as a model sampled at a temperature above 0 does."""
    counter = itertools.count()
    for name in names:
        llm_server.replies[name] = lambda messages, name=name: f"{name} reply number {next(counter)}"


def samples_by_pair(factory) -> dict[tuple[int, str], list[tuple[int, str]]]:
    with factory() as session:
        rows = session.execute(
            select(Reply.prompt_id, Model.slug, Reply.sample, Reply.text)
            .join(Model, Model.id == Reply.model_id)
            .order_by(Reply.prompt_id, Model.slug, Reply.sample)
        )
        pairs = defaultdict(list)
        for prompt_id, slug, sample, text in rows:
            pairs[(prompt_id, slug)].append((sample, text))
        return dict(pairs)


def plan(factory, **options):
    with factory() as session:
        return plan_generation(session, GenerationOptions(retry=FAST, **options))


def test_three_samples_store_three_distinct_replies_per_pair_and_a_rerun_adds_none(session_factory, llm_server):
    prompts = add_prompts(session_factory, MESSAGES)
    for slug in ("warm", "brief"):
        add_model(session_factory, **served(llm_server, slug))
    varied(llm_server, "warm", "brief")

    summary = generate(session_factory, GenerationOptions(retry=FAST, samples=3, concurrency=3))

    assert summary.generated == 12 and not summary.failed and not summary.duplicates
    stored = samples_by_pair(session_factory)
    assert set(stored) == {(p, m) for p in prompts for m in ("warm", "brief")}
    for replies in stored.values():
        assert [sample for sample, _ in replies] == [0, 1, 2]
        assert len({text for _, text in replies}) == 3
    again = generate(session_factory, GenerationOptions(retry=FAST, samples=3))
    assert again.generated == 0 and len(llm_server.requests) == 12
    assert samples_by_pair(session_factory) == stored


def test_one_sample_is_todays_behaviour_and_raising_n_fills_only_the_missing(session_factory, llm_server):
    prompts = add_prompts(session_factory, MESSAGES)
    add_model(session_factory, **served(llm_server, "warm"))
    varied(llm_server, "warm")
    assert GenerationOptions().samples == 1
    assert [(c.prompt_id, c.sample) for c in plan(session_factory).calls] == [(p, 0) for p in prompts]

    generate(session_factory, GenerationOptions(retry=FAST))
    first = samples_by_pair(session_factory)
    assert all(len(replies) == 1 for replies in first.values()) and len(llm_server.requests) == 2
    assert not plan(session_factory).calls

    # Asking for 3 later: two calls per pair, for samples 1 and 2; sample 0 stays as it was.
    assert [(c.prompt_id, c.sample) for c in plan(session_factory, samples=3).calls] == [
        (p, s) for p in prompts for s in (1, 2)
    ]
    generate(session_factory, GenerationOptions(retry=FAST, samples=3))
    after = samples_by_pair(session_factory)
    assert all(replies[0] == first[pair][0] and len(replies) == 3 for pair, replies in after.items())
    # Asking for fewer than are stored removes nothing and calls nothing.
    assert not plan(session_factory, samples=2).calls
    for wrong in (0, 21):
        with pytest.raises(GenerationInputError, match="from 1 to 20"):
            plan(session_factory, samples=wrong)


def test_imported_samples_count_towards_n(session_factory, llm_server):
    (prompt_id,) = add_prompts(session_factory, MESSAGES[:1])
    add_model(session_factory, **served(llm_server, "warm"))
    with transaction(session_factory) as session:
        prompt, model = session.get(Prompt, prompt_id), get_or_create_model(session, "warm")[0]
        for text in ("first imported reply", "second imported reply"):
            get_or_create_reply(session, prompt, model, text)
    assert [c.sample for c in plan(session_factory, samples=3).calls] == [2]


def test_an_answer_repeating_a_stored_sample_is_not_kept(session_factory, llm_server):
    add_prompts(session_factory, MESSAGES)
    add_model(session_factory, **served(llm_server, "warm"))
    seen: set[str] = set()

    def same_text_first_call_slowest(messages):
        # The first call of each pair (planned as sample 0) answers last, so the repeat finds sample 0 free.
        message = messages[-1]["content"]
        if message not in seen:
            seen.add(message)
            time.sleep(0.3)
        return "the same reply every time"

    llm_server.replies["warm"] = same_text_first_call_slowest

    summary = generate(session_factory, GenerationOptions(retry=FAST, samples=2, concurrency=4))

    assert summary.generated == 2 and summary.duplicates == 2
    assert "2 not kept: same text as a stored sample" in summary.line()
    # Whichever call of a pair finished first, its reply is sample 0: no hole a rerun would fill with a repeat.
    assert all([s for s, _ in replies] == [0] for replies in samples_by_pair(session_factory).values())
    # The sample stays free: a rerun tries it again.
    assert [c.sample for c in plan(session_factory, samples=2).calls] == [1, 1]


def test_cli_dry_run_and_max_cost_count_the_extra_calls(database_url, session_factory, llm_server):
    add_prompts(session_factory, MESSAGES)
    add_model(session_factory, **served(llm_server, "warm", input_cost_per_token=1e-6, output_cost_per_token=1e-6))
    varied(llm_server, "warm")
    one = run_arena("generate", "--dry-run", "--json", "--database-url", database_url)
    three = run_arena("generate", "--dry-run", "--json", "--samples", "3", "--database-url", database_url)
    assert one.returncode == three.returncode == 0, one.stderr + three.stderr
    one, three = json.loads(one.stdout), json.loads(three.stdout)
    assert (one["planned_calls"], one["samples"], three["planned_calls"], three["samples"]) == (2, 1, 6, 3)
    assert three["estimated_cost_usd"] == pytest.approx(3 * one["estimated_cost_usd"], rel=1e-3)
    assert not llm_server.requests

    # --max-cost weighs every extra call: too little for one call starts none of the six.
    too_little = f"{one['estimated_cost_usd'] / 4:.8f}"
    run = run_arena("generate", "--json", "--samples", "3", "--max-cost", too_little, "--database-url", database_url)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["skipped_over_budget"] == 6 and not llm_server.requests

    run = run_arena("generate", "--json", "--samples", "3", "--max-cost", f"{three['estimated_cost_usd'] * 1.01:.8f}",
                    "--database-url", database_url)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["generated"] == 6
    assert sorted(len(r) for r in samples_by_pair(session_factory).values()) == [3, 3]
    rest = run_arena("generate", "--dry-run", "--json", "--samples", "3", "--database-url", database_url)
    assert json.loads(rest.stdout)["planned_calls"] == 0


def test_cli_refuses_zero_samples_with_one_line(database_url, session_factory):
    result = run_arena("generate", "--samples", "0", "--database-url", database_url)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["arena: --samples must be from 1 to 20, got 0"], result.stderr
