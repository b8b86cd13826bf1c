"""Jobs (arena/queue/job_runs.py, schedule.py; arena/jobs/recompute_lock.py): a recompute job stores a run and its vote
watermark, the schedule queues one by votes and by time, one recompute at a time, failed attempts retried and
recorded, the demo's board appearing by itself, and `arena jobs enqueue|list` with `arena worker` on the
database queue (no Redis). The RQ worker, killed mid-job, is in test_rq_worker.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from arena import create_app
from arena.db import make_engine, make_session_factory
from arena.jobs.recompute_lock import recompute_lock
from arena.models import JobRun, RatingRun, Vote, utcnow
from arena.queue import job_runs, tasks
from arena.queue.schedule import recompute_due
from tests.arena_cli import run_arena
from tests.conftest import make_settings
from tests.jobs.test_export import vote_on_demo


def job(factory, job_id: int) -> JobRun:
    with factory() as session:
        return session.get(JobRun, job_id)


@pytest.fixture
def votes(client, demo_loaded, session_factory):
    vote_on_demo(client, session_factory, 12)
    return session_factory


def test_a_recompute_job_stores_a_run_and_the_votes_it_saw(votes, app_settings):
    engine = votes.kw["bind"]
    job_id = job_runs.create(votes, "recompute", {"bootstrap": 20})
    assert job_runs.run_attempt(engine, job_id, app_settings) == "succeeded"
    row = job(votes, job_id)
    with votes() as session:
        newest = session.scalar(select(func.max(Vote.id)))
        assert session.get(RatingRun, row.result["rating_run_id"]).n_votes == 12
    assert (row.status, row.attempts, row.errors, row.result["vote_watermark"]) == ("succeeded", 1, [], newest)
    assert row.started_at <= row.finished_at
    # A second delivery of a finished job runs nothing.
    assert job_runs.run_attempt(engine, job_id, app_settings) is None


def test_a_recompute_refuses_while_another_holds_the_lock_and_the_command_waits(votes, app_settings, database_url):
    engine = make_engine(database_url)
    held, release = threading.Event(), threading.Event()

    def other_recompute():
        with recompute_lock(engine, wait=False):
            held.set()
            release.wait(30)

    other = threading.Thread(target=other_recompute)
    other.start()
    assert held.wait(10)
    try:
        job_id = job_runs.create(votes, "recompute", {"bootstrap": 20})
        assert job_runs.run_attempt(engine, job_id, app_settings) == "skipped"
        assert job(votes, job_id).result == {"skipped": "another recompute is running"}
        # The command waits for the lock rather than refusing.
        command = subprocess.Popen(
            [sys.executable, "-m", "arena.cli", "ratings", "recompute", "--bootstrap", "20", "--json",
             "--database-url", database_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(2.5)
        assert command.poll() is None, command.communicate()
    finally:
        release.set()
        other.join(10)
    out, err = command.communicate(timeout=120)
    assert command.returncode == 0, err
    assert json.loads(out)["n_votes"] == 12
    # Two jobs at once, on two threads: never two recomputes; each either ran or refused.
    ids = [job_runs.create(votes, "recompute", {"bootstrap": 400}) for _ in range(2)]
    outcomes = []
    threads = [threading.Thread(target=lambda j=j: outcomes.append(job_runs.run_attempt(engine, j, app_settings)))
               for j in ids]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(outcomes) in (["skipped", "succeeded"], ["succeeded", "succeeded"])
    engine.dispose()


def test_failed_attempts_are_retried_and_each_error_kept(votes, app_settings, monkeypatch):
    engine = votes.kw["bind"]
    calls = []
    real = tasks._TASKS["recompute"]

    def flaky(*args):
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("provider went away")
        return real(*args)

    monkeypatch.setitem(tasks._TASKS, "recompute", flaky)
    job_id = job_runs.create(votes, "recompute", {"bootstrap": 20}, max_attempts=2)
    assert job_runs.run_attempt(engine, job_id, app_settings) == "retry"
    assert job(votes, job_id).status == "queued"
    assert job_runs.run_attempt(engine, job_id, app_settings) == "succeeded"
    row = job(votes, job_id)
    assert (row.attempts, len(row.errors), row.errors[0]["attempt"]) == (2, 1, 1)
    assert "ConnectionError: provider went away" in row.errors[0]["error"]
    # No attempt left: failed, with both errors.
    monkeypatch.setitem(tasks._TASKS, "recompute", lambda *a: 1 / 0)
    job_id = job_runs.create(votes, "recompute", {}, max_attempts=2)
    assert [job_runs.run_attempt(engine, job_id, app_settings) for _ in range(3)] == ["retry", "failed", None]
    row = job(votes, job_id)
    assert (row.status, row.attempts, len(row.errors)) == ("failed", 2, 2)


def test_the_schedule_queues_by_votes_and_by_time(votes, app_settings):
    engine = votes.kw["bind"]
    by_votes = make_settings(app_settings.database_url, recompute_every_votes=12, recompute_every_seconds=0)
    with votes() as session:
        assert recompute_due(session, by_votes) == "votes"
        assert recompute_due(session, make_settings(app_settings.database_url, recompute_every_votes=13,
                                                    recompute_every_seconds=0)) is None  # fmt: skip
    job_id = job_runs.create(votes, "recompute", {"bootstrap": 20}, unless_pending=True)
    # One pending is enough: no second is queued, and none is due while it waits.
    assert job_runs.create(votes, "recompute", {}, unless_pending=True) is None
    with votes() as session:
        assert recompute_due(session, by_votes) is None
    job_runs.run_attempt(engine, job_id, app_settings)
    by_time = make_settings(app_settings.database_url, recompute_every_votes=0, recompute_every_seconds=60)
    with votes() as session:
        # Nothing new since the run's watermark: never due.
        assert recompute_due(session, by_votes) is None
        assert recompute_due(session, by_time, utcnow() + timedelta(hours=1)) is None
    from tests.jobs.test_export import vote_on_demo as more

    client = create_app(app_settings).test_client()
    more(client, votes, 1, seed=9)
    with votes() as session:
        assert recompute_due(session, by_votes) is None  # one vote, not twelve
        assert recompute_due(session, by_time) is None  # the run just finished
        assert recompute_due(session, by_time, utcnow() + timedelta(seconds=61)) == "time"


def test_the_demo_board_appears_by_itself_after_ten_votes(demo_loaded, session_factory, database_url):
    # The demo's own scheduler (a thread, inline jobs, no Redis): ten votes, then only waiting.
    settings = make_settings(database_url, jobs="inline", recompute_every_votes=10, recompute_every_seconds=0,
                             recompute_rounds=50)  # fmt: skip
    app = create_app(settings)
    try:
        client = app.test_client()
        assert b'class="ratings"' not in client.get("/leaderboard").data
        vote_on_demo(client, session_factory, 9)
        time.sleep(1.5)
        assert b'class="ratings"' not in client.get("/leaderboard").data  # nine votes: not yet
        vote_on_demo(client, session_factory, 1, seed=2)
        voted_at = time.monotonic()
        while b'class="ratings"' not in client.get("/leaderboard").data:
            assert time.monotonic() - voted_at < 60, "no leaderboard within a minute of the tenth vote"
            time.sleep(0.25)
        shown_after = time.monotonic() - voted_at
        # The board is readable once the run commits; the job's own row is marked a moment later.
        deadline = time.monotonic() + 10
        while True:
            with session_factory() as session:
                (row,) = session.scalars(select(JobRun)).all()
            if row.status != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert (row.kind, row.reason, row.status) == ("recompute", "votes", "succeeded")
        print(f"board shown {shown_after:.1f} s after the tenth vote")
    finally:
        app.extensions["arena.jobs"].stop()
        app.extensions["arena.engine"].dispose()


def test_enqueue_list_and_the_database_worker(votes, database_url, tmp_path):
    env = {"ARENA_REDIS_URL": "", "ARENA_JOBS": ""}
    out = tmp_path / "export"
    queued = run_arena("jobs", "enqueue", "export", "--out", str(out), "--json", "--database-url", database_url,
                       env=env)  # fmt: skip
    assert queued.returncode == 0, queued.stderr
    assert json.loads(queued.stdout)["queue"] == "database"
    bad = run_arena("jobs", "enqueue", "judge", "--database-url", database_url, env=env)
    assert bad.returncode == 2 and "--judge-model" in bad.stderr
    worked = run_arena("worker", "--burst", "--no-schedule", "--database-url", database_url, env=env)
    assert worked.returncode == 0, worked.stderr
    listed = json.loads(run_arena("jobs", "list", "--json", "--database-url", database_url, env=env).stdout)["jobs"]
    (export_job,) = listed
    assert (export_job["kind"], export_job["status"], export_job["attempts"]) == ("export", "succeeded", 1)
    assert export_job["result"]["battles"] == 12 and (out / "battles.jsonl").exists()
    text = run_arena("jobs", "list", "--database-url", database_url, env=env).stdout
    assert "export" in text and "succeeded" in text and "1/3" in text


def test_a_job_left_running_by_a_dead_process_is_queued_again(votes, app_settings):
    job_id = job_runs.create(votes, "recompute", {"bootstrap": 20})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with votes() as session, session.begin():
        row = session.get(JobRun, job_id)
        row.status, row.attempts, row.worker = "running", 1, f"{os.uname().nodename}:{dead.pid}"
    assert job_runs.requeue_lost_here(make_session_factory(votes.kw["bind"])) == 1
    assert job_runs.run_attempt(votes.kw["bind"], job_id, app_settings) == "succeeded"
    row = job(votes, job_id)
    assert row.attempts == 2 and row.errors[0]["error"].startswith("lost: worker")


def test_two_pollers_never_both_claim_a_queued_job(votes, app_settings):
    # Two drains of the database queue (two site processes with inline jobs) reach the same queued job.
    job_id = job_runs.create(votes, "recompute", {"bootstrap": 20})
    first = job_runs.begin_attempt(votes, job_id, redelivered=False)
    assert first is not None and first.attempt == 1
    assert job_runs.begin_attempt(votes, job_id, redelivered=False) is None
    assert job(votes, job_id).errors == []  # the second did not take the first for lost


def test_job_settings_are_checked(monkeypatch):
    from arena.config import ConfigError, Settings

    monkeypatch.delenv("ARENA_JOBS", raising=False)
    monkeypatch.setenv("ARENA_REDIS_URL", "redis://127.0.0.1:6379/0")
    assert Settings.from_env().jobs == "queue"
    monkeypatch.delenv("ARENA_REDIS_URL")
    assert Settings.from_env().jobs == "off"
    for name, value, reason in (("ARENA_JOBS", "queue", "needs ARENA_REDIS_URL"), ("ARENA_JOBS", "cron", "queue, "),
                                ("ARENA_RECOMPUTE_EVERY_VOTES", "-1", r"0 \(off\)"),
                                ("ARENA_RECOMPUTE_BOOTSTRAP", "1", "2 to 100000")):  # fmt: skip
        with monkeypatch.context() as env:
            env.setenv(name, value)
            with pytest.raises(ConfigError, match=reason):
                Settings.from_env(secret_key="x" * 40).validated()
    bad = run_arena("worker", "--burst", env={"ARENA_JOBS": "queue", "ARENA_REDIS_URL": ""})
    assert bad.returncode == 2 and "needs ARENA_REDIS_URL" in bad.stderr
