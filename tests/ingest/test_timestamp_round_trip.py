"""A battle's tstamp survives import and export exactly (to the microsecond) on both databases, however often
the round trip is repeated; edge fractions included (.9995 once carried into the next second on SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select

from arena.db import transaction
from arena.models import Battle, Vote
from tests.arena_cli import run_arena
from tests.votes_files import write_jsonl

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TSTAMPS = [1_709_231_234.9995, 1_709_231_301.999999, 1_709_232_000.0, 1_700_000_000.000001, 1_700_000_000.5,
           1_700_000_059.9996, 0.9995]  # fmt: skip


def micros(seconds: float) -> int:
    return round(seconds * 1_000_000)


def exported_tstamps(database_url: str, out) -> dict[str, float]:
    result = run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "battles.jsonl").read_text().splitlines()]
    return {r["question_id"]: r["tstamp"] for r in rows}


def test_tstamps_round_trip_exactly(database_url, session_factory, tmp_path):
    records = [
        {"question_id": f"t{k}", "model_a": "a", "model_b": "b", "winner": "tie", "tstamp": t}
        for k, t in enumerate(TSTAMPS)
    ]
    path = write_jsonl(tmp_path / "edges.jsonl", records)
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    with session_factory() as s:
        stored = dict(s.execute(select(Battle.public_id, Vote.created_at).join(Vote)).tuples().all())
    for r in records:
        assert stored[r["question_id"]].replace(tzinfo=UTC) == EPOCH + timedelta(microseconds=micros(r["tstamp"]))
    expected = {r["question_id"]: micros(r["tstamp"]) for r in records}
    for trip in range(3):
        out = tmp_path / f"export-{trip}"
        exported = exported_tstamps(database_url, out)
        assert {q: micros(t) for q, t in exported.items()} == expected, f"round trip {trip + 1}"
        with transaction(session_factory) as s:  # start again from the export alone
            s.execute(delete(Vote))
            s.execute(delete(Battle))
        result = run_arena("import", "votes", str(out / "battles.jsonl"), "--database-url", database_url)
        assert result.returncode == 0, result.stderr
