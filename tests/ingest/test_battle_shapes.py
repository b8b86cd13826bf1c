"""`arena import votes` on every published shape of a battle file (small excerpts written from the published
schemas in tests/ingest/fixtures/): FastChat's clean_battle JSON array with raw `judge`, chatbot_arena_conversations
JSONL, LMArena's 100k and 140k Parquet columns, Kaggle's 55k CSV, and minimal records without ids."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from arena.hashing import judge_key
from arena.models import Battle, Vote
from arena.voting.conversations import battle_conversation
from tests.arena_cli import run_arena
from tests.conftest import SECRET
from tests.votes_files import write_jsonl

FIXTURES = Path(__file__).resolve().parent / "fixtures"
KEYED = {"ARENA_SECRET_KEY": SECRET}


def fixture_records(name: str) -> list[dict]:
    path = FIXTURES / name
    if path.suffix == ".json":
        return json.loads(path.read_text())
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def import_votes(path: Path, database_url: str, *flags: str, env: dict | None = KEYED):
    return run_arena("import", "votes", str(path), "--database-url", database_url, *flags, env=env)


def battles(session_factory) -> list[tuple]:
    with session_factory() as s:
        return s.execute(
            select(Battle.public_id, Battle.model_a_id, Battle.model_b_id, Vote.outcome, Battle.judge_key)
            .join(Vote, Vote.battle_id == Battle.id)
            .order_by(Battle.id)
        ).all()


def test_identical_minimal_records_are_each_a_vote_and_a_reimport_adds_none(database_url, session_factory):
    records = fixture_records("minimal_battles.jsonl")
    result = import_votes(FIXTURES / "minimal_battles.jsonl", database_url)
    assert result.returncode == 0, result.stderr
    assert f"{len(records)} battles read: {len(records)} imported, 0 already present, 3 new models" in result.stdout
    rows = battles(session_factory)
    assert len(rows) == len(records) == 8
    assert [r[3] for r in rows] == [r["winner"] for r in records]
    # A record with neither id nor time is known by its file (sha256) and content, so the same records in another
    # file are other votes (tests/ingest/test_import_provenance.py); the n-th copy is `<id>:n`.
    scope = hashlib.sha256((FIXTURES / "minimal_battles.jsonl").read_bytes()).hexdigest()
    content = f"{scope}\n{json.dumps(records[0], sort_keys=True)}"
    first = "sha256:" + hashlib.sha256(content.encode()).hexdigest()[:32]
    assert [r[0] for r in rows[:4]] == [first, f"{first}:2", f"{first}:3", f"{first}:4"]
    again = import_votes(FIXTURES / "minimal_battles.jsonl", database_url)
    assert f"{len(records)} battles read: 0 imported, {len(records)} already present, 0 new models" in again.stdout
    assert len(battles(session_factory)) == len(records)


def test_a_file_of_many_identical_records_counts_every_one(database_url, session_factory, tmp_path):
    record = {"model_a": "a", "model_b": "b", "winner": "model_a"}
    path = write_jsonl(tmp_path / "same.jsonl", [record] * 7000)  # more than one staging batch
    result = import_votes(path, database_url)
    assert "7000 battles read: 7000 imported, 0 already present" in result.stdout, result.stderr
    assert len({r[0] for r in battles(session_factory)}) == 7000


def test_fastchat_clean_battle_json_array_with_raw_judges(database_url, session_factory):
    records = fixture_records("clean_battle_genai.json")
    result = import_votes(FIXTURES / "clean_battle_genai.json", database_url)
    assert result.returncode == 0, result.stderr
    assert f"{len(records)} battles read: {len(records)} imported" in result.stdout
    rows = battles(session_factory)
    assert [r[4] for r in rows] == [judge_key(SECRET, r["judge"]) for r in records]
    with session_factory() as s:
        stored = s.execute(text("SELECT CAST(metadata AS TEXT), public_id FROM battle")).all()
        created = s.scalars(select(Battle.created_at).order_by(Battle.id)).all()
        anony = [b.meta.get("anony") for b in s.scalars(select(Battle).order_by(Battle.id))]
    assert not any("arena_user" in meta + public_id for meta, public_id in stored)  # the raw value is nowhere
    assert [c.replace(tzinfo=UTC) for c in created] == [datetime.fromtimestamp(r["tstamp"], UTC) for r in records]
    assert anony == [r["anony"] for r in records]


def test_a_raw_judge_needs_the_site_key(database_url, session_factory):
    result = import_votes(FIXTURES / "clean_battle_genai.json", database_url, env={"ARENA_SECRET_KEY": ""})
    assert result.returncode == 2
    assert "ARENA_SECRET_KEY" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert battles(session_factory) == []


def test_a_weak_site_key_is_refused_before_anything_is_hashed(database_url, session_factory):
    result = import_votes(FIXTURES / "clean_battle_genai.json", database_url, env={"ARENA_SECRET_KEY": "x"})
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "ARENA_SECRET_KEY is too weak" in result.stderr and "secrets.token_urlsafe(32)" in result.stderr
    assert battles(session_factory) == []


def test_json_is_told_by_its_content(database_url, session_factory, tmp_path):
    lines = tmp_path / "conversations.json"
    shutil.copy(FIXTURES / "chatbot_arena_conversations.jsonl", lines)
    result = import_votes(lines, database_url)
    assert result.returncode == 0, result.stderr
    records = fixture_records("chatbot_arena_conversations.jsonl")
    rows = battles(session_factory)
    assert [r[0] for r in rows] == [r["question_id"] for r in records]
    assert [r[4] for r in rows] == [judge_key(SECRET, r["judge"]) for r in records]
    with session_factory() as s:
        prompt = s.scalars(select(Battle).order_by(Battle.id)).first().prompt
    assert prompt.text == "My cat died this morning."


def parquet_of(records: list[dict], path: Path, timestamps: bool = False) -> Path:
    """The published Parquet layout: nested columns as structs and lists, 140k's timestamp as a timestamp."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if timestamps:
        records = [{**r, "timestamp": datetime.fromisoformat(r["timestamp"])} for r in records]
    pq.write_table(pa.Table.from_pylist(records), path)
    return path


