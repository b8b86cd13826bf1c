"""`arena import replies DIR --format eqbench4 --turns all` on the 56 real EQ-Bench 4 transcripts (both databases):
every turn of every file kept with its exact text, the first answer still the model's reply, the persona's state
and the published judge scores kept as given; idempotent; a bad file refused whole, named, nothing stored."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from arena.ingest.eqbench4 import KEPT_FIELDS
from arena.models import Conversation, Model, Reply, Turn
from tests.arena_cli import run_arena
from tests.db_fingerprint import fingerprint
from tests.transcripts_data import transcript_docs, transcripts_dir


def import_dir(path: Path, database_url: str, *turns: str):
    return run_arena("import", "replies", str(path), "--format", "eqbench4", *turns, "--database-url", database_url)


def stored_transcripts(session_factory) -> dict[tuple[str, str], dict]:
    """{(model slug, scenario): the stored conversation as plain data}, ids and timestamps left out."""
    with session_factory() as s:
        out = {}
        for conversation in s.scalars(select(Conversation).where(Conversation.reply_id.is_not(None))):
            reply = s.get(Reply, conversation.reply_id)
            out[(reply.model.slug, conversation.scenario)] = {
                "mode": conversation.mode,
                "meta": conversation.meta,
                "reply": reply.text,
                "prompt": reply.prompt.text,
                "turns": [
                    (
                        t.idx,
                        t.side,
                        t.role,
                        t.content,
                        t.author,
                        t.model_id == reply.model_id if t.model_id else None,
                        t.persona_state,
                        t.meta,
                    )
                    for t in conversation.turns
                ],
            }
        return out


def test_every_turn_of_the_56_real_transcripts_is_kept(database_url, session_factory):
    docs = transcript_docs()
    assert len(docs) == 56
    result = import_dir(transcripts_dir(), database_url, "--turns", "all")
    assert result.returncode == 0, result.stderr
    messages = sum(1 + len(doc["turns"]) for doc in docs.values())
    assert f"56 transcripts added ({messages} turns), 0 already present" in result.stdout
    stored = stored_transcripts(session_factory)
    assert len(stored) == 56
    answers = Counter()
    for where, doc in docs.items():
        slug = where.split("/")[0]
        kept = stored[(slug, doc["scenario_id"])]
        assert kept["mode"] == "transcript"
        # The model's reply is the first answer, exactly as --turns first stores it.
        assert kept["reply"] == doc["turns"][0]["content"].strip()
        assert kept["prompt"] == doc["starter"].strip()
        turns = kept["turns"]
        # Exchange 0: the starter (verbatim, trailing newline and all) and the first answer; then each persona
        # message and the answer to it, in the file's order.
        expected = [(0, "user", doc["starter"])]
        expected += [((n + 1) // 2, t["role"], t["content"]) for n, t in enumerate(doc["turns"])]
        assert [(idx, role, content) for idx, _, role, content, *_ in turns] == expected, where
        assert {side for _, side, *_ in turns} == {"own"}
        assert [author for *_, author, _, _, _ in turns] == ["persona" if r == "user" else "model"
                                                              for _, r, _ in expected]  # fmt: skip
        assert all(own is True for _, _, role, _, _, own, _, _ in turns if role == "assistant")
        # The persona's thoughts, once (thinking and monologue are the same text in every published file).
        persona = [t for t in doc["turns"] if t["role"] == "user"]
        kept_thoughts = [meta for _, _, role, _, _, _, _, meta in turns[1:] if role == "user"]
        assert kept_thoughts == [{"thinking": t["thinking"]} for t in persona]
        # The persona's state before the conversation: on the conversation and on its opening message only.
        assert kept["meta"]["initial_state"] == doc["doc"]["initial_state"]
        assert turns[0][6] == doc["doc"]["initial_state"]
        assert all(state is None for _, _, _, _, _, _, state, _ in turns[1:])
        # The published judge scores and the run's facts, as given (absent in the file: absent here).
        assert {k: v for k, v in kept["meta"].items() if k != "initial_state"} == {
            k: doc[k] for k in KEPT_FIELDS if k in doc
        }
        answers[sum(1 for t in doc["turns"] if t["role"] == "assistant")] += 1
    assert answers == {8: 52, 7: 3, 6: 1}  # the shared folder's README: a few persona_ended chats end early
    with session_factory() as s:
        assert len(s.scalars(select(Model)).all()) == 28


def test_importing_again_or_first_then_all_gives_the_same_rows(database_url, session_factory, tmp_path):
    assert import_dir(transcripts_dir(), database_url, "--turns", "all").returncode == 0
    whole = stored_transcripts(session_factory)
    before = fingerprint(session_factory)
    again = import_dir(transcripts_dir(), database_url, "--turns", "all")
    assert "0 added, 56 already present" in again.stdout and "0 transcripts added (0 turns), 56 already" in again.stdout
    assert fingerprint(session_factory) == before
    # --turns first afterwards changes nothing either: it reads only the first answers, all already stored.
    first = import_dir(transcripts_dir(), database_url)
    assert first.returncode == 0 and "0 added, 56 already present" in first.stdout
    assert fingerprint(session_factory) == before
    # From an empty database, first then all ends where all alone did.
    from tests.conftest import _truncate_all

    if database_url.startswith("sqlite"):
        fresh = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        assert run_arena("init-db", "--database-url", fresh).returncode == 0
    else:
        _truncate_all(database_url)
        fresh = database_url
    assert import_dir(transcripts_dir(), fresh, "--turns", "first").returncode == 0
    from arena.db import make_engine, make_session_factory

    engine = make_engine(fresh)
    try:
        factory = make_session_factory(engine)
        assert stored_transcripts(factory) == {}
        later = import_dir(transcripts_dir(), fresh, "--turns", "all")
        assert "0 added, 56 already present" in later.stdout and "56 transcripts added" in later.stdout
        assert stored_transcripts(factory) == whole
    finally:
        engine.dispose()


def copy_with(tmp_path: Path, where: str, change) -> Path:
    """The shared folder copied to tmp_path with one file changed by `change(doc)`."""
    root = tmp_path / "transcripts"
    shutil.copytree(transcripts_dir(), root, ignore=shutil.ignore_patterns("README*"))
    path = root / where
    doc = json.loads(path.read_text(encoding="utf-8"))
    change(doc)
    path.write_text(json.dumps(doc), encoding="utf-8")
    return root


def swap_turns(doc):
    doc["turns"][3], doc["turns"][4] = doc["turns"][4], doc["turns"][3]


def drop_starter(doc):
    del doc["starter"]


def empty_answer(doc):
    doc["turns"][4]["content"] = "  "


def persona_first(doc):
    doc["turns"].insert(0, {"role": "user", "content": "hi"})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (swap_turns, "turn 4 is 'assistant' where 'user' was due"),
        (persona_first, "turn 1 is 'user' where 'assistant' was due"),
        (drop_starter, "no opening user message ('starter')"),
        (empty_answer, "turn 5 (assistant) has no text"),
    ],
)
def test_a_bad_transcript_is_refused_whole_and_named(database_url, session_factory, tmp_path, change, reason):
    where = "openai_gpt-5.5/40.json"
    root = copy_with(tmp_path, where, change)
    # Some of the arena is already stored: the refused import must leave it exactly as it was.
    assert import_dir(transcripts_dir(), database_url, "--turns", "first").returncode == 0
    before = fingerprint(session_factory)
    result = import_dir(root, database_url, "--turns", "all")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("arena: ") and where in lines[0], result.stderr
    assert reason in lines[0] and lines[0].endswith("nothing was imported"), lines[0]
    assert fingerprint(session_factory) == before
    with session_factory() as s:
        assert s.scalars(select(Turn)).first() is None


def test_a_reply_that_already_opens_another_transcript_is_not_overwritten(database_url, session_factory, tmp_path):
    assert import_dir(transcripts_dir(), database_url, "--turns", "all").returncode == 0
    before = fingerprint(session_factory)

    def rewrite(doc):
        doc["turns"][2]["content"] = "Something else entirely."

    result = import_dir(copy_with(tmp_path, "claude-fable-5/3.json", rewrite), database_url, "--turns", "all")
    assert result.returncode == 2 and "claude-fable-5/3.json: its first reply already opens a different" in (
        result.stderr
    )
    assert fingerprint(session_factory) == before


def test_turns_goes_with_the_eqbench4_format(database_url, tmp_path):
    file = tmp_path / "r.jsonl"
    file.write_text('{"prompt": "p", "model": "m", "reply": "r"}\n')
    result = run_arena("import", "replies", str(file), "--turns", "all", "--database-url", database_url)
    assert result.returncode == 2 and "--turns goes with --format eqbench4" in result.stderr
