"""`arena import prompts`: tagged messages in, idempotent by content hash, all or nothing on a bad line."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select

from arena.cli.common import BadInput
from arena.cli.imports import import_file
from arena.ingest.prompt_import import import_prompts
from arena.models import Prompt, PromptEmotion
from tests.arena_cli import run_arena
from tests.votes_files import write_jsonl

GRIEF = {
    "text": "My dad died in March and everyone expects me to be over it.",
    "emotions": ["Sadness", {"name": "Helplessness", "intensity": 2}, {"name": "bitterness", "intensity": 0}],
    "situation": "grief",
    "need": "vent",
    "language": "en",
}
PROMOTION = {"text": "I was passed over for the promotion I was promised."}


def stored(session_factory) -> dict[str, tuple]:
    with session_factory() as s:
        prompts = s.scalars(select(Prompt)).all()
        return {
            p.text: (p.source, p.situation, p.need, p.language, {(e.category, e.intensity) for e in p.emotions})
            for p in prompts
        }


def test_jsonl_prompts_import_once_with_their_tags(database_url, session_factory, tmp_path):
    path = write_jsonl(tmp_path / "prompts.jsonl", [GRIEF, PROMOTION])
    result = run_arena("import", "prompts", str(path), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    assert "2 prompts read: 2 added, 0 already present" in result.stdout
    assert stored(session_factory) == {
        GRIEF["text"]: ("imported", "grief", "vent", "en", {("Sadness", 1), ("Helplessness", 2), ("Bitterness", 0)}),
        PROMOTION["text"]: ("imported", None, None, "en", set()),
    }
    # The same messages again, one with different spacing: the content hash says they are already here.
    respaced = {**PROMOTION, "text": "  I was passed over for the   promotion I was promised. "}
    again = write_jsonl(tmp_path / "again.jsonl", [GRIEF, respaced])
    assert (
        "2 prompts read: 0 added, 2 already present"
        in run_arena("import", "prompts", str(again), "--database-url", database_url).stdout
    )
    assert len(stored(session_factory)) == 2


def test_csv_cells_carry_emotions_with_intensities(database_url, session_factory, tmp_path):
    path = tmp_path / "prompts.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "emotions", "situation", "need", "language"])
        writer.writerow(["My best friend forgot my birthday.", "Disappointment:2; Sadness", "friendship", "", "en"])
        writer.writerow(["Mi perro se perdió.", "Fear, Distress:1", "", "comfort", "es"])
    summary = import_file(database_url, path, None, import_prompts)
    assert (summary.read, summary.added, summary.kept) == (2, 2, 0)
    assert stored(session_factory) == {
        "My best friend forgot my birthday.": (
            "imported", "friendship", None, "en", {("Disappointment", 2), ("Sadness", 1)}
        ),
        "Mi perro se perdió.": ("imported", None, "comfort", "es", {("Fear", 1), ("Distress", 1)}),
    }  # fmt: skip


def test_a_duplicate_inside_one_file_is_one_prompt(database_url, session_factory, tmp_path):
    path = write_jsonl(tmp_path / "dup.jsonl", [PROMOTION, GRIEF, PROMOTION])
    summary = import_file(database_url, path, None, import_prompts)
    assert (summary.read, summary.added, summary.kept) == (3, 2, 1)


def test_prompts_then_replies_meet_on_the_same_message(database_url, session_factory, tmp_path):
    prompts = write_jsonl(tmp_path / "prompts.jsonl", [GRIEF])
    assert run_arena("import", "prompts", str(prompts), "--database-url", database_url).returncode == 0
    replies = write_jsonl(tmp_path / "replies.jsonl", [{"prompt": GRIEF["text"], "model": "m1", "reply": "I'm here."}])
    result = run_arena("import", "replies", str(replies), "--database-url", database_url)
    assert result.returncode == 0 and "0 new prompts" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"emotions": ["Glee"]}, "unknown emotion category 'Glee'"),
        ({"emotions": [{"name": "Shame", "intensity": 3}]}, "intensity must be 0, 1 or 2, got 3"),
        ({"emotions": "Sadness"}, None),  # a string is a CSV-style list: valid
        ({"emotions": {"Sadness": 1}}, "emotions must be a list"),
        ({"text": ""}, "text must be a non-empty string"),
        ({"text": 42}, "text must be a non-empty string"),
        ({"situation": "x" * 101}, "situation must be a string of at most 100 characters"),
        ({"need": ["vent"]}, "need must be a string"),
        ({"language": "english-as-spoken-in-wales"}, "language must be a string of at most 16 characters"),
        ({"text": "nul \u0000 inside"}, "NUL character"),
    ],
)
def test_a_bad_line_names_itself_and_changes_nothing(database_url, session_factory, tmp_path, bad, reason):
    seed = write_jsonl(tmp_path / "seed.jsonl", [PROMOTION])
    import_file(database_url, seed, None, import_prompts)
    before = stored(session_factory)
    path = write_jsonl(tmp_path / "bad.jsonl", [GRIEF, {"text": "Line two is fine."}, {**GRIEF, "text": "x", **bad}])
    if reason is None:
        assert import_file(database_url, path, None, import_prompts).added == 3
        return
    with pytest.raises(BadInput) as caught:
        import_file(database_url, path, None, import_prompts)
    message = caught.value.format_message()
    assert "line 3" in message and reason in message and "\n" not in message, message
    assert stored(session_factory) == before


def test_the_cli_exits_2_with_one_line_on_a_bad_file(database_url, session_factory, tmp_path):
    path = write_jsonl(tmp_path / "bad.jsonl", [GRIEF, {"text": "ok", "emotions": ["Sadness", "Glee"]}])
    result = run_arena("import", "prompts", str(path), "--database-url", database_url)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "line 2" in result.stderr and "nothing was imported" in result.stderr
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 0
        assert s.scalar(select(func.count()).select_from(PromptEmotion)) == 0


def test_a_csv_record_is_named_by_its_first_line_when_cells_span_several(database_url, session_factory, tmp_path):
    path = tmp_path / "multiline.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "emotions"])
        writer.writerow(["I keep rereading her message.\nThen I put the phone away.", "Sadness"])  # lines 2-3
        writer.writerow(["Nobody called.\nNot one person.", "Glee"])  # lines 4-5, unknown emotion
    with pytest.raises(BadInput, match=r"line 4: .*Glee"):
        import_file(database_url, path, None, import_prompts)
    assert stored(session_factory) == {}
