"""`arena export`: LMArena-schema battles, ratings, analysis and a dataset card; a round trip reproduces the
ratings exactly."""

from __future__ import annotations

import csv
import json
import os
import random
import secrets
import subprocess
import sys

import pytest
from sqlalchemy import select, update

from arena.db import make_engine, make_session_factory, transaction
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.migrate import upgrade
from arena.models import Battle, Model, Prompt, TermsAcceptance, Vote
from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page
from tests.votes_files import write_jsonl

PREFERENCE = {"Warm Listener": 3.0, "Structured Guide": 2.5, "Curious Coach": 2.0, "The Fixer": 1.5, "Brief": 0.8,
              "Cheerleader": 0.6}  # fmt: skip
# The site's secret, which keys the public export's voter pseudonyms (a strong one: the CLI checks it as a site).
SITE_SECRET = {"ARENA_SECRET_KEY": secrets.token_urlsafe(32)}


def vote_on_demo(client, session_factory, n: int, seed: int = 1) -> None:
    from sqlalchemy import select

    from arena.models import Battle

    rng = random.Random(seed)
    for _ in range(n):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        with session_factory() as s:
            battle = s.scalars(select(Battle).order_by(Battle.id.desc())).first()
            a = PREFERENCE[battle.model_a.display_name.split(" (")[0]]
            b = PREFERENCE[battle.model_b.display_name.split(" (")[0]]
        outcome = "tie" if rng.random() < 0.15 else ("model_a" if rng.random() < a / (a + b) else "model_b")
        response = client.post(action, data={"outcome": outcome, "csrf_token": csrf})
        assert response.status_code in (200, 303), response.get_data(as_text=True)[:300]


@pytest.fixture
def voted(client, demo_loaded, session_factory, database_url, tmp_path):
    vote_on_demo(client, session_factory, 150)
    with transaction(session_factory) as s:  # a few excluded votes must stay excluded after the round trip
        s.execute(update(Vote).where(Vote.id <= 10).values(counts_for_leaderboard=False, exclusion_reason="test"))
    extra = [
        {"question_id": f"imp-{k}", "model_a": "demo-brief", "model_b": "outsider", "winner": "model_b",
         "eq_a": {"overall": 4}, "eq_b": {"overall": 8}, "tstamp": 1_700_000_000 + k}
        for k in range(20)
    ]  # fmt: skip
    assert (
        run_arena(
            "import", "votes", str(write_jsonl(tmp_path / "x.jsonl", extra)), "--database-url", database_url
        ).returncode
        == 0
    )
    return database_url


def ratings_of(database_url: str) -> dict:
    """Every category's ratings from a fresh recompute with a fixed seed: {category: {slug: figures}}."""
    engine = make_engine(database_url)
    try:
        result = recompute(make_session_factory(engine), make_session_factory(engine, read_only=True),
                           RecomputeRequest(rounds=200, seed=9))  # fmt: skip
        with make_session_factory(engine)() as s:
            slugs = dict(s.execute(select(Model.id, Model.slug)).all())
    finally:
        engine.dispose()
    return {
        r.category: {
            slugs[m]: (r.board.rating[k], r.board.ci_low[k], r.board.ci_high[k], r.board.rank_ub[k], r.board.battles[k])
            for k, m in enumerate(r.model_ids)
        }
        for r in result.results
    }


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_round_trip_reproduces_the_ratings(voted, tmp_path, fmt):
    before = ratings_of(voted)
    out = tmp_path / "export"
    result = run_arena("export", "--format", fmt, "--out", str(out), "--database-url", voted)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"battles.{fmt}", "ratings.csv", "models.csv", "analysis.json", "kaggle55k.csv", "README.md"]
    )
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    engine = make_engine(fresh)
    upgrade(engine)
    engine.dispose()
    imported = run_arena("import", "votes", str(out / f"battles.{fmt}"), "--database-url", fresh)
    assert imported.returncode == 0, imported.stderr
    assert "170 imported" in imported.stdout
    after = ratings_of(fresh)
    assert len(before) > 2 and after == before  # every category, every figure, to the last digit
    with (out / "ratings.csv").open(encoding="utf-8") as handle:
        overall = [r for r in csv.DictReader(handle) if r["category"] == "overall"]
    assert overall and all(
        float(r["both_bad_low"]) <= float(r["both_bad_share"]) <= float(r["both_bad_high"]) and r["component"] == "0"
        for r in overall
    )


def test_battle_rows_follow_the_lmarena_schema(voted, tmp_path, session_factory):
    out = tmp_path / "export"
    run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", voted)
    rows = [json.loads(line) for line in (out / "battles.jsonl").read_text().splitlines()]
    assert len(rows) == 170
    arena_row = next(r for r in rows if r["prompt_id"] is not None)
    assert arena_row["winner"] in {"model_a", "model_b", "tie", "tie (bothbad)"}
    assert arena_row["conversation_a"][0]["role"] == "user" and arena_row["conversation_a"][1]["role"] == "assistant"
    assert arena_row["conversation_a"][0]["content"] == arena_row["conversation_b"][0]["content"]
    meta = arena_row["conv_metadata"]
    assert {"sum_user_tokens", "sum_assistant_a_tokens", "header_count_a", "list_count_b", "bold_count_a"} <= set(meta)
    assert arena_row["category_tag"]["emotion_v0.1"]["categories"]
    assert 0 < arena_row["sampling_prob"] <= 1 and len(arena_row["judge_hash"]) == 32
    assert sum(not r["counts_for_leaderboard"] for r in rows) == 10
    assert all(r["exclusion_reason"] == "test" for r in rows if not r["counts_for_leaderboard"])
    imported = next(r for r in rows if r["question_id"] == "imp-0")
    assert imported["eq_a"] == {"overall": 4} and imported["eq_b"] == {"overall": 8}
    kaggle = list(csv.DictReader((out / "kaggle55k.csv").open()))
    assert len(kaggle) == 170
    for row, battle in zip(kaggle, rows, strict=True):
        one_hot = (int(row["winner_model_a"]), int(row["winner_model_b"]), int(row["winner_tie"]))
        assert sum(one_hot) == 1
        assert one_hot[0] == (battle["winner"] == "model_a") and one_hot[2] == battle["winner"].startswith("tie")
    card = (out / "README.md").read_text()
    assert "170" in card and "judge_hash" in card and "keyed hash" in card