@pytest.mark.parametrize("as_parquet", [True, False], ids=["parquet", "jsonl"])
def test_lmarena_100k_columns(database_url, session_factory, tmp_path, as_parquet):
    records = fixture_records("arena_human_preference_100k.jsonl")
    path = parquet_of(records, tmp_path / "train.parquet") if as_parquet else FIXTURES / records_name(100)
    result = import_votes(path, database_url)
    assert result.returncode == 0, result.stderr
    rows = battles(session_factory)
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("c0fc42c6f5f14f2aa5a89f71f8553730", "model_a", "e7d1f03b3a0b4e3d"),
        ("a6e3fa4c4cbf4a8c9c2b8a5aa7e1e2d0", "both_bad", "0b1c7a9e2f4d6a8c"),
    ]
    with session_factory() as s:
        first = s.scalars(select(Battle).order_by(Battle.id)).first()
        created = s.scalars(select(Battle.created_at).order_by(Battle.id)).all()
    assert first.meta["conv_metadata"] == records[0]["conv_metadata"]
    assert first.meta["category_tag"] == records[0]["category_tag"]
    assert created[1].replace(tzinfo=UTC) == datetime(2024, 3, 9, 16, 2, 3, 456789, UTC)


def records_name(kind: int) -> str:
    return f"arena_human_preference_{kind}k.jsonl"


@pytest.mark.parametrize("as_parquet", [True, False], ids=["parquet", "jsonl"])
def test_lmarena_140k_columns(database_url, session_factory, tmp_path, as_parquet):
    records = fixture_records(records_name(140))
    path = (
        parquet_of(records, tmp_path / "train.parquet", timestamps=True) if as_parquet else FIXTURES / records_name(140)
    )
    result = import_votes(path, database_url)
    assert result.returncode == 0, result.stderr
    rows = battles(session_factory)
    assert [(r[0], r[3]) for r in rows] == [(records[0]["id"], "model_b"), (records[1]["id"], "both_bad")]
    with session_factory() as s:
        first = s.scalars(select(Battle).order_by(Battle.id)).first()
        created = s.scalars(select(Battle.created_at).order_by(Battle.id)).all()
        assert first.prompt.text == "I was laid off today."
        # One exchange that names its evaluation session: a 'single' conversation carries it, with no turn rows.
        sessions = [
            (
                b.conversation.mode,
                b.conversation.evaluation_session,
                b.conversation.evaluation_order,
                len(b.conversation.turns),
                b.vote.turns,
            )
            for b in s.scalars(select(Battle).order_by(Battle.id))
        ]
    assert sessions == [("single", records[0]["evaluation_session_id"], 1, 0, 1),
                        ("single", records[1]["evaluation_session_id"], 2, 0, 1)]  # fmt: skip
    assert first.meta["conversation_b"][1] == {
        "role": "assistant",
        "content": "That's a lot to take in. How are you holding up?",
    }
    assert [c.replace(tzinfo=UTC) for c in created] == [
        datetime(2025, 6, 5, 10, 21, 33, 999500, UTC),
        datetime(2025, 6, 5, 10, 25, 0, tzinfo=UTC),
    ]


def test_kaggle_55k_csv(database_url, session_factory):
    result = import_votes(FIXTURES / "kaggle55k_train.csv", database_url)
    assert result.returncode == 0, result.stderr
    rows = battles(session_factory)
    assert [(r[0], r[3]) for r in rows] == [("30192", "model_b"), ("53567", "tie"), ("65089", "model_a")]
    with session_factory() as s:
        second = s.scalars(select(Battle).where(Battle.public_id == "53567")).one()
        # Two exchanges: a shared conversation of turn rows (not kept twice in the metadata), voted after both.
        seen = battle_conversation(second)
        assert second.meta["turn"] == 2 and "conversation_b" not in second.meta
        assert (seen.mode, seen.turns, second.vote.turns) == ("shared", 2, 2)
        assert [(m.role, m.content, m.author) for m in seen.b] == [
            ("user", "I'm nervous about my interview.", "visitor"),
            ("assistant", "That's normal.", "model"),
            ("user", "Any tips?", "visitor"),
            ("assistant", "", "model"),
        ]
        assert {t.side for t in second.conversation.turns if t.role == "user"} == {"both"}
        first = s.scalars(select(Battle).where(Battle.public_id == "30192")).one()
        assert first.conversation is None and first.vote.turns == 1  # one exchange: as before


def test_a_kaggle_row_with_two_winners_is_refused(database_url, tmp_path):
    path = tmp_path / "bad.csv"
    lines = (FIXTURES / "kaggle55k_train.csv").read_text().splitlines()
    path.write_text("\n".join([*lines, lines[1].replace(",0,1,0", ",1,1,0").replace("30192", "1")]) + "\n")
    result = import_votes(path, database_url)
    assert result.returncode == 2 and "line 5: exactly one of winner_model_a" in result.stderr
