"""`arena import replies DIR --format eqbench4`: EQ-Bench 4 transcript folders (<model>/<n>.json, the layout of
EQ-bench/EQ-bench-site's eqbench4/eqbench4_docs/transcripts) become prompts, replies and category tags. The
transcripts are rebuilt in tmp_path from the shared first replies; nothing is copied into the project."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from arena.models import Model, Prompt, Reply
from tests.arena_cli import run_arena
from tests.shared_data import shared_file


def shared_rows() -> list[dict]:
    return [json.loads(line) for line in shared_file("eqbench4_replies.jsonl").read_text().splitlines()]


def transcript(row: dict) -> dict:
    """One transcript in EQ-Bench 4's layout: the opener in `starter`, the model's turns first in `turns`,
    the scenario under `doc`, scores at the end (later turns here are placeholders)."""
    return {
        "i": row["scenario_index"],
        "scenario_id": row["scenario_id"],
        "evaluated_model": row["model"],
        "persona_model": row["persona_model"],
        "num_turns": row["num_turns"],
        "final_status": row["final_status"],
        "title": row["title"],
        "category": row["category"],
        "relationship": row["relationship"],
        "source_type": row["source_type"],
        "task_type": None,
        "doc": {
            "id": row["scenario_id"],
            "presenting_issue": {"label": row["title"], "severity_hint": row["severity_hint"]},
            "core_issue": {"category": row["category"], "subcategory": row["subcategory"]},
        },
        "starter": row["starter"] + "\n",
        "turns": [
            {"role": "assistant", "content": row["reply"]},
            {"role": "user", "content": "That's not really it.", "thinking": "...", "monologue": "..."},
            {"role": "assistant", "content": "Tell me more about that."},
        ],
        "abilities": {},
        "ability_score": row["transcript_ability_score"],
    }


def write_transcripts(root: Path, rows: list[dict]) -> Path:
    by_model: dict[str, list[dict]] = {}
    for row in rows:
        folder = root / row["model_slug"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{row['scenario_index']}.json").write_text(json.dumps(transcript(row)))
        by_model.setdefault(row["model_slug"], []).append(row)
    for slug, model_rows in by_model.items():
        listed = [{"i": r["scenario_index"], "file": f"{r['scenario_index']}.json"} for r in model_rows]
        index = {"model": slug, "n": len(model_rows), "transcripts": listed}
        (root / slug / "index.json").write_text(json.dumps(index))
    return root


def import_dir(path: Path, database_url: str):
    return run_arena("import", "replies", str(path), "--format", "eqbench4", "--database-url", database_url)


def test_transcripts_become_prompts_replies_and_tags(database_url, session_factory, tmp_path):
    rows = shared_rows()
    root = write_transcripts(tmp_path / "transcripts", rows)
    result = import_dir(root, database_url)
    assert result.returncode == 0, result.stderr
    assert "280 replies read: 280 added, 0 already present; 10 new prompts, 28 new models" in result.stdout
    with session_factory() as s:
        prompts = {p.text: p for p in s.scalars(select(Prompt))}
        assert set(prompts) == {r["starter"] for r in rows}
        for row in rows:
            prompt = prompts[row["starter"]]
            assert (prompt.situation, prompt.external_id, prompt.source) == (row["category"], row["scenario_id"],
                                                                             "imported")  # fmt: skip
        stored = {(r.model.slug, r.prompt.text): r.text for r in s.scalars(select(Reply))}
        assert stored == {(r["model_slug"], r["starter"]): r["reply"] for r in rows}
        names = dict(s.execute(select(Model.slug, Model.display_name)).all())
        assert names == {r["model_slug"]: r["model"] for r in rows}
    again = import_dir(root, database_url)
    assert "0 added, 280 already present; 0 new prompts, 0 new models" in again.stdout


def test_the_jsonl_rows_and_the_transcripts_are_the_same_replies(database_url, session_factory, tmp_path):
    rows = shared_rows()
    jsonl = tmp_path / "replies.jsonl"
    jsonl.write_text("\n".join(json.dumps({"prompt": r["starter"], "model": r["model_slug"], "reply": r["reply"]})
                               for r in rows[:40]))  # fmt: skip
    assert run_arena("import", "replies", str(jsonl), "--database-url", database_url).returncode == 0
    result = import_dir(write_transcripts(tmp_path / "t", rows), database_url)
    assert "240 added, 40 already present" in result.stdout, result.stdout


def test_a_broken_transcript_names_its_file_and_imports_nothing(database_url, session_factory, tmp_path):
    rows = shared_rows()[:20]
    root = write_transcripts(tmp_path / "t", rows)
    broken = root / rows[7]["model_slug"] / f"{rows[7]['scenario_index']}.json"
    doc = json.loads(broken.read_text())
    doc["turns"] = [{"role": "user", "content": "hello?"}]
    broken.write_text(json.dumps(doc))
    result = import_dir(root, database_url)
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .endswith(f"{rows[7]['model_slug']}/{broken.name}: no assistant turn; nothing was imported")
    )
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        assert s.scalar(select(func.count()).select_from(Prompt)) == 0


def test_not_a_transcript_directory_exits_2(database_url, tmp_path):
    (tmp_path / "empty").mkdir()
    result = import_dir(tmp_path / "empty", database_url)
    assert result.returncode == 2 and "no transcripts found" in result.stderr
    file = tmp_path / "x.jsonl"
    file.write_text("{}")
    assert "not a directory" in import_dir(file, database_url).stderr
    plain = run_arena("import", "replies", str(tmp_path / "empty"), "--database-url", database_url)
    assert plain.returncode == 2 and "--format eqbench4" in plain.stderr
