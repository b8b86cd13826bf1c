"""Reasons leave with the export (reasons_a / reasons_b per vote, every format) and come back with `arena import
votes`: the round trip keeps each vote's tags, and a re-import adds none."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.records import RecordError, read_records
from arena.ingest.vote_import import import_votes
from arena.jobs.export import export
from arena.migrate import upgrade
from arena.models import Battle, Vote, VoteReason
from tests.votes_files import write_jsonl

RECORDS = [
    {"question_id": "q1", "model_a": "m1", "model_b": "m2", "winner": "model_a", "tstamp": 1_700_000_001,
     "reasons_a": ["felt_heard", "practical_help"], "reasons_b": ["too_long"]},
    {"question_id": "q2", "model_a": "m2", "model_b": "m3", "winner": "tie", "tstamp": 1_700_000_002,
     "reasons_a": [], "reasons_b": json.dumps(["cold", "preachy"])},
    {"question_id": "q3", "model_a": "m1", "model_b": "m3", "winner": "model_b", "tstamp": 1_700_000_003},
]  # fmt: skip
EXPECTED = {"q1": {("a", "felt_heard"), ("a", "practical_help"), ("b", "too_long")},
            "q2": {("b", "cold"), ("b", "preachy")}, "q3": set()}  # fmt: skip


def tags(factory) -> dict[str, set[tuple[str, str]]]:
    with factory() as s:
        out = {q: set() for q in s.scalars(select(Battle.public_id))}
        rows = s.execute(
            select(Battle.public_id, VoteReason.side, VoteReason.reason)
            .join(Vote, Vote.battle_id == Battle.id)
            .join(VoteReason, VoteReason.vote_id == Vote.id)
        )
        for question, side, reason in rows:
            out[question].add((side, reason))
    return out


def load(factory, path, fmt: str):
    with transaction(factory) as s:
        return import_votes(s, read_records(path, fmt))


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_reasons_survive_export_and_import(session_factory, tmp_path, fmt):
    load(session_factory, write_jsonl(tmp_path / "in.jsonl", RECORDS), "jsonl")
    assert tags(session_factory) == EXPECTED
    with session_factory() as s:
        export(s, tmp_path / "out", fmt)
    if fmt == "jsonl":
        rows = [json.loads(line) for line in (tmp_path / "out" / "battles.jsonl").read_text().splitlines()]
        by_id = {r["question_id"]: (r["reasons_a"], r["reasons_b"]) for r in rows}
        # Lists in the fixed order of the chips, [] for a vote without any.
        assert by_id == {"q1": (["felt_heard", "practical_help"], ["too_long"]), "q2": ([], ["preachy", "cold"]),
                         "q3": ([], [])}  # fmt: skip
    fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    engine = make_engine(fresh)
    upgrade(engine)
    factory = make_session_factory(engine)
    try:
        summary = load(factory, tmp_path / "out" / f"battles.{fmt}", fmt)
        assert summary.imported == 3 and tags(factory) == EXPECTED
        again = load(factory, tmp_path / "out" / f"battles.{fmt}", fmt)
        assert again.imported == 0 and tags(factory) == EXPECTED
        with factory() as s:
            assert len(s.scalars(select(VoteReason.id)).all()) == 5
    finally:
        engine.dispose()


def test_an_unknown_reason_refuses_the_import(session_factory, tmp_path):
    bad = [{**RECORDS[0], "reasons_b": ["boring"]}]
    with pytest.raises(RecordError, match="'boring' is not one of"):
        load(session_factory, write_jsonl(tmp_path / "bad.jsonl", bad), "jsonl")
    with session_factory() as s:
        assert s.scalars(select(Battle.id)).all() == [] and s.scalars(select(VoteReason.id)).all() == []
