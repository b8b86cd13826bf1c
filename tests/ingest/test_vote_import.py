"""`arena import votes`: the LMArena battle schema in JSONL, CSV and Parquet; all or nothing; idempotent."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import func, inspect, select

from arena.ingest.vote_import import BATCH
from arena.models import Battle, Conversation, Model, Prompt, Turn, Vote
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.votes_files import battle_records, write_csv, write_jsonl, write_parquet

NAMES = ["alpha", "bravo", "charlie", "delta"]

FULL_RECORD = {
    "question_id": "full-1",
    "model_a": "gpt-x",
    "model_b": "claude-y",
    "winner": "model_b",
    "judge_hash": "abc123",
    "tstamp": 1_710_000_000.5,
    "language": "English",
    "turn": 1,
    "anony": True,
    "conversation_a": [{"role": "user", "content": "My dog died today."}, {"role": "assistant", "content": "Sorry."}],
    "conversation_b": [{"role": "user", "content": "My dog died today."}, {"role": "assistant", "content": "Oh no."}],
    "conv_metadata": {"sum_assistant_a_tokens": 2, "sum_assistant_b_tokens": 3, "header_count_a": {"h1": 0}},
    "category_tag": {"emotion_v0.1": {"categories": [{"name": "Sadness", "intensity": 2}]}, "if_v0.1": {"if": False}},
    "eq_a": {"overall": 6.5},
    "eq_b": 8,
}


def snapshot(session_factory) -> tuple:
    """Everything an import may touch, to prove a failed one changed nothing."""
    with session_factory() as s:
        return (
            s.scalars(select(Model.slug).order_by(Model.slug)).all(),
            s.execute(select(Battle.public_id, Battle.model_a_id, Battle.model_b_id).order_by(Battle.id)).all(),
            s.execute(select(Vote.battle_id, Vote.outcome).order_by(Vote.id)).all(),
            s.scalar(select(func.count()).select_from(Prompt)),
        )


@pytest.fixture
def battles():
    rng = np.random.default_rng(11)
    return simulate(true_strengths(len(NAMES), rng), 600, rng, n_voters=50)


def test_full_record_is_kept(database_url, session_factory, tmp_path):
    path = write_jsonl(tmp_path / "one.jsonl", [FULL_RECORD])
    result = run_arena("import", "votes", str(path), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    assert "1 imported, 0 already present, 2 new models" in result.stdout
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        assert (battle.public_id, battle.source, battle.status) == ("full-1", "import", "voted")
        assert (battle.model_a.slug, battle.model_b.slug, battle.vote.outcome) == ("gpt-x", "claude-y", "model_b")
        assert battle.judge_key == "abc123" and battle.language == "English"
        assert battle.created_at == datetime.fromtimestamp(1_710_000_000.5, UTC)
        assert battle.vote.created_at == battle.created_at
        for field in ("conversation_a", "conversation_b", "conv_metadata", "category_tag", "turn", "anony"):
            assert battle.meta[field] == FULL_RECORD[field]
        assert battle.meta["eq_a"] == {"overall": 6.5} and battle.meta["eq_b"] == {"overall": 8}
        assert battle.prompt.text == "My dog died today." and battle.prompt.source == "imported"
        assert not battle.prompt.active  # never drawn for live battles
        assert [(e.category, e.intensity) for e in battle.prompt.emotions] == [("Sadness", 2)]


@pytest.mark.parametrize("writer", [write_jsonl, write_csv, write_parquet])
def test_formats_import_the_same_battles(database_url, session_factory, tmp_path, battles, writer):
    suffix = {write_jsonl: "jsonl", write_csv: "csv", write_parquet: "parquet"}[writer]
    path = writer(tmp_path / f"votes.{suffix}", [*battle_records(battles, NAMES), FULL_RECORD])
    result = run_arena("import", "votes", str(path), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    with session_factory() as s:
        rows = s.execute(
            select(Battle.public_id, Vote.outcome).join(Vote, Vote.battle_id == Battle.id).order_by(Battle.id)
        ).all()
        full = s.scalars(select(Battle).where(Battle.public_id == "full-1")).one()
        assert full.meta["conv_metadata"] == FULL_RECORD["conv_metadata"]
    expected = [(f"q{k}", ["model_a", "model_b", "tie", "both_bad"][o]) for k, o in enumerate(battles.outcome)]
    assert rows == [*expected, ("full-1", "model_b")]


@pytest.mark.parametrize("exclusive", [[], ["--exclusive"]], ids=["shared", "exclusive"])
def test_reimport_adds_nothing_and_duplicates_keep_the_first(
    database_url, session_factory, tmp_path, battles, exclusive
):
    records = list(battle_records(battles, NAMES))
    duplicate = {**records[0], "winner": "model_b" if records[0]["winner"] != "model_b" else "model_a"}
    path = write_jsonl(tmp_path / "votes.jsonl", [*records, duplicate])
    first = run_arena("import", "votes", str(path), "--database-url", database_url, *exclusive)
    assert (
        f"{len(records) + 1} battles read: {len(records)} imported, 0 already present, "
        "1 repeating a question_id earlier in the file" in first.stdout
    )
    before = snapshot(session_factory)
    second = run_arena("import", "votes", str(path), "--database-url", database_url, *exclusive)
    assert f"0 imported, {len(records) + 1} already present, 0 new models" in second.stdout
    assert snapshot(session_factory) == before
    with session_factory() as s:
        first_vote = s.scalar(select(Vote.outcome).join(Battle).where(Battle.public_id == "q0"))
    assert first_vote == {"tie (bothbad)": "both_bad"}.get(records[0]["winner"], records[0]["winner"])


def test_records_without_question_id_are_still_idempotent(database_url, session_factory, tmp_path):
    records = [{"model_a": "a", "model_b": "b", "winner": w, "tstamp": 1_700_000_000 + k}
               for k, w in enumerate(["model_a", "tie", "both_bad"])]  # fmt: skip
    path = write_jsonl(tmp_path / "anon.jsonl", records)
    assert "3 imported" in run_arena("import", "votes", str(path), "--database-url", database_url).stdout
    assert (
        "0 imported, 3 already present"
        in run_arena("import", "votes", str(path), "--database-url", database_url).stdout
    )


BAD_LINES = [
    ("{not json", "not valid JSON"),
    ('["a list"]', "expected a JSON object"),
    ('{"model_a": "a", "model_b": "b"}', "missing required field(s): winner"),
    ('{"model_a": "a", "model_b": "a", "winner": "tie"}', "the same model"),
    ('{"model_a": "a", "model_b": "b", "winner": "a"}', "winner must be one of"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "tstamp": "yesterday"}', "tstamp must be seconds"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "conversation_a": "hi"}', "conversation_a"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "eq_a": {"overall": "high"}}', "eq_a.overall"),
    ('{"model_a": "a", "model_b": 3, "winner": "tie"}', "must be strings"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "category_tag": {"emotion_v0.1": ["Glee"]}}',
     "unknown emotion category"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "evaluation_order": "first"}', "evaluation_order must be"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "evaluation_order": 0}', "evaluation_order must be"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "evaluation_session_id": {"id": 1}}',
     "evaluation_session_id must be a string"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "full_conversation": "[oops"}', "full_conversation is not"),
    ('{"model_a": "a", "model_b": "b", "winner": "tie", "full_conversation": {"user": "hi"}}',
     "full_conversation must be a list"),
]  # fmt: skip


@pytest.fixture(scope="module")
def many_battles():
    rng = np.random.default_rng(12)
    return simulate(true_strengths(len(NAMES) + 1, rng), BATCH + 300, rng, n_voters=50)


@pytest.mark.parametrize(("line", "reason"), BAD_LINES)
def test_a_malformed_line_exits_2_naming_it_and_changes_nothing(
    database_url, session_factory, tmp_path, many_battles, line, reason
):
    good = list(battle_records(many_battles, [*NAMES, "echo"]))
    first = write_jsonl(tmp_path / "first.jsonl", [r for r in good[:100] if "echo" not in r.values()])
    run_arena("import", "votes", str(first), "--database-url", database_url)
    before = snapshot(session_factory)
    path = tmp_path / "bad.jsonl"
    lines = [json.dumps(r) for r in good[100:]]
    # After a whole batch has been staged and the new model "echo" created: both must roll back.
    lines.insert(BATCH + 50, line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_arena("import", "votes", str(path), "--database-url", database_url)
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and f"line {BATCH + 51}" in message[0] and reason in message[0], result.stderr
    assert "nothing was imported" in message[0]
    assert snapshot(session_factory) == before


def test_invalid_utf8_and_unknown_extension_and_missing_file(database_url, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"model_a": "a", "model_b": "b", "winner": "tie"}\n{"model_a": "\xff"}\n')
    result = run_arena("import", "votes", str(bad), "--database-url", database_url)
    assert result.returncode == 2 and "line 2: not valid UTF-8" in result.stderr
    odd = tmp_path / "votes.txt"
    odd.write_text("{}\n")
    result = run_arena("import", "votes", str(odd), "--database-url", database_url)
    assert result.returncode == 2 and "--format" in result.stderr
    result = run_arena("import", "votes", str(tmp_path / "nope.jsonl"), "--database-url", database_url)
    assert result.returncode == 2 and "no such file" in result.stderr


def keys_and_indexes(session_factory) -> list[tuple]:
    with session_factory() as s:
        engine = s.get_bind()
    inspector = inspect(engine)
    keys = [(t, "fk", fk["name"]) for t in ("battle", "vote") for fk in inspector.get_foreign_keys(t)]
    indexes = [
        (t, "ix", ix["name"], tuple(ix["column_names"])) for t in ("battle", "vote") for ix in inspector.get_indexes(t)
    ]
    return sorted(keys + indexes)


def test_an_exclusive_import_keeps_every_key_and_index_and_matches_a_shared_one(
    database_url, session_factory, tmp_path, battles
):
    keys = keys_and_indexes(session_factory)
    assert sum(1 for k in keys if k[1] == "fk") == 6 and sum(1 for k in keys if k[1] == "ix") >= 3
    records = list(battle_records(battles, NAMES))
    half = write_jsonl(tmp_path / "half.jsonl", records[: len(records) // 2])
    assert run_arena("import", "votes", str(half), "--database-url", database_url).returncode == 0
    whole = write_jsonl(tmp_path / "whole.jsonl", [*records, {**records[0], "winner": "tie"}])
    result = run_arena("import", "votes", str(whole), "--database-url", database_url, "--exclusive")
    assert result.returncode == 0, result.stderr
    # The extra copy of records[0] repeats an id already in the database: counted as present.
    assert (
        f"{len(records) - len(records) // 2} imported, {len(records) // 2 + 1} already present, 0 new" in result.stdout
    )
    assert keys_and_indexes(session_factory) == keys
    with session_factory() as s:
        rows = s.execute(
            select(Battle.public_id, Vote.outcome, Vote.model_a_id == Battle.model_a_id, Vote.created_at)
            .join(Vote, Vote.battle_id == Battle.id)
            .order_by(Battle.id)
        ).all()
    assert [r[0] for r in rows] == [f"q{k}" for k in range(len(records))]
    assert all(r[2] for r in rows)
    assert rows[-1][3] == datetime.fromtimestamp(records[-1]["tstamp"], UTC)


def test_a_second_concurrent_import_on_postgresql_exits_2(postgres_migrated, battles, tmp_path):
    from sqlalchemy import text

    from arena.db import make_engine
    from arena.ingest.vote_import import IMPORT_LOCK_KEY
    from tests.conftest import _truncate_all

    url = postgres_migrated
    _truncate_all(url)
    path = write_jsonl(tmp_path / "votes.jsonl", battle_records(battles, NAMES))
    engine = make_engine(url)
    try:
        with engine.begin() as first_import:  # the first import, mid-way: it holds the import lock
            first_import.execute(text(f"SELECT pg_advisory_xact_lock({IMPORT_LOCK_KEY})"))
            second = run_arena("import", "votes", str(path), "--database-url", url)
            lines = second.stderr.strip().splitlines()
            assert second.returncode == 2 and len(lines) == 1 and "another `arena import votes`" in lines[0]
        assert run_arena("import", "votes", str(path), "--database-url", url).returncode == 0  # once it ended
    finally:
        engine.dispose()


def test_a_refused_multi_turn_file_stores_no_conversation(database_url, session_factory, tmp_path):
    turns = [{"role": r, "content": f"{r} {k}"} for k in range(2) for r in ("user", "assistant")]
    good = {"model_a": "a", "model_b": "b", "winner": "tie", "conversation_a": turns, "conversation_b": turns,
            "evaluation_session_id": "s", "evaluation_order": 1}  # fmt: skip
    records = [{**good, "question_id": f"m{k}"} for k in range(BATCH + 10)]
    path = write_jsonl(tmp_path / "multi.jsonl", [*records, {**good, "evaluation_order": -1}])
    result = run_arena("import", "votes", str(path), "--database-url", database_url)
    assert result.returncode == 2 and f"line {BATCH + 11}: evaluation_order" in result.stderr
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Conversation)) == 0
        assert s.scalar(select(func.count()).select_from(Turn)) == 0
        assert s.scalar(select(func.count()).select_from(Battle)) == 0
    path = write_jsonl(tmp_path / "multi.jsonl", records)
    assert f"{BATCH + 10} imported" in run_arena("import", "votes", str(path), "--database-url", database_url).stdout
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Turn)) == 6 * (BATCH + 10)  # 2 + 2 answers, 2 shared
        assert set(s.scalars(select(Vote.turns))) == {2}
