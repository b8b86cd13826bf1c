"""`arena judge pairwise` against the local OpenAI-compatible server: both orders asked and stored, resumable,
own-family pairs never judged, unusable answers as errors with nothing half-stored; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.llm.client import LLMError
from arena.llm.pairwise_judging import PairwiseOptions, judge_pairs, parse_verdict
from arena.llm.retry import RetryPolicy
from arena.models import Battle, JudgeVerdict, JudgeVerdictError, Model, Prompt, Reply, Vote
from tests.arena_cli import run_arena
from tests.llm.llm_models import add_model, served

litellm = pytest.importorskip("litellm")

FAST = RetryPolicy(attempts=1, base_delay=0.01, timeout=5)
SHOWN = re.compile(r"<reply_a>\n(.*)\n</reply_a>.*<reply_b>\n(.*)\n</reply_b>", re.DOTALL)


def biased_verdict(first: str, second: str) -> str:
    """Prefers a reply marked [good] over one marked [bad]; between two alike, says A (a position bias) when both
    are good and tie when both are bad."""
    good = ("[good]" in first, "[good]" in second)
    return "A" if good == (True, False) else "B" if good == (False, True) else "A" if good[0] else "tie"


def biased_judge(messages) -> str:
    verdict = biased_verdict(*SHOWN.search(messages[-1]["content"]).groups())
    return f'```json\n{{"reason": "one is warmer", "verdict": "{verdict}"}}\n```'


def seed_pairs(factory, battles: list[tuple[str, str, str, str, str | None]], providers: dict[str, str | None]):
    """One message per battle: (model A, quality A, model B, quality B, outcome or None for an open battle)."""
    with transaction(factory) as session:
        models = {slug: Model(slug=slug, display_name=slug.title(), provider=p) for slug, p in providers.items()}
        session.add_all(models.values())
        session.flush()
        for i, (a, qa, b, qb, outcome) in enumerate(battles):
            prompt = Prompt(text=f"My sister stopped talking to me ({i}).", source="curated", content_hash=f"pw-{i}")
            session.add(prompt)
            session.flush()
            ra = Reply(prompt_id=prompt.id, model_id=models[a].id, text=f"Reply {i} [{qa}]")
            rb = Reply(prompt_id=prompt.id, model_id=models[b].id, text=f"Other reply {i} [{qb}]")
            session.add_all([ra, rb])
            session.flush()
            battle = Battle(public_id=f"pw{i}", prompt_id=prompt.id, reply_a_id=ra.id, reply_b_id=rb.id,
                            model_a_id=models[a].id, model_b_id=models[b].id,
                            status="voted" if outcome else "open", judge_key=f"voter{i % 5}")  # fmt: skip
            session.add(battle)
            session.flush()
            if outcome:
                session.add(Vote(battle_id=battle.id, model_a_id=models[a].id, model_b_id=models[b].id,
                                 outcome=outcome))  # fmt: skip


def verdicts(factory, judge="pj") -> list[tuple[int, int, str, str]]:
    with factory() as session:
        rows = session.scalars(select(JudgeVerdict).where(JudgeVerdict.judge == judge).order_by(JudgeVerdict.id))
        return [(v.reply_first_id, v.reply_second_id, v.shown_order, v.verdict) for v in rows]


PROVIDERS = {"warm-bot": "anthropic", "brisk-bot": "meta", "house-gpt": "openai"}


def add_judge(factory, server, name="pair-judge"):
    # Registered as openai/<name>: its family is openai.
    add_model(factory, **served(server, "pj", name), active=False)


def test_parse_verdict():
    assert parse_verdict('{"reason": "x", "verdict": "A"}') == "A"
    assert parse_verdict('Sure.\n```json\n{"verdict": " b "}\n```') == "B"
    assert parse_verdict('{"verdict": "TIE"}') == "tie"
    for answer in ('{"verdict": "C"}', '{"reason": "A is better"}', "A", '{"verdict": 1}'):
        with pytest.raises(LLMError) as caught:
            parse_verdict(answer)
        assert caught.value.kind == "bad_response"


def test_both_orders_are_asked_and_stored_once_never_own_family(session_factory, llm_server):
    seed_pairs(session_factory, [
        ("warm-bot", "good", "brisk-bot", "bad", "model_a"),
        ("brisk-bot", "good", "warm-bot", "good", "model_b"),
        ("warm-bot", "bad", "house-gpt", "good", "model_b"),  # the judge's own family: never judged
        ("brisk-bot", "bad", "warm-bot", "bad", None),  # not voted: only with battles=all
    ], PROVIDERS)  # fmt: skip
    add_judge(session_factory, llm_server)
    llm_server.replies["pair-judge"] = biased_judge

    summary = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST, concurrency=3))

    assert summary.scored == 2 and summary.verdicts == 4 and not summary.failed
    stored = verdicts(session_factory)
    with session_factory() as session:
        text = dict(session.execute(select(Reply.id, Reply.text)).tuples().all())
        names = [n for m in session.scalars(select(Model)) for n in (m.slug, m.display_name) if m.slug != "pj"]
    assert len(stored) == 4 and {v for *_, v in stored} <= {"A", "B", "tie"}
    pairs = {}
    for first, second, order, verdict in stored:
        assert order == ("ab" if first < second else "ba")
        pairs.setdefault(frozenset((first, second)), {})[order] = (first, verdict)
        # What was stored is what the judge said of the replies as shown.
        assert verdict == biased_verdict(text[first], text[second])
    assert all(set(orders) == {"ab", "ba"} for orders in pairs.values()) and len(pairs) == 2
    with session_factory() as session:
        own = set(session.scalars(select(Reply.id).join(Model).where(Model.slug == "house-gpt")))
    assert own and not any(own & pair for pair in pairs)
    # Four calls, each with the message and both replies, no model named.
    assert len(llm_server.requests) == 4
    for request in llm_server.requests:
        sent = json.dumps(request.messages).lower()
        assert all(name.lower() not in sent for name in names)

    # Resumable: nothing left to ask.
    again = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST))
    assert again.scored == 0 and len(llm_server.requests) == 4 and len(verdicts(session_factory)) == 4
    # Every battle: the open battle's pair too, and only it.
    more = judge_pairs(session_factory, PairwiseOptions(judge="pj", battles="all", retry=FAST))
    assert more.scored == 1 and len(llm_server.requests) == 6 and len(verdicts(session_factory)) == 6


def test_an_unusable_answer_is_an_error_and_nothing_is_half_stored(session_factory, llm_server):
    seed_pairs(session_factory, [("warm-bot", "good", "brisk-bot", "bad", "model_a")], PROVIDERS)
    add_judge(session_factory, llm_server)

    def second_order_breaks(messages) -> str:
        first, _ = SHOWN.search(messages[-1]["content"]).groups()
        return biased_judge(messages) if first.startswith("Reply") else '{"verdict": "the first one"}'

    llm_server.replies["pair-judge"] = second_order_breaks
    twice = RetryPolicy(attempts=2, base_delay=0.01)
    summary = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=twice))
    assert dict(summary.failed) == {"bad_response": 1} and summary.scored == 0
    assert verdicts(session_factory) == []  # the good order is not kept without the other
    with session_factory() as session:
        (error,) = session.scalars(select(JudgeVerdictError)).all()
    assert error.judge == "pj" and error.error_type == "bad_response" and error.attempts == 2
    assert "not A, B or tie" in error.message

    llm_server.replies["pair-judge"] = biased_judge
    later = judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST))
    assert later.scored == 1 and len(verdicts(session_factory)) == 2
    with session_factory() as session:
        assert session.scalars(select(JudgeVerdictError)).all() == []


def test_cli_judge_pairwise(database_url, session_factory, llm_server):
    seed_pairs(session_factory, [("warm-bot", "good", "brisk-bot", "bad", "model_a"),
                                 ("brisk-bot", "good", "warm-bot", "bad", "tie"),
                                 ("house-gpt", "good", "warm-bot", "bad", "model_a")], PROVIDERS)  # fmt: skip
    add_judge(session_factory, llm_server)
    llm_server.replies["pair-judge"] = biased_judge

    first = run_arena("judge", "pairwise", "--judge-model", "pj", "--limit", "1", "--json",
                      "--database-url", database_url)  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == {
        "judge": "pj", "planned": 1, "own_family_skipped": 1, "scored": 1, "verdicts": 2, "failed": 0,
        "errors": {}, "cost_usd": 0.0, "unknown_cost_replies": 1,
    }  # fmt: skip
    # The rest in-process (each `arena` run that calls a model imports litellm: seconds).
    assert judge_pairs(session_factory, PairwiseOptions(judge="pj", retry=FAST)).scored == 1
    again = run_arena("judge", "pairwise", "--judge-model", "pj", "--database-url", database_url)
    assert again.returncode == 0, again.stderr
    assert "nothing to judge" in again.stdout and "1 pairs of its own family left out" in again.stdout
    assert len(verdicts(session_factory)) == 4 and len(llm_server.requests) == 4


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((), "--judge-model SLUG is required"),
        (("--judge-model", "nobody"), "no judge model nobody"),
        (("--judge-model", "pj", "--battles", "some"), "Invalid value for '--battles'"),
    ],
)
def test_cli_judge_pairwise_bad_input_exits_2(database_url, args, reason):
    result = run_arena("judge", "pairwise", *args, "--database-url", database_url)
    assert result.returncode == 2
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert reason in result.stderr and (len(lines) == 1 or "Usage" in result.stderr), result.stderr
