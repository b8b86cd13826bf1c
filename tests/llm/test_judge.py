"""`arena judge` and `arena judge agreement` against the local OpenAI-compatible server: the rubric stored as
EqScore rows, a judge that never sees model names, unusable answers as JudgeErrors with nothing half-stored, and
agreement with human votes."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from arena.db import transaction
from arena.llm.client import LLMError
from arena.llm.judging import (
    CRITERIA,
    JudgeOptions,
    judge_agreement,
    judge_replies,
    parse_scores,
    plan_judging,
)
from arena.llm.retry import RetryPolicy
from arena.models import Battle, EqScore, JudgeError, Model, Prompt, Reply, Vote
from ratings.agreement import cohen_kappa
from tests.arena_cli import run_arena
from tests.llm.llm_models import add_model, served

litellm = pytest.importorskip("litellm")

FAST = RetryPolicy(attempts=1, base_delay=0.01, timeout=5)
REPLY = re.compile(r"<reply>\n(.*)\n</reply>", re.DOTALL)


def rubric_answer(messages) -> str:
    """A judge that scores a reply by the number in its text ("... [score 7]"), fenced as chat models often do."""
    reply = REPLY.search(messages[-1]["content"]).group(1)
    score = int(re.search(r"\[score (\d+)\]", reply).group(1))
    scores = {c: score for c in CRITERIA}
    return f"Here is my rating:\n```json\n{json.dumps(scores)}\n```"


def seed_battles(factory, votes: list[tuple[int, int, str]]) -> dict[str, int]:
    """Two contestants, one prompt per battle, replies carrying their score; `votes` = (score A, score B,
    outcome). Returns model slugs -> ids."""
    with transaction(factory) as session:
        warm = Model(slug="warm-model", display_name="Warm Model")
        brisk = Model(slug="brisk-model", display_name="Brisk Model")
        session.add_all([warm, brisk])
        session.flush()
        for i, (score_a, score_b, outcome) in enumerate(votes):
            prompt = Prompt(text=f"I feel lost, day {i}.", source="curated", content_hash=f"hash-{i}")
            session.add(prompt)
            session.flush()
            reply_a = Reply(prompt_id=prompt.id, model_id=warm.id, text=f"I'm here with you. [score {score_a}]")
            reply_b = Reply(prompt_id=prompt.id, model_id=brisk.id, text=f"Try a walk. [score {score_b}]")
            session.add_all([reply_a, reply_b])
            session.flush()
            battle = Battle(
                public_id=f"b{i}", prompt_id=prompt.id, reply_a_id=reply_a.id, reply_b_id=reply_b.id,
                model_a_id=warm.id, model_b_id=brisk.id, status="voted" if outcome else "open",
            )  # fmt: skip
            session.add(battle)
            session.flush()
            if outcome:
                session.add(Vote(battle_id=battle.id, model_a_id=warm.id, model_b_id=brisk.id, outcome=outcome))
        return {"warm-model": warm.id, "brisk-model": brisk.id}


def scores(factory, judge="judge") -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    with factory() as session:
        for row in session.scalars(select(EqScore).where(EqScore.judge == judge)):
            out.setdefault(row.reply_id, {})[row.criterion] = row.score
    return out


def judge_errors(factory) -> dict[int, JudgeError]:
    with factory() as session:
        return {e.reply_id: e for e in session.scalars(select(JudgeError))}


def add_judge(factory, server, name="judge-model", **meta):
    add_model(factory, **served(server, "judge", name, **meta), active=False)


def test_parse_scores_tolerates_fences_and_surrounding_text():
    body = {c: 5 for c in CRITERIA} | {"overall": 7.5}
    assert parse_scores(json.dumps(body))["overall"] == 7.5
    assert parse_scores(f"Sure!\n```json\n{json.dumps(body)}\n```\nHope this helps.")["attunement"] == 5
    assert parse_scores(f"```\n{json.dumps(body)}\n```")["safety"] == 5
    assert parse_scores(json.dumps(body | {"insight": "8"}))["insight"] == 8.0


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I would rate it highly.", "no JSON object"),
        ("{not json}", "does not parse"),
        (json.dumps({c: 5 for c in CRITERIA if c != "safety"}), "no numeric 'safety'"),
        (json.dumps({c: 5 for c in CRITERIA} | {"overall": 11}), "outside 0-10"),
        (json.dumps({c: 5 for c in CRITERIA} | {"insight": -1}), "outside 0-10"),
        (json.dumps({c: 5 for c in CRITERIA} | {"insight": True}), "no numeric 'insight'"),
        ("[1, 2, 3]", "no JSON object"),
    ],
)
def test_parse_scores_rejects_unusable_answers(answer, reason):
    with pytest.raises(LLMError, match=reason) as caught:
        parse_scores(answer)
    assert caught.value.kind == "bad_response"


def test_judge_scores_every_reply_once_and_never_sees_model_names(session_factory, llm_server):
    seed_battles(session_factory, [(8, 3, "model_a"), (2, 6, None)])
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = rubric_answer

    summary = judge_replies(session_factory, JudgeOptions(judge="judge", retry=FAST, concurrency=2))

    assert summary.scored == 4 and not summary.failed
    stored = scores(session_factory)
    with session_factory() as session:
        texts = dict(session.execute(select(Reply.id, Reply.text)).tuples().all())
        contestants = session.scalars(select(Model).where(Model.slug != "judge"))
        names = [n for m in contestants for n in (m.slug, m.display_name)]
    for reply_id, criteria in stored.items():
        expected = float(re.search(r"\[score (\d+)\]", texts[reply_id]).group(1))
        assert criteria == {c: expected for c in CRITERIA}
    # Each request carries the message and exactly one reply; no model is named anywhere in it.
    assert len(llm_server.requests) == 4
    for request in llm_server.requests:
        sent = json.dumps(request.messages)
        assert sum(text in request.messages[-1]["content"] for text in texts.values()) == 1
        for name in names:
            assert name.lower() not in sent.lower(), name
        assert request.stream is False

    with session_factory() as session:
        assert plan_judging(session, JudgeOptions(judge="judge")) == []
    again = judge_replies(session_factory, JudgeOptions(judge="judge", retry=FAST))
    assert again.scored == 0 and len(llm_server.requests) == 4


@pytest.mark.parametrize(
    "answer",
    ["I liked it.", json.dumps({c: 12 for c in CRITERIA}), json.dumps({"overall": 7})],
)
def test_an_unusable_answer_is_a_judge_error_and_nothing_is_half_stored(session_factory, llm_server, answer):
    seed_battles(session_factory, [(8, 3, "model_a")])
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = answer
    policy = RetryPolicy(attempts=2, base_delay=0.01, timeout=5)

    summary = judge_replies(session_factory, JudgeOptions(judge="judge", retry=policy))

    assert dict(summary.failed) == {"bad_response": 2}
    assert scores(session_factory) == {}
    errors = judge_errors(session_factory)
    assert len(errors) == 2 and all(e.error_type == "bad_response" and e.attempts == 2 for e in errors.values())

    # A judge that answers properly later scores the replies and clears the errors.
    llm_server.replies["judge-model"] = rubric_answer
    later = judge_replies(session_factory, JudgeOptions(judge="judge", retry=FAST))
    assert later.scored == 2 and judge_errors(session_factory) == {}
    assert all(len(c) == len(CRITERIA) for c in scores(session_factory).values())


@pytest.mark.parametrize(("name", "kind"), [("fail-500", "provider_error"), ("hang", "timeout")])
def test_a_failing_judge_provider_is_recorded(session_factory, llm_server, name, kind):
    seed_battles(session_factory, [(8, 3, "model_a")])
    add_judge(session_factory, llm_server, name)
    policy = RetryPolicy(attempts=1, base_delay=0.01, timeout=0.5)

    summary = judge_replies(session_factory, JudgeOptions(judge="judge", retry=policy))

    assert dict(summary.failed) == {kind: 2} and scores(session_factory) == {}
    assert {e.error_type for e in judge_errors(session_factory).values()} == {kind}


def test_agreement_compares_the_judges_preference_with_the_votes(session_factory, llm_server):
    votes = [
        (8, 3, "model_a"),  # judge A, human A: agree
        (2, 7, "model_b"),  # judge B, human B: agree
        (9, 4, "model_b"),  # judge A, human B: disagree
        (5, 5, "model_a"),  # judge tie, human A: a miss when decisive
        (6, 6, "tie"),  # judge tie, human tie: agree in the three-way view
        (3, 8, "both_bad"),  # judge B, human both bad (a tie): disagree in the three-way view
        (7, 1, None),  # not voted: left out
    ]
    seed_battles(session_factory, votes)
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = rubric_answer
    judge_replies(session_factory, JudgeOptions(judge="judge", retry=FAST))
    with transaction(session_factory) as session:
        # A vote the quality filters excluded does not count either.
        battle = session.scalar(select(Battle).where(Battle.public_id == "b0"))
        excluded = Battle(public_id="x", prompt_id=battle.prompt_id, reply_a_id=battle.reply_a_id,
                          reply_b_id=battle.reply_b_id, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id,
                          status="voted")  # fmt: skip
        session.add(excluded)
        session.flush()
        session.add(Vote(battle_id=excluded.id, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id,
                         outcome="model_b", counts_for_leaderboard=False, exclusion_reason="too_fast"))  # fmt: skip

    with session_factory() as session:
        result = judge_agreement(session, "judge", rounds=300)

    assert result["n_battles"] == 6 and result["judge_ties"] == 2
    decisive, three_way = result["decisive"], result["three_way"]
    assert decisive["n"] == 4 and decisive["accuracy"] == pytest.approx(2 / 4)
    assert three_way["n"] == 6 and three_way["accuracy"] == pytest.approx(3 / 6, abs=1e-4)
    # Labels 0 = A, 1 = B, 2 = tie, in the order above.
    judge_labels, human_labels = [0, 1, 0, 2, 2, 1], [0, 1, 1, 0, 2, 2]
    assert three_way["kappa"] == pytest.approx(cohen_kappa(judge_labels, human_labels, 3), abs=1e-4)
    assert decisive["accuracy_ci"][0] <= 0.5 <= decisive["accuracy_ci"][1]

    with session_factory() as session:
        other = judge_agreement(session, "someone-else", rounds=50)
    assert other["n_battles"] == 0 and other["decisive"]["accuracy"] is None


def test_cli_judge_then_agreement(database_url, session_factory, llm_server):
    seed_battles(session_factory, [(8, 3, "model_a"), (2, 7, "model_b"), (9, 4, "model_b")])
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = rubric_answer

    judged = run_arena("judge", "--judge-model", "judge", "--json", "--database-url", database_url)
    assert judged.returncode == 0, judged.stderr
    assert json.loads(judged.stdout) == {
        "judge": "judge", "planned": 6, "scored": 6, "failed": 0, "errors": {}, "cost_usd": 0.0,
        "unknown_cost_replies": 6,
    }  # fmt: skip
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(EqScore)) == 6 * len(CRITERIA)

    again = run_arena("judge", "--judge-model", "judge", "--database-url", database_url)
    assert again.returncode == 0 and "nothing to score" in again.stdout

    agreement = run_arena("judge", "agreement", "--judge-model", "judge", "--json", "--bootstrap", "100",
                          "--database-url", database_url)  # fmt: skip
    assert agreement.returncode == 0, agreement.stderr
    result = json.loads(agreement.stdout)
    assert result["n_battles"] == 3 and result["decisive"]["accuracy"] == pytest.approx(2 / 3, abs=1e-4)

    text = run_arena("judge", "agreement", "--judge-model", "judge", "--database-url", database_url)
    assert "decisive   n=3" in text.stdout and "accuracy 0.667" in text.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [((), "--judge-model SLUG is required"), (("--judge-model", "nobody"), "no judge model nobody")],
)
def test_cli_judge_bad_input_exits_2(database_url, args, reason):
    result = run_arena("judge", *args, "--database-url", database_url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