def test_public_export_leaves_out_flagged_messages(voted, tmp_path, session_factory):
    with transaction(session_factory) as s:
        flagged = s.scalars(
            update(Prompt).where(Prompt.id <= 5).values(moderation_flags=["crisis"]).returning(Prompt.id)
        ).all()
    out = tmp_path / "public"
    result = run_arena("export", "--format", "jsonl", "--public", "--out", str(out), "--database-url", voted,
                       env=SITE_SECRET)  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "battles.jsonl").read_text().splitlines()]
    assert rows and all(r["prompt_id"] not in flagged for r in rows)
    left_out = 170 - len(rows)
    assert f"{left_out} private battles left out" in result.stdout
    assert "left out" in (out / "README.md").read_text()


def test_public_pseudonyms_are_stable_and_no_stored_key(voted, app, tmp_path, session_factory):
    for seed in (2, 3):  # two more voters, each in their own browser
        vote_on_demo(app.test_client(), session_factory, 4, seed=seed)

    def public_export(name: str) -> list[dict]:
        out = tmp_path / name
        result = run_arena("export", "--format", "jsonl", "--public", "--out", str(out), "--database-url", voted,
                           env=SITE_SECRET)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in (out / "battles.jsonl").read_text().splitlines()]

    first, second = public_export("one"), public_export("two")
    with session_factory() as s:
        judge_of = dict(s.execute(select(Battle.public_id, Battle.judge_key)).tuples().all())
        stored_keys = {k for k in judge_of.values() if k}
        stored_keys |= set(s.scalars(select(Vote.voter_key).where(Vote.voter_key.is_not(None))))
        stored_keys |= set(s.scalars(select(TermsAcceptance.visitor_key)))
    pseudonyms = {r["judge_hash"] for r in first if r["judge_hash"]}
    assert len(stored_keys) == len(pseudonyms) == 3
    assert not pseudonyms & stored_keys
    assert not any(key.startswith(p) or p in key for p in pseudonyms for key in stored_keys)
    # One voter, one pseudonym, in both exports: the pseudonyms partition the battles exactly as the stored keys do.
    assert [r["judge_hash"] for r in first] == [r["judge_hash"] for r in second]
    pairs = {(judge_of[r["question_id"]], r["judge_hash"]) for r in first if judge_of[r["question_id"]]}
    assert len(pairs) == len({k for k, _ in pairs}) == len({p for _, p in pairs})
    # Under another secret the pseudonyms change: they are keyed, not a fixed function of the key.
    other = run_arena("export", "--format", "jsonl", "--public", "--out", str(tmp_path / "other"), "--database-url",
                      voted, env={"ARENA_SECRET_KEY": secrets.token_urlsafe(32)})  # fmt: skip
    assert other.returncode == 0, other.stderr
    rows = [json.loads(line) for line in (tmp_path / "other" / "battles.jsonl").read_text().splitlines()]
    assert not {r["judge_hash"] for r in rows if r["judge_hash"]} & pseudonyms
    assert "public pseudonym" in (tmp_path / "one" / "README.md").read_text()

    # A deletion request quoting a pseudonym is refused with the reason, and deletes nothing.
    votes_before = len(first)
    refused = run_arena("privacy", "delete", "--visitor-key", next(iter(pseudonyms)), "--database-url", voted)
    assert refused.returncode == 2 and "pseudonym" in refused.stderr and "/privacy" in refused.stderr
    with session_factory() as s:
        assert len(s.scalars(select(Vote.id)).all()) >= votes_before


def test_a_public_export_without_the_site_secret_is_refused(voted, tmp_path):
    out = tmp_path / "nosecret"
    env = {k: v for k, v in os.environ.items() if k != "ARENA_SECRET_KEY"}
    command = [sys.executable, "-m", "arena.cli", "export", "--format", "jsonl", "--public", "--out", str(out),
               "--database-url", voted]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "ARENA_SECRET_KEY" in lines[0], result.stderr
    assert not out.exists()


def test_export_refuses_a_file_as_directory(voted, tmp_path):
    target = tmp_path / "afile"
    target.write_text("x")
    result = run_arena("export", "--out", str(target), "--database-url", voted)
    assert result.returncode == 2 and "not a directory" in result.stderr


def test_export_never_writes_through_a_symlink(database_url, tmp_path):
    from tests.arena_cli import run_arena

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").symlink_to(victim)
    result = run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", database_url)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "symbolic link" in lines[0], result.stderr
    assert victim.read_text() == "keep me\n"
    (out / "README.md").unlink()
    (out / "battles.jsonl.partial").symlink_to(victim)
    assert run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", database_url).returncode == 2
    assert victim.read_text() == "keep me\n"
