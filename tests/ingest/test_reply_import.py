"""`arena import replies`: real replies (EQ-Bench 4 first turns) become battles; bad lines change nothing."""

from __future__ import annotations

import json

from sqlalchemy import func, select

from arena.models import Model, Prompt, Reply
from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page
from tests.shared_data import shared_file
from tests.votes_files import write_jsonl


def eqbench4_records() -> list[dict]:
    rows = [json.loads(line) for line in shared_file("eqbench4_replies.jsonl").read_text().splitlines()]
    return [
        {"prompt": r["starter"], "model": r["model_slug"], "reply": r["reply"], "situation": r["category"]}
        for r in rows
    ]


def counts(session_factory) -> tuple[int, int, int]:
    with session_factory() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Prompt, Model, Reply))


def test_real_replies_become_anonymous_battles(database_url, session_factory, client, tmp_path):
    path = write_jsonl(tmp_path / "eqbench4.jsonl", eqbench4_records())
    result = run_arena("import", "replies", str(path), "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    assert "280 replies read: 280 added, 0 already present; 10 new prompts, 28 new models" in result.stdout
    again = run_arena("import", "replies", str(path), "--database-url", database_url)
    assert "0 added, 280 already present; 0 new prompts, 0 new models" in again.stdout
    assert counts(session_factory) == (10, 28, 280)
    html = client.get("/").get_data(as_text=True)
    action, csrf = parse_battle_page(html)
    with session_factory() as s:
        for slug in s.scalars(select(Model.slug)):
            assert slug not in html
    assert client.post(action, data={"outcome": "model_a", "csrf_token": csrf}).status_code == 303


def test_prompt_id_and_emotions(database_url, session_factory, tmp_path):
    record = {"prompt": "I failed my driving test again.", "model": "m1", "reply": "Oof.",
              "emotions": ["Disappointment", {"name": "Shame", "intensity": 2}]}  # fmt: skip
    first = write_jsonl(tmp_path / "a.jsonl", [record])
    assert run_arena("import", "replies", str(first), "--database-url", database_url).returncode == 0
    with session_factory() as s:
        prompt = s.scalars(select(Prompt)).one()
        assert {(e.category, e.intensity) for e in prompt.emotions} == {("Disappointment", 1), ("Shame", 2)}
        prompt_id = prompt.id
    second = write_jsonl(tmp_path / "b.jsonl", [{"prompt_id": prompt_id, "model": "m2", "reply": "Try again soon."}])
    assert "1 added" in run_arena("import", "replies", str(second), "--database-url", database_url).stdout
    assert counts(session_factory) == (1, 2, 2)


def test_a_bad_line_exits_2_and_changes_nothing(database_url, session_factory, tmp_path):
    good = {"prompt": "My sister stopped talking to me.", "model": "m1", "reply": "That hurts."}
    cases = [
        ({"prompt_id": 999, "model": "m1", "reply": "x"}, "no prompt with id 999"),
        ({"prompt": "Hi", "model": "m1", "reply": "  "}, "reply must be a non-empty string"),
        ({"prompt": "Hi", "model": "", "reply": "x"}, "model must be a non-empty string"),
        ({"prompt": "Hi", "model": "m1", "reply": "x", "emotions": ["Glee"]}, "unknown emotion category"),
    ]
    for bad, reason in cases:
        path = write_jsonl(tmp_path / "bad.jsonl", [good, {**good, "model": "m9"}, bad])
        result = run_arena("import", "replies", str(path), "--database-url", database_url)
        assert result.returncode == 2 and "line 3" in result.stderr and reason in result.stderr, result.stderr
        assert counts(session_factory) == (0, 0, 0)


def test_a_second_text_for_a_pair_is_a_new_sample_and_a_reimport_adds_nothing(database_url, session_factory, tmp_path):
    base = {"prompt": "My best friend moved abroad.", "model": "m1"}
    records = [{**base, "reply": "That is a real loss."}, {**base, "reply": "You will miss them. Call soon?"},
               {**base, "reply": "  That is a real loss.  "}, {**base, "model": "m2", "reply": "Oh no."}]  # fmt: skip
    path = write_jsonl(tmp_path / "samples.jsonl", records)
    first = run_arena("import", "replies", str(path), "--database-url", database_url)
    assert "4 replies read: 3 added, 1 already present" in first.stdout, first.stdout + first.stderr
    again = run_arena("import", "replies", str(path), "--database-url", database_url)
    assert "0 added, 4 already present" in again.stdout
    with session_factory() as s:
        stored = s.execute(select(Model.slug, Reply.sample, Reply.text).join(Model).order_by(Model.slug, Reply.sample))
        assert stored.all() == [("m1", 0, "That is a real loss."), ("m1", 1, "You will miss them. Call soon?"),
                                ("m2", 0, "Oh no.")]  # fmt: skip
