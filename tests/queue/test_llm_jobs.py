"""Generation and judging as queued jobs (arena/queue/tasks.py): the same services as `arena generate` and
`arena judge`, against the local OpenAI-compatible server, recorded in their job_run rows; a judge job naming no
registered judge fails at once, without retries."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from arena.models import EqScore, JobRun, Reply
from arena.queue import job_runs
from tests.conftest import make_settings
from tests.llm.llm_models import add_model, add_prompts, served
from tests.llm.test_judge import add_judge, rubric_answer

pytest.importorskip("litellm")


def test_generate_then_judge_jobs_store_replies_and_scores(session_factory, llm_server, database_url):
    settings = make_settings(database_url)
    engine = session_factory.kw["bind"]
    add_prompts(session_factory, ["My dog died this morning.", "I failed my exam again."])
    add_model(session_factory, **served(llm_server, "warm"))
    add_model(session_factory, **served(llm_server, "coach"))
    generate = job_runs.create(session_factory, "generate", {"concurrency": 2, "timeout": 10.0})
    assert job_runs.run_attempt(engine, generate, settings) == "succeeded"
    with session_factory() as session:
        row = session.get(JobRun, generate)
        assert row.result["generated"] == 4 == session.scalar(select(func.count()).select_from(Reply))
    add_judge(session_factory, llm_server)
    llm_server.replies["judge-model"] = lambda messages: rubric_answer(
        [{"content": messages[-1]["content"].replace("</reply>", " [score 6]\n</reply>", 1)}])  # fmt: skip
    judge = job_runs.create(session_factory, "judge", {"judge_model": "judge", "timeout": 10.0})
    assert job_runs.run_attempt(engine, judge, settings) == "succeeded"
    with session_factory() as session:
        row = session.get(JobRun, judge)
        assert (row.result["planned"], row.result["scored"], row.attempts) == (4, 4, 1)
        assert session.scalar(select(func.count(EqScore.reply_id.distinct()))) == 4
    unknown = job_runs.create(session_factory, "judge", {"judge_model": "nobody"})
    assert job_runs.run_attempt(engine, unknown, settings) == "failed"
    with session_factory() as session:
        row = session.get(JobRun, unknown)
        assert row.attempts == 1 and "no judge model nobody" in row.errors[0]["error"]
