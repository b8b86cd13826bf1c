"""Imports a reviewer can trace (both databases): records with neither id nor time split over two files are all
votes; `--skip-invalid` with every row invalid exits 2; each file's name, sha256, rows and `--source` reach the
export's dataset card, which says truthfully what `anony` means for imported data."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import func, select

from arena.models import ImportedFile, Vote
from tests.arena_cli import run_arena
from tests.votes_files import write_jsonl

SECRET = "reviewer-test-secret-0123456789abcdefXYZ"


def minimal_records(n: int) -> list[dict]:
    """model_a, model_b, winner only: many lines are identical, each a vote of its own."""
    pairs = [("x", "y"), ("y", "z"), ("x", "z")]
    winners = ["model_a", "model_b", "tie"]
    return [{"model_a": pairs[k % 3][0], "model_b": pairs[k % 3][1], "winner": winners[(k // 3) % 3]}
            for k in range(n)]  # fmt: skip


def votes(session_factory) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Vote))


def test_minimal_records_split_over_two_files_are_all_votes(database_url, session_factory, tmp_path):
    records = minimal_records(1670)
    first = write_jsonl(tmp_path / "part1.jsonl", records[:835])
    second = write_jsonl(tmp_path / "part2.jsonl", records[835:])
    for path in (first, second):
        result = run_arena("import", "votes", str(path), "--database-url", database_url)
        assert result.returncode == 0, result.stderr
        assert "835 imported, 0 already present" in result.stdout
    assert votes(session_factory) == 1670
    # Importing either file again adds nothing.
    for path in (first, second):
        again = run_arena("import", "votes", str(path), "--database-url", database_url)
        assert "0 imported, 835 already present" in again.stdout, again.stdout
    assert votes(session_factory) == 1670


def test_records_with_a_time_are_one_vote_in_any_file(database_url, session_factory, tmp_path):
    """A newer release of a battle file repeats the older one's records: they are not counted twice."""
    older = [{"model_a": "x", "model_b": "y", "winner": "model_a", "tstamp": 1_700_000_000 + k} for k in range(50)]
    newer = older + [{"model_a": "y", "model_b": "x", "winner": "tie", "tstamp": 1_700_001_000 + k} for k in range(20)]
    for name, records in (("old.jsonl", older), ("new.jsonl", newer)):
        assert run_arena("import", "votes", str(write_jsonl(tmp_path / name, records)),
                         "--database-url", database_url).returncode == 0  # fmt: skip
    assert votes(session_factory) == 70


def test_skip_invalid_with_every_row_invalid_exits_2(database_url, session_factory, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"model_a": "x", "model_b": "x", "winner": "model_a"}] * 3)
    result = run_arena("import", "votes", str(path), "--skip-invalid", "--database-url", database_url)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "every record was invalid" in result.stderr
    assert "nothing was imported" in result.stderr
    assert len((tmp_path / "bad.jsonl.skipped.jsonl").read_text().splitlines()) == 3
    assert votes(session_factory) == 0
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ImportedFile)) == 0


def test_provenance_reaches_the_dataset_card(database_url, session_factory, tmp_path):
    records = [{"model_a": "a", "model_b": "b", "winner": "model_a", "judge": "arena_user_::1", "anony": k % 4 != 0,
                "tstamp": 1_707_700_000 + k} for k in range(40)]  # fmt: skip
    records.append({"model_a": "a", "model_b": "b", "winner": "model_b", "tstamp": 1_707_800_000})
    path = tmp_path / "clean_battle_20240220.json"
    path.write_text(json.dumps(records, indent=2), encoding="utf-8")
    source = "GenAI-Arena (TIGER-Lab), clean_battle_20240220.json; MIT"
    result = run_arena("import", "votes", str(path), "--source", source, "--database-url", database_url,
                       env={"ARENA_SECRET_KEY": SECRET})  # fmt: skip
    assert result.returncode == 0, result.stderr
    # A re-import that adds nothing is not another source.
    run_arena("import", "votes", str(path), "--database-url", database_url, env={"ARENA_SECRET_KEY": SECRET})
    replies = write_jsonl(tmp_path / "replies.jsonl", [{"prompt": "I lost my job.", "model": "a", "reply": "Oh no."}])
    assert run_arena("import", "replies", str(replies), "--database-url", database_url).returncode == 0

    out = tmp_path / "export"
    exported = run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", database_url)
    assert exported.returncode == 0, exported.stderr
    card = (out / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    row = next(line for line in card.splitlines() if "clean_battle_20240220.json`" in line)
    assert digest in row and "| 41 | 41 |" in row and source.replace("|", "\\|") in row
    assert "30 / 10 / 1" in row  # anony true / false / absent
    assert "always true" not in card and "10 battles here are false" in card
    assert hashlib.sha256(replies.read_bytes()).hexdigest() in card and "| 1 | 1 | - | not given |" in card
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ImportedFile)) == 2


def test_a_source_of_several_lines_is_refused(database_url, session_factory, tmp_path):
    path = write_jsonl(tmp_path / "v.jsonl", minimal_records(3))
    result = run_arena("import", "votes", str(path), "--source", "a\nb", "--database-url", database_url)
    assert result.returncode == 2 and "--source" in result.stderr and votes(session_factory) == 0
