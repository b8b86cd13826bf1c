"""`arena judge --conversations` against the local OpenAI-compatible server: each side of a conversation scored
per answer (in its context) and as a whole, stored as ConversationScore rows keyed by exchange; the judge never
sees a model name nor the other side; resumable and idempotent; unusable answers kept as
ConversationJudgeErrors with nothing half-stored; transcripts scored once per reply; crisis-flagged
conversations never sent (both databases)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import func, select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.llm.client import LLMError
from arena.llm.conversation_judging import (
    conversation_scores,
    judge_conversations,
    parse_conversation_scores,
    plan_conversation_judging,
)
from arena.llm.judging import CRITERIA, JudgeOptions
from arena.llm.retry import RetryPolicy
from arena.models import Battle, Conversation, ConversationJudgeError, ConversationScore, Turn, Vote
from tests.arena_cli import run_arena
from tests.llm.llm_models import add_model, served

pytest.importorskip("litellm")

FAST = RetryPolicy(attempts=1, base_delay=0.01, timeout=5)
REPLY = re.compile(r'<reply n="\d+">\n(.*?)\n</reply>', re.DOTALL)


def rubric_answer(messages) -> str:
    """A judge that scores each reply by the number in it ("[score 7]") and the conversation by their mean."""
    found = [int(re.search(r"\[score (\d+)\]", r).group(1)) for r in REPLY.findall(messages[-1]["content"])]
    turns = [{c: s for c in CRITERIA} for s in found]
    whole = {c: sum(found) / len(found) for c in CRITERIA}
    return f"```json\n{json.dumps({'turns': turns, 'conversation': whole})}\n```"


def seed(factory, *, flagged: bool = False) -> int:
    """A shared three-exchange battle (A scores 8, 6, 4; B 3, 5, 7) and a transcript battle whose sides are two
    replies' own transcripts (2 exchanges each). Returns the shared battle's id."""
    with transaction(factory) as s:
        warm, brisk = get_or_create_model(s, "warm-model")[0], get_or_create_model(s, "brisk-model")[0]
        prompt, _ = get_or_create_prompt(s, "My father is in hospital.", source="user", active=False)
        ra = get_or_create_reply(s, prompt, warm, "I'm so sorry. [score 8]")[0]
        rb = get_or_create_reply(s, prompt, brisk, "Hospitals are busy. [score 3]")[0]
        battle = Battle(public_id="shared", prompt_id=prompt.id, reply_a_id=ra.id, reply_b_id=rb.id,
                        model_a_id=warm.id, model_b_id=brisk.id, status="voted")  # fmt: skip
        s.add(battle)
        s.flush()
        conversation = Conversation(battle_id=battle.id, mode="shared")
        exchanges = [("My father is in hospital.", ra.text, rb.text),
                     ("They say it is his heart.", "That is frightening. [score 6]", "Hearts heal. [score 5]"),
                     ("I can't stop shaking.", "Breathe with me. [score 4]",
                      "Shaking is normal. [score 7]")]  # fmt: skip
        for k, (user, a, b) in enumerate(exchanges):
            meta = {"moderation_flags": ["crisis"]} if flagged and k == 2 else {}
            conversation.turns += [
                Turn(idx=k, side="both", role="user", content=user, author="visitor", meta=meta),
                Turn(idx=k, side="a", role="assistant", content=a, author="model", model_id=warm.id),
                Turn(idx=k, side="b", role="assistant", content=b, author="model", model_id=brisk.id),
            ]
        s.add(conversation)
        # A transcript battle: each reply opens its own transcript with its own simulated person.
        tp, _ = get_or_create_prompt(s, "I didn't get into the course.", source="imported", active=False)
        ta = get_or_create_reply(s, tp, warm, "That's disappointing. [score 9]")[0]
        tb = get_or_create_reply(s, tp, brisk, "Apply again. [score 2]")[0]
        transcript = Battle(public_id="transcript", prompt_id=tp.id, reply_a_id=ta.id, reply_b_id=tb.id,
                            model_a_id=warm.id, model_b_id=brisk.id, status="voted")  # fmt: skip
        s.add(transcript)
        s.flush()
        s.add(Conversation(battle_id=transcript.id, mode="transcript", scenario="sc-1"))
        for reply, model, later in ((ta, warm, "Thanks. [score 7]"), (tb, brisk, "Whatever. [score 1]")):
            own = Conversation(reply_id=reply.id, mode="transcript", scenario="sc-1")
            own.turns = [
                Turn(idx=0, side="own", role="user", content=tp.text, author="persona"),
                Turn(idx=0, side="own", role="assistant", content=reply.text, author="model", model_id=model.id),
                Turn(idx=1, side="own", role="user", content=f"I worked so hard ({model.id}).", author="persona"),
                Turn(idx=1, side="own", role="assistant", content=later, author="model", model_id=model.id),
            ]
            s.add(own)
        return battle.id


def add_judge(factory, server, name="judge-model"):
    add_model(factory, **served(server, "judge", name), active=False)


def test_parse_conversation_scores_needs_one_rubric_per_reply():
    good = {"turns": [{c: 5 for c in CRITERIA}] * 2, "conversation": {c: 6 for c in CRITERIA}}
    per_turn, whole = parse_conversation_scores(f"Sure:\n```json\n{json.dumps(good)}\n```", 2)
    assert [t["overall"] for t in per_turn] == [5.0, 5.0] and whole["insight"] == 6.0
    with pytest.raises(LLMError, match="gave 2 turn scores for 3 replies"):
        parse_conversation_scores(json.dumps(good), 3)
    with pytest.raises(LLMError, match="turn 2's 'safety'"):
        bad = {**good, "turns": [{c: 5 for c in CRITERIA}, {c: 5 for c in CRITERIA if c != "safety"}]}
        parse_conversation_scores(json.dumps(bad), 2)
    with pytest.raises(LLMError, match="conversation scores are not an object"):
        parse_conversation_scores(json.dumps({"turns": good["turns"]}), 2)


def test_each_side_is_scored_per_turn_and_whole_once(session_factory, llm_server):
    battle_id = seed(session_factory)
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = rubric_answer

    summary = judge_conversations(session_factory, JudgeOptions(judge="judge", retry=FAST, concurrency=2))

    # Two sides of the shared conversation and the two transcripts (once each, whichever battles pair them).
    assert summary.scored == 4 and not summary.failed
    with session_factory() as s:
        battle = s.get(Battle, battle_id)
        a, b = (conversation_scores(s, battle, side, "judge") for side in ("a", "b"))
        assert {k: v["overall"] for k, v in a["turns"].items()} == {0: 8.0, 1: 6.0, 2: 4.0}
        assert {k: v["overall"] for k, v in b["turns"].items()} == {0: 3.0, 1: 5.0, 2: 7.0}
        assert a["conversation"] == {c: 6.0 for c in CRITERIA} and set(a["turns"][2]) == set(CRITERIA)
        # A later turn's score, read straight from the table: the third answer of side B.
        third = s.scalar(
            select(ConversationScore.score).where(
                ConversationScore.conversation_id == battle.conversation.id, ConversationScore.side == "b",
                ConversationScore.judge == "judge", ConversationScore.scope == "turn",
                ConversationScore.exchange == 2, ConversationScore.criterion == "overall",
            )
        )  # fmt: skip
        assert third == 7.0
        transcript = s.scalar(select(Battle).where(Battle.public_id == "transcript"))
        assert conversation_scores(s, transcript, "a", "judge")["turns"] == {
            0: {c: 9.0 for c in CRITERIA}, 1: {c: 7.0 for c in CRITERIA}
        }  # fmt: skip
        assert conversation_scores(s, transcript, "b", "judge")["conversation"]["overall"] == 1.5
    # Each request carries one side only (its own answers and its own person), and no model name.
    requests = llm_server.requests_for("judge-model")
    assert len(requests) == 4
    for request in requests:
        sent = request.messages[-1]["content"]
        assert not ("I'm so sorry" in sent and "Hospitals are busy" in sent)
        assert "warm" not in json.dumps(request.messages) and "brisk" not in json.dumps(request.messages)
    shared = next(r for r in requests if "Breathe with me" in r.messages[-1]["content"])
    assert shared.messages[-1]["content"].count("<person>") == 3 and "Shaking is normal" not in str(shared.messages)

    # Resumable: nothing left to plan, and a second run sends nothing.
    with session_factory() as s:
        assert plan_conversation_judging(s, JudgeOptions(judge="judge")) == []
    assert judge_conversations(session_factory, JudgeOptions(judge="judge", retry=FAST)).scored == 0
    assert len(llm_server.requests_for("judge-model")) == 4


def test_an_unusable_answer_is_kept_as_an_error_and_nothing_is_half_stored(session_factory, llm_server):
    seed(session_factory)
    add_judge(session_factory, llm_server)
    # One rubric too few for every side: unusable.
    llm_server.replies["judge-model"] = json.dumps({"turns": [{c: 5 for c in CRITERIA}], "conversation": {}})
    policy = RetryPolicy(attempts=2, base_delay=0.01, timeout=5)

    summary = judge_conversations(session_factory, JudgeOptions(judge="judge", retry=policy))

    assert dict(summary.failed) == {"bad_response": 4}
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ConversationScore)) == 0
        errors = s.scalars(select(ConversationJudgeError)).all()
        assert len(errors) == 4 and all(e.attempts == 2 and "turn scores" in e.message for e in errors)
    llm_server.replies["judge-model"] = rubric_answer
    assert judge_conversations(session_factory, JudgeOptions(judge="judge", retry=FAST)).scored == 4
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ConversationJudgeError)) == 0
        # 3 + 3 answers of the shared sides, 2 + 2 of the transcripts, one whole-conversation rubric each.
        assert s.scalar(select(func.count()).select_from(ConversationScore)) == (3 + 3 + 2 + 2 + 4) * len(CRITERIA)


def test_a_conversation_flagged_crisis_is_never_sent(session_factory, llm_server):
    seed(session_factory, flagged=True)
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = rubric_answer
    summary = judge_conversations(session_factory, JudgeOptions(judge="judge", retry=FAST))
    assert summary.scored == 2  # the two transcripts only
    assert all("I can't stop shaking" not in r.messages[-1]["content"] for r in llm_server.requests)


def test_cli_judge_conversations(database_url, session_factory, llm_server):
    seed(session_factory)
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = rubric_answer
    args = ("judge", "--judge-model", "judge", "--conversations", "--database-url", database_url)
    judged = run_arena(*args, "--models", "warm-model", "--json")
    assert judged.returncode == 0, judged.stderr
    result = json.loads(judged.stdout)
    assert (result["planned"], result["scored"], result["failed"]) == (2, 2, 0)  # warm's shared side and transcript
    rest = run_arena(*args)
    assert rest.returncode == 0 and "judge: 2 conversation sides scored" in rest.stdout, rest.stdout
    again = run_arena(*args)
    assert "nothing to score: every conversation side has its scores" in again.stdout
    bad = run_arena(*args, "--models", "nobody")
    assert bad.returncode == 2 and "no model nobody" in bad.stderr


def test_the_export_carries_each_sides_conversation_scores(database_url, session_factory, llm_server, tmp_path):
    seed(session_factory)
    with transaction(session_factory) as s:
        for battle in s.scalars(select(Battle)):
            s.add(Vote(battle_id=battle.id, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id,
                       outcome="model_a", turns=3 if battle.public_id == "shared" else 2))  # fmt: skip
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = rubric_answer
    judge_conversations(session_factory, JudgeOptions(judge="judge", retry=FAST))
    out = tmp_path / "export"
    assert run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", database_url).returncode == 0
    rows = {r["question_id"]: r for r in map(json.loads, (out / "battles.jsonl").read_text().splitlines())}
    shared = rows["shared"]["eq_conversation_b"]["judge"]
    assert [t["exchange"] for t in shared["turns"]] == [0, 1, 2]
    assert [t["overall"] for t in shared["turns"]] == [3.0, 5.0, 7.0] and shared["conversation"]["overall"] == 5.0
    # A transcript battle's sides carry their replies' transcript scores.
    assert rows["transcript"]["eq_conversation_a"]["judge"]["conversation"]["overall"] == 8.0
    # An import of the export keeps them with the battle, and the next export gives them back.
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    assert run_arena("init-db", "--database-url", fresh).returncode == 0
    assert run_arena("import", "votes", str(out / "battles.jsonl"), "--database-url", fresh).returncode == 0
    again = tmp_path / "again"
    assert run_arena("export", "--format", "jsonl", "--out", str(again), "--database-url", fresh).returncode == 0
    back = {r["question_id"]: r for r in map(json.loads, (again / "battles.jsonl").read_text().splitlines())}
    assert back["shared"]["eq_conversation_b"] == rows["shared"]["eq_conversation_b"]
