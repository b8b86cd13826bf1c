"""`arena import votes --skip-invalid`: a real file with one bad row (GenAI-Arena's self-battle) imports its good
rows and reports the bad one with its line and reason; without the flag the import stays all or nothing."""

from __future__ import annotations

import json
import shutil

from sqlalchemy import func, select

from arena.models import Battle, Vote
from tests.arena_cli import run_arena
from tests.conftest import SECRET
from tests.ingest.test_battle_shapes import FIXTURES

KEYED = {"ARENA_SECRET_KEY": SECRET}
# Elements of the indent=2 array take 10 lines each, from line 2: the self-battle (third) opens at line 22.
SELF_BATTLE_LINE = 22


def counts(session_factory) -> tuple[int, int]:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Battle)), s.scalar(select(func.count()).select_from(Vote))


def report_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_by_default_one_bad_row_refuses_the_file(database_url, session_factory, tmp_path):
    path = shutil.copy(FIXTURES / "clean_battle_self_battle.json", tmp_path / "clean_battle.json")
    result = run_arena("import", "votes", str(path), "--database-url", database_url, env=KEYED)
    assert result.returncode == 2
    (message,) = result.stderr.strip().splitlines()
    assert f"line {SELF_BATTLE_LINE}: model_a and model_b are the same model" in message
    assert "nothing was imported" in message
    assert counts(session_factory) == (0, 0)
    assert not list(tmp_path.glob("*.skipped.jsonl*"))


def test_skip_invalid_imports_the_good_rows_and_reports_the_bad(database_url, session_factory, tmp_path):
    path = shutil.copy(FIXTURES / "clean_battle_self_battle.json", tmp_path / "clean_battle.json")
    args = ("import", "votes", str(path), "--skip-invalid", "--database-url", database_url)
    result = run_arena(*args, env=KEYED)
    assert result.returncode == 0, result.stderr
    report = tmp_path / "clean_battle.json.skipped.jsonl"
    assert "5 battles read: 4 imported, 0 already present, 1 invalid skipped, 3 new models" in result.stdout
    assert str(report) in result.stdout
    assert counts(session_factory) == (4, 4)
    (skipped,) = report_lines(report)
    assert skipped["line"] == SELF_BATTLE_LINE
    assert skipped["reason"] == "model_a and model_b are the same model ('StableCascade')"
    assert skipped["record"]["model_a"] == skipped["record"]["model_b"] == "StableCascade"
    again = run_arena(*args, env=KEYED)
    assert "5 battles read: 0 imported, 4 already present, 1 invalid skipped" in again.stdout
    assert counts(session_factory) == (4, 4)


def test_unreadable_lines_are_reported_too(database_url, session_factory, tmp_path):
    good = {"model_a": "a", "model_b": "b", "winner": "tie"}
    lines = [json.dumps(good), "{not json", json.dumps({**good, "winner": "a"}), '["a list"]', json.dumps(good)]
    path = tmp_path / "votes.jsonl"
    path.write_text("\n".join(lines) + "\n")
    report = tmp_path / "elsewhere" / "report.jsonl"
    report.parent.mkdir()
    result = run_arena(
        "import", "votes", str(path), "--skip-invalid", "--skip-report", str(report), "--database-url", database_url
    )
    assert result.returncode == 0, result.stderr
    assert "5 battles read: 2 imported, 0 already present, 3 invalid skipped" in result.stdout
    assert [(r["line"], r["reason"].split(" (")[0], r["record"]) for r in report_lines(report)] == [
        (2, "not valid JSON", None),
        (3, "winner must be one of model_a, model_b, tie, tie", {**good, "winner": "a"}),
        (4, "expected a JSON object, got list", None),
    ]
    assert counts(session_factory) == (2, 2)


def test_no_report_without_skipped_rows_and_no_report_option_alone(database_url, tmp_path):
    path = tmp_path / "votes.jsonl"
    path.write_text(json.dumps({"model_a": "a", "model_b": "b", "winner": "tie"}) + "\n")
    result = run_arena("import", "votes", str(path), "--skip-invalid", "--database-url", database_url)
    assert result.returncode == 0 and "1 imported" in result.stdout
    assert not [p.name for p in tmp_path.iterdir() if "skipped" in p.name]
    alone = run_arena("import", "votes", str(path), "--skip-report", "r.jsonl", "--database-url", database_url)
    assert alone.returncode == 2 and "--skip-invalid" in alone.stderr
