"""Records parsed by worker processes (arena/ingest/parsed_battles.py) are those parsed here, in file order, with
the same errors on the same lines; an error met by a worker stops `arena import votes` with exit 2, one line, and
nothing written."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from arena.ingest import parsed_battles
from arena.ingest.battle_records import no_site_key
from arena.ingest.parsed_battles import JsonLinesFile, Refused, parsed_here, parsed_in_workers
from arena.ingest.records import RecordError, read_records
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.ingest.test_vote_import import NAMES, snapshot
from tests.votes_files import battle_records

NOW = 1_750_000_000.0


@pytest.fixture(scope="module")
def many_battles():
    rng = np.random.default_rng(13)
    return simulate(true_strengths(len(NAMES) + 1, rng), 700, rng, n_voters=50)


def _lines(n: int) -> list[str]:
    lines = []
    for k in range(n):
        record = {"question_id": f"q{k}", "model_a": "alpha", "model_b": "bravo", "winner": "tie", "tstamp": NOW - k,
                  "conversation_a": [{"role": "user", "content": f"message {k % 7}"}],
                  "category_tag": {"emotion_v0.1": ["Sadness"]}, "anony": k % 2 == 0}  # fmt: skip
        lines.append(json.dumps(record))
    return lines


def _comparable(items) -> list:
    """Items with their errors as text (exceptions do not compare equal)."""
    return [(str(i.error), i.record) if isinstance(i, Refused) else i for i, _done in items]


def test_workers_give_the_items_of_the_serial_reading_in_order(tmp_path, monkeypatch):
    lines = _lines(300)
    lines[40] = "not json"  # unreadable: the reader's on_error takes it
    lines[41] = ""  # blank lines are skipped, but counted
    lines[170] = '{"model_a": "alpha", "model_b": "alpha", "winner": "tie"}'  # refused by parse_battle
    lines[299] = "[1, 2]"
    path = tmp_path / "votes.jsonl"
    path.write_text("\r\n".join(lines[:10]) + "\n" + "\n".join(lines[10:]), encoding="utf-8")  # no final newline
    # Chunks of a few lines: the order across chunks and the line numbers are what is tested.
    monkeypatch.setattr(parsed_battles, "CHUNK_BYTES", 700)
    here_errors, worker_errors = [], []
    here = list(parsed_here(read_records(path, "jsonl", lambda e, r: here_errors.append(str(e))), NOW, no_site_key,
                            None))  # fmt: skip
    source = JsonLinesFile(path, lambda e, r: worker_errors.append(str(e)), workers=2)
    workers = list(parsed_in_workers(source, NOW, no_site_key, None, stop_at_error=False))
    assert _comparable(workers) == _comparable(here)
    assert worker_errors == here_errors
    assert [e.split(" (")[0] for e in worker_errors] == [
        "line 41: not valid JSON",
        "line 300: expected a JSON object, got list",
    ]
    assert [i.error.line for i, _ in workers if isinstance(i, Refused)] == [171]
    # The last line (unreadable, with no newline) is the last chunk: the last record came before it.
    assert len(workers) == 297 and workers[-1][1] == path.stat().st_size - len(lines[299])


def test_workers_stop_at_the_first_unreadable_line_when_nothing_is_skipped(tmp_path, monkeypatch):
    lines = _lines(200)
    lines[150] = "{broken"
    lines[190] = "also broken"
    path = tmp_path / "votes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setattr(parsed_battles, "CHUNK_BYTES", 1_000)
    read = []
    with pytest.raises(RecordError, match="^line 151: not valid JSON"):
        for item, _ in parsed_in_workers(JsonLinesFile(path, workers=2), time.time(), no_site_key, None,
                                         stop_at_error=True):  # fmt: skip
            read.append(item)
    assert len(read) == 150


def _file_with(tmp_path, many_battles, line: str | None):
    good = list(battle_records(many_battles, [*NAMES, "echo"]))
    lines = [json.dumps(r) for r in good]
    if line is not None:
        lines.insert(len(lines) // 2, line)
    path = tmp_path / "votes.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, len(lines) // 2 + 1


@pytest.mark.parametrize(
    ("line", "reason"),
    [("{not json", "not valid JSON"), ('{"model_a": "a", "model_b": "b", "winner": "maybe"}', "winner must be")],
)
def test_a_bad_line_met_by_a_worker_exits_2_naming_it_and_changes_nothing(
    database_url, session_factory, tmp_path, many_battles, line, reason
):
    before = snapshot(session_factory)
    path, bad = _file_with(tmp_path, many_battles, line)
    result = run_arena("import", "votes", str(path), "--database-url", database_url, "--parse-workers", "2")
    assert result.returncode == 2
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and f"line {bad}: " in message[0] and reason in message[0], result.stderr
    assert "nothing was imported" in message[0]
    assert snapshot(session_factory) == before


def test_a_worker_meeting_voters_without_a_site_key_stops_the_import(database_url, session_factory, tmp_path,
                                                                      many_battles):  # fmt: skip
    """MissingSecret is raised inside the worker that met the raw `judge`: it reaches the command as in one
    process."""
    before = snapshot(session_factory)
    path, _ = _file_with(tmp_path, many_battles, json.dumps({"model_a": "a", "model_b": "b", "winner": "tie",
                                                            "judge": "alice@example.com"}))  # fmt: skip
    result = run_arena("import", "votes", str(path), "--database-url", database_url, "--parse-workers", "2",
                       env={"ARENA_SECRET_KEY": ""})  # fmt: skip
    assert result.returncode == 2, result.stderr
    message = result.stderr.strip().splitlines()
    assert len(message) == 1 and "ARENA_SECRET_KEY" in message[0] and "nothing was imported" in message[0]
    assert snapshot(session_factory) == before


def test_workers_import_what_one_process_imports(database_url, session_factory, tmp_path, many_battles):
    path, _ = _file_with(tmp_path, many_battles, None)
    result = run_arena("import", "votes", str(path), "--database-url", database_url, "--parse-workers", "2")
    assert result.returncode == 0, result.stderr
    by_workers = snapshot(session_factory)
    assert len(by_workers[1]) == len(path.read_text().splitlines())
    again = run_arena("import", "votes", str(path), "--database-url", database_url, "--parse-workers", "2")
    assert "0 imported" in again.stdout and snapshot(session_factory) == by_workers
