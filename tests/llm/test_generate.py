"""`arena generate` against the local OpenAI-compatible server (real HTTP, SSE streams) and a litellm CustomLLM
provider: replies with their metadata, resumability, retries, timeouts, fallbacks, budgets and failures that end
as recorded errors with nothing half-stored."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from arena.db import transaction
from arena.llm.client import call_kwargs, error_message, error_type, stream_reply
from arena.llm.generation import GenerationInputError, GenerationOptions, generate, plan_generation
from arena.llm.retry import RetryPolicy, run_coroutine
from arena.models import GenerationError, Model, Prompt, Reply
from tests.arena_cli import run_arena
from tests.llm.llm_models import KEY_ENV, add_model, served
from tests.llm.llm_models import add_prompts as _add_prompts

litellm = pytest.importorskip("litellm")

MESSAGES = (
    "My dog died this morning and the house is so quiet I can't stand it.",
    "I didn't get the promotion. Again. I'm starting to think I'm just not good enough.",
    "My sister hasn't spoken to me in a month and I don't even know what I did.",
)
FAST = RetryPolicy(attempts=1, base_delay=0.01, timeout=5)


def add_prompts(factory, texts=MESSAGES) -> list[int]:
    return _add_prompts(factory, texts)


def replies(factory) -> list[Reply]:
    with factory() as session:
        return list(session.scalars(select(Reply).order_by(Reply.prompt_id, Reply.model_id)))


def errors(factory) -> dict[tuple[int, str], GenerationError]:
    with factory() as session:
        rows = session.execute(select(GenerationError, Model.slug).join(Model, Model.id == GenerationError.model_id))
        return {(e.prompt_id, slug): e for e, slug in rows}


def test_generate_fills_every_missing_reply_with_its_metadata(session_factory, llm_server):
    prompts = add_prompts(session_factory)
    add_model(session_factory, **served(llm_server, "warm", input_cost_per_token=1e-6, output_cost_per_token=2e-6))
    add_model(session_factory, **served(llm_server, "coach"))

    summary = generate(session_factory, GenerationOptions(retry=FAST, concurrency=3))

    stored = replies(session_factory)
    assert summary.generated == 6 and len(stored) == 6 and not summary.failed
    assert {(r.prompt_id, r.litellm_model) for r in stored} == {
        (p, f"openai/{m}") for p in prompts for m in ("warm", "coach")
    }
    by_prompt = {p.id: p.text for p in _prompts(session_factory)}
    for reply in stored:
        words = len(by_prompt[reply.prompt_id].split())
        assert reply.text.endswith(f"(I read all {words} words.)")
        assert reply.completion_tokens == len(reply.text.split())
        assert reply.prompt_tokens == words
        assert reply.latency_ms is not None and reply.latency_ms >= 0
        assert reply.meta["finish_reason"] == "stop"
        if reply.litellm_model == "openai/warm":
            assert reply.cost_usd == pytest.approx(1e-6 * reply.prompt_tokens + 2e-6 * reply.completion_tokens)
        else:
            assert reply.cost_usd is None
    # Replies are streamed (the live battles use the same path) and carry only the person's message.
    assert all(r.stream for r in llm_server.requests)
    assert sorted(r.messages[-1]["content"] for r in llm_server.requests) == sorted(MESSAGES * 2)
    assert summary.unknown_cost == 3 and "+ unknown for 3 replies" in summary.line()


def _prompts(factory) -> list[Prompt]:
    with factory() as session:
        return list(session.scalars(select(Prompt)))


def test_a_rerun_calls_only_what_is_missing(session_factory, llm_server):
    add_prompts(session_factory, MESSAGES[:2])
    add_model(session_factory, **served(llm_server, "warm"))
    add_model(session_factory, **served(llm_server, "brief"))
    generate(session_factory, GenerationOptions(retry=FAST))
    assert len(llm_server.requests) == 4

    again = generate(session_factory, GenerationOptions(retry=FAST))
    assert again.generated == 0 and len(llm_server.requests) == 4

    add_prompts(session_factory, MESSAGES[2:])
    generate(session_factory, GenerationOptions(retry=FAST))
    assert len(llm_server.requests) == 6
    assert [r.messages[-1]["content"] for r in llm_server.requests[4:]] == [MESSAGES[2]] * 2
    assert len(replies(session_factory)) == 6


def test_inactive_prompts_and_models_and_models_without_litellm_are_left_out(session_factory, llm_server):
    prompt_ids = add_prompts(session_factory)
    add_model(session_factory, **served(llm_server, "warm"))
    add_model(session_factory, **served(llm_server, "retired"))
    with transaction(session_factory) as session:
        session.scalar(select(Model).where(Model.slug == "retired")).active = False
        session.get(Prompt, prompt_ids[0]).active = False
        session.add(Model(slug="imported-only", display_name="Imported"))  # replies come from a file, not litellm

    plan_ = _plan(session_factory, GenerationOptions())
    assert {(c.prompt_id, c.model.slug) for c in plan_.calls} == {(p, "warm") for p in prompt_ids[1:]}
    with pytest.raises(GenerationInputError, match="inactive"):
        _plan(session_factory, GenerationOptions(models=["retired"]))
    with pytest.raises(GenerationInputError, match="no litellm model"):
        _plan(session_factory, GenerationOptions(models=["imported-only"]))
    with pytest.raises(GenerationInputError, match="no model nobody"):
        _plan(session_factory, GenerationOptions(models=["nobody"]))


def _plan(factory, options):
    with factory() as session:
        return plan_generation(session, options)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("fail-429", "rate_limited"),
        ("fail-500", "provider_error"),
        ("hang", "timeout"),
        ("malformed-stream", "bad_response"),
        ("cut-stream", "bad_response"),
    ],
)
def test_a_failing_provider_ends_as_a_recorded_error_and_stores_no_reply(session_factory, llm_server, name, kind):
    [prompt_id] = add_prompts(session_factory, MESSAGES[:1])
    add_model(session_factory, **served(llm_server, "bad", name))
    add_model(session_factory, **served(llm_server, "good"))
    policy = RetryPolicy(attempts=2, base_delay=0.01, timeout=0.5)

    started = time.monotonic()
    summary = generate(session_factory, GenerationOptions(retry=policy))
    elapsed = time.monotonic() - started

    assert summary.generated == 1 and dict(summary.failed) == {kind: 1}
    assert [r.litellm_model for r in replies(session_factory)] == ["openai/good"]  # the partial reply is not kept
    error = errors(session_factory)[(prompt_id, "bad")]
    assert error.error_type == kind and error.attempts == 2 and error.message
    assert len(llm_server.requests_for(name)) == 2
    if name == "hang":
        assert elapsed < 10  # two 0.5 s attempts, not the server's two minutes
    assert f"1 failed (1 {kind}" in summary.line()


def test_retries_with_backoff_recover_and_a_later_success_clears_the_error(session_factory, llm_server):
    [prompt_id] = add_prompts(session_factory, MESSAGES[:1])
    add_model(session_factory, **served(llm_server, "shaky", "flaky-3"))

    first = generate(session_factory, GenerationOptions(retry=RetryPolicy(attempts=2, base_delay=0.01, timeout=5)))
    assert dict(first.failed) == {"provider_error": 1}
    assert errors(session_factory)[(prompt_id, "shaky")].attempts == 2

    started = time.monotonic()
    second = generate(session_factory, GenerationOptions(retry=RetryPolicy(attempts=3, base_delay=0.2, timeout=5)))
    assert time.monotonic() - started >= 0.2  # one failed attempt, then a 0.2 s wait, then success
    assert second.generated == 1
    [reply] = replies(session_factory)
    assert reply.meta["attempts"] == 2
    assert errors(session_factory) == {}
    assert len(llm_server.requests_for("flaky-3")) == 4


def test_backoff_doubles_and_is_capped():
    policy = RetryPolicy(base_delay=0.5, max_delay=3)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3, 3]


def test_a_failing_model_falls_back_through_the_router_and_records_who_answered(session_factory, llm_server):
    add_prompts(session_factory, MESSAGES[:2])
    add_model(session_factory, **served(llm_server, "backup", "backup-model", input_cost_per_token=1e-6,
                                         output_cost_per_token=1e-6))  # fmt: skip
    with transaction(session_factory) as session:
        session.scalar(select(Model).where(Model.slug == "backup")).active = False
    add_model(session_factory, **served(llm_server, "primary", "fail-500", fallbacks=["backup"]))

    summary = generate(session_factory, GenerationOptions(retry=FAST))

    assert summary.generated == 2 and summary.fallbacks_used == 2
    stored = replies(session_factory)
    assert {r.litellm_model for r in stored} == {"openai/backup-model"}
    with session_factory() as session:
        primary = session.scalar(select(Model).where(Model.slug == "primary"))
    assert {r.model_id for r in stored} == {primary.id}
    assert all(r.meta["answered_by"] == "backup" and r.meta["fallback_for"] == "primary" for r in stored)
    # Priced as the model that answered.
    assert all(r.cost_usd == pytest.approx(1e-6 * (r.prompt_tokens + r.completion_tokens)) for r in stored)
    assert len(llm_server.requests_for("fail-500")) == 2 and len(llm_server.requests_for("backup-model")) == 2


@pytest.mark.parametrize("concurrency", [1, 3])
def test_max_cost_stops_scheduling_before_the_budget_is_passed(session_factory, llm_server, concurrency):
    add_prompts(session_factory)
    # Each call costs about 0.004 USD (400 output tokens at 1e-5) and is estimated at that (max_tokens 400), so a
    # 0.01 budget admits two calls and not a third: one at a time through what was spent, three at once through
    # the estimates in flight.
    llm_server.replies["pricey"] = " ".join(f"w{i}" for i in range(400))  # litellm rejects repeated chunks
    add_model(session_factory, **served(llm_server, "pricey", input_cost_per_token=1e-6, output_cost_per_token=1e-5,
                                        params={"max_tokens": 400}))  # fmt: skip
    add_model(session_factory, **served(llm_server, "unpriced"))

    options = GenerationOptions(retry=FAST, concurrency=concurrency, max_cost=0.01)
    summary = generate(session_factory, options)

    assert not summary.failed, [e.message for e in errors(session_factory).values()]
    assert summary.generated == 2 and summary.skipped_budget == 1 and summary.skipped_unpriced == 3
    assert 0.008 < summary.cost_usd <= 0.01
    assert len(llm_server.requests) == 2 and {r.model for r in llm_server.requests} == {"pricey"}
    assert "1 not started: --max-cost reached" in summary.line()


def test_a_key_comes_from_the_named_environment_variable_and_is_never_stored(session_factory, llm_server, monkeypatch):
    [prompt_id] = add_prompts(session_factory, MESSAGES[:1])
    add_model(session_factory, **served(llm_server, "keyed", api_key_env="ARENA_TEST_PROVIDER_KEY"))

    monkeypatch.delenv("ARENA_TEST_PROVIDER_KEY", raising=False)
    missing = generate(session_factory, GenerationOptions(retry=FAST))
    assert dict(missing.failed) == {"not_configured": 1} and not llm_server.requests
    assert "ARENA_TEST_PROVIDER_KEY" in errors(session_factory)[(prompt_id, "keyed")].message

    monkeypatch.setenv("ARENA_TEST_PROVIDER_KEY", "sk-secret-value-123")
    assert generate(session_factory, GenerationOptions(retry=FAST)).generated == 1
    assert llm_server.requests[0].headers["authorization"] == "Bearer sk-secret-value-123"
    with session_factory() as session:
        models = list(session.scalars(select(Model)))
    dumped = json.dumps([m.meta for m in models] + [r.meta for r in replies(session_factory)])
    assert "sk-secret-value-123" not in dumped


class EchoProvider:
    """A litellm CustomLLM (built lazily: litellm is imported only here) that streams a fixed reply."""

    @staticmethod
    def make():
        from litellm import CustomLLM
        from litellm.types.utils import GenericStreamingChunk

        class Echo(CustomLLM):
            calls: list[str] = []

            async def astreaming(self, model, messages, *args, **kwargs):
                Echo.calls.append(messages[-1]["content"])
                words = f"I hear how hard this is: {messages[-1]['content']}".split(" ")
                for i, word in enumerate(words):
                    last = i == len(words) - 1
                    usage = {"prompt_tokens": 7, "completion_tokens": len(words), "total_tokens": 7 + len(words)}
                    yield GenericStreamingChunk(
                        text=word if i == 0 else " " + word, is_finished=last, finish_reason="stop" if last else None,
                        index=0, tool_use=None, usage=usage if last else None,
                    )  # fmt: skip

        return Echo()


@pytest.fixture
def echo_provider(monkeypatch):
    handler = EchoProvider.make()
    # litellm registers the providers of this map on each call.
    monkeypatch.setattr(litellm, "custom_provider_map", [{"provider": "arena-echo", "custom_handler": handler}])
    return handler


def test_generate_through_a_litellm_custom_provider(session_factory, echo_provider):
    add_prompts(session_factory, MESSAGES[:2])
    add_model(session_factory, "echo", "arena-echo/echo-1", input_cost_per_token=1e-6, output_cost_per_token=1e-6)

    summary = generate(session_factory, GenerationOptions(retry=FAST))

    assert summary.generated == 2
    stored = replies(session_factory)
    assert sorted(r.text for r in stored) == sorted(f"I hear how hard this is: {m}" for m in MESSAGES[:2])
    assert all(r.litellm_model == "arena-echo/echo-1" and r.prompt_tokens == 7 for r in stored)
    assert all(r.cost_usd == pytest.approx(1e-6 * (7 + r.completion_tokens)) for r in stored)
    assert sorted(type(echo_provider).calls[-2:]) == sorted(MESSAGES[:2])


def test_cli_generate_dry_run_then_run_then_nothing_left(database_url, session_factory, llm_server):
    prompts = add_prompts(session_factory, MESSAGES[:2])
    add_model(session_factory, **served(llm_server, "warm", input_cost_per_token=1e-6, output_cost_per_token=1e-6))
    add_model(session_factory, **served(llm_server, "hang"))

    dry = run_arena("generate", "--dry-run", "--json", "--database-url", database_url)
    assert dry.returncode == 0, dry.stderr
    planned = json.loads(dry.stdout)
    assert planned["planned_calls"] == 4 and planned["per_model"] == {"hang": 2, "warm": 2}
    assert planned["unpriced_calls"] == 2 and planned["estimated_cost_usd"] > 0
    assert not llm_server.requests

    run = run_arena("generate", "--timeout", "2", "--retries", "0", "--database-url", database_url)
    assert run.returncode == 0, run.stderr
    assert "2 replies generated" in run.stdout and "2 failed (2 timeout" in run.stdout
    assert len(replies(session_factory)) == 2 and len(errors(session_factory)) == 2

    # A rerun for one message calls only what is still missing there: the model that timed out.
    again = run_arena("generate", "--json", "--prompts", str(prompts[0]), "--timeout", "1", "--retries", "0",
                      "--database-url", database_url)  # fmt: skip
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["planned_calls"] == 1 and result["per_model"] == {"hang": 1, "warm": 0}
    assert result["generated"] == 0 and result["errors"] == {"timeout": 1}
    assert len(llm_server.requests_for("warm")) == 2 and len(llm_server.requests_for("hang")) == 3
    assert errors(session_factory)[(prompts[0], "hang")].attempts == 2


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--models", "nobody"), "no model nobody"),
        (("--prompts", "one"), "--prompts takes prompt ids"),
        (("--prompts", "999"), "no active prompt with id 999"),
    ],
)
def test_cli_generate_rejects_bad_input_with_one_line(database_url, session_factory, args, reason):
    result = run_arena("generate", *args, "--database-url", database_url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(GenerationError)) == 0


def test_stream_reply_hands_over_text_as_it_arrives_and_refuses_a_cut_stream(llm_server):
    """The seam the live battles use: pieces of text as they come, and an error (not a reply) when cut."""

    def model(name):
        return Model(slug=name, display_name=name, litellm_model=f"openai/{name}",
                     meta={"api_base": llm_server.url, "api_key_env": KEY_ENV})  # fmt: skip

    async def run(name):
        pieces = []

        async def on_delta(text):
            pieces.append(text)

        messages = [{"role": "user", "content": MESSAGES[0]}]
        try:
            return await stream_reply([model(name)], messages, timeout=5, on_delta=on_delta), pieces
        except Exception as exc:  # noqa: BLE001 - the test inspects what was raised
            return exc, pieces

    completion, pieces = run_coroutine(run("slow"))
    assert len(pieces) > 5 and "".join(pieces) == completion.text and completion.answered_by == "slow"
    failure, pieces = run_coroutine(run("cut-stream"))
    assert pieces and error_type(failure) == "bad_response"


def test_call_kwargs_read_the_key_at_call_time_and_messages_hide_it(monkeypatch):
    meta = {"api_base": "http://127.0.0.1:9/v1", "api_key_env": "ARENA_TEST_OTHER_KEY", "params": {"temperature": 0.3}}
    model = Model(slug="m", display_name="M", litellm_model="openai/m", meta=meta)
    monkeypatch.setenv("ARENA_TEST_OTHER_KEY", "sk-first")
    assert call_kwargs(model, timeout=7) == {
        "model": "openai/m", "timeout": 7, "api_base": "http://127.0.0.1:9/v1", "api_key": "sk-first",
        "temperature": 0.3,
    }  # fmt: skip
    monkeypatch.setenv("ARENA_TEST_OTHER_KEY", "sk-second")
    assert call_kwargs(model, timeout=7)["api_key"] == "sk-second"
    leaked = RuntimeError("401 from provider: key sk-second\nis not valid")
    assert error_message(leaked, ["sk-second"]) == "401 from provider: key *** is not valid"
