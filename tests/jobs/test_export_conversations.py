"""Multi-turn battles in and out in LMArena's shapes (conversation_a/_b with every turn, turn,
evaluation_session_id, evaluation_order, full_conversation): export then import gives back every turn and vote,
in JSONL, CSV and Parquet, on both databases; transcript battles export each side's own person; a private
message at a later turn keeps its battle out of a public export."""

from __future__ import annotations

import csv
import json
import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.models import Battle, Conversation, Turn, Vote
from arena.voting.conversations import battle_conversation
from tests.arena_cli import run_arena

FORMATS = ["jsonl", "csv", "parquet"]


def _battle(s, public_id, text, pair, answers, *, when):
    prompt, _ = get_or_create_prompt(s, text, source="user", active=False)
    replies = [get_or_create_reply(s, prompt, m, answer)[0] for m, answer in zip(pair, answers, strict=True)]
    battle = Battle(public_id=public_id, source="live", prompt_id=prompt.id, reply_a_id=replies[0].id,
                    reply_b_id=replies[1].id, model_a_id=pair[0].id, model_b_id=pair[1].id, status="voted",
                    created_at=when)  # fmt: skip
    s.add(battle)
    s.flush()
    return battle, replies


def _shared(s, battle, pair, exchanges, *, session=None, order=None, flags_at=None):
    """A shared conversation: `exchanges` = [(visitor message, answer A, answer B)], exchange 0 the battle's."""
    conversation = Conversation(battle_id=battle.id, mode="shared", evaluation_session=session,
                                evaluation_order=order)  # fmt: skip
    for k, (user, a, b) in enumerate(exchanges):
        meta = {"moderation_flags": ["crisis:self_harm"]} if k == flags_at else {}
        conversation.turns.append(Turn(idx=k, side="both", role="user", content=user, author="visitor", meta=meta))
        conversation.turns.append(Turn(idx=k, side="a", role="assistant", content=a, author="model",
                                       model_id=pair[0].id, latency_ms=900 + k, cost_usd=0.001))  # fmt: skip
        conversation.turns.append(Turn(idx=k, side="b", role="assistant", content=b, author="model",
                                       model_id=pair[1].id))  # fmt: skip
    s.add(conversation)


def _vote(s, battle, outcome, turns, when):
    s.add(Vote(battle_id=battle.id, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id, outcome=outcome,
               turns=turns, created_at=when))  # fmt: skip


@pytest.fixture
def arena(session_factory):
    """Sessions of shared conversations, a single-turn battle, a transcript battle and a battle whose third
    visitor message was flagged crisis."""
    t0 = datetime(2026, 11, 2, 9, 0, 0, 123456, tzinfo=UTC)
    with transaction(session_factory) as s:
        m = [get_or_create_model(s, slug)[0] for slug in ("warm", "brisk", "curious")]
        first = [("My sister stopped talking to me.", "That sounds painful.", "Give her space."),
                 ("It's been a month.", "A month is long.", "Text her."),
                 ("I think it was something I said.", "What do you remember?", "Apologise.")]  # fmt: skip
        battle, _ = _battle(s, "s1-o1", first[0][0], (m[0], m[1]), first[0][1:], when=t0)
        _shared(s, battle, (m[0], m[1]), first, session="sess-1", order=1)
        _vote(s, battle, "model_a", 3, t0)
        # The session goes on with two new models: the person's next message opens a new battle.
        second = [("Should I call her?", "Only if you feel ready.", "Yes, call."),
                  ("I'm scared she won't pick up.", "That fear makes sense.", "She will.")]  # fmt: skip
        battle, _ = _battle(s, "s1-o2", second[0][0], (m[2], m[0]), second[0][1:], when=t0.replace(minute=5))
        _shared(s, battle, (m[2], m[0]), second, session="sess-1", order=2)
        _vote(s, battle, "tie", 2, t0.replace(minute=5))
        # Voted after the first of two exchanges was shown? No: a vote sees what was shown, here both.
        battle, _ = _battle(s, "single", "I got the job!", (m[1], m[2]), ("Congrats!", "Well done."),
                            when=t0.replace(minute=9))  # fmt: skip
        _vote(s, battle, "model_b", 1, t0.replace(minute=9))
        # A transcript battle: each model talked with its own copy of a simulated person.
        battle, replies = _battle(s, "transcript", "My dog is old and sick.", (m[0], m[2]),
                                  ("I'm so sorry.", "That is hard."), when=t0.replace(minute=12))  # fmt: skip
        s.add(Conversation(battle_id=battle.id, mode="transcript", scenario="sc-7"))
        for reply, model, later in ((replies[0], m[0], "The vet says it's time."), (replies[1], m[2], "He won't eat.")):
            own = Conversation(reply_id=reply.id, mode="transcript", scenario="sc-7")
            own.turns = [
                Turn(idx=0, side="own", role="user", content="My dog is old and sick.", author="persona"),
                Turn(idx=0, side="own", role="assistant", content=reply.text, author="model", model_id=model.id),
                Turn(idx=1, side="own", role="user", content=later, author="persona"),
                Turn(idx=1, side="own", role="assistant", content=f"({model.slug}) I hear you.", author="model",
                     model_id=model.id),
            ]  # fmt: skip
            s.add(own)
        _vote(s, battle, "both_bad", 2, t0.replace(minute=12))
        # The third visitor message of this one was screened as crisis: a public export leaves the battle out.
        flagged = [("I can't sleep.", "That's exhausting.", "Try melatonin."),
                   ("Nothing helps.", "Tell me more.", "Exercise."),
                   ("I don't want to be here any more.", "I'm glad you told me.", "Call someone.")]  # fmt: skip
        battle, _ = _battle(s, "flagged", flagged[0][0], (m[1], m[0]), flagged[0][1:], when=t0.replace(minute=20))
        _shared(s, battle, (m[1], m[0]), flagged, flags_at=2)
        _vote(s, battle, "model_b", 3, t0.replace(minute=20))


def snapshot(session_factory) -> dict:
    """Every battle's vote, session and each side's messages, by public id."""
    out = {}
    with session_factory() as s:
        for battle in s.scalars(select(Battle).order_by(Battle.id)):
            vote, conversation = battle.vote, battle.conversation
            seen = battle_conversation(battle) if conversation is not None else None
            out[battle.public_id] = {
                "models": (battle.model_a.slug, battle.model_b.slug),
                "vote": (vote.outcome, vote.created_at.replace(tzinfo=UTC), vote.turns, vote.counts_for_leaderboard),
                "session": (conversation.evaluation_session, conversation.evaluation_order) if conversation else None,
                "a": [(m.role, m.content) for m in seen.a] if seen else None,
                "b": [(m.role, m.content) for m in seen.b] if seen else None,
                "turns": sorted(
                    (t.idx, t.side, t.role, t.content, t.author, t.model.slug if t.model else None)
                    for t in conversation.turns
                )
                if conversation is not None and conversation.mode == "shared"
                else None,
            }
    return out


def wipe_battles(session_factory) -> None:
    with transaction(session_factory) as s:
        owned = select(Conversation.id).where(Conversation.battle_id.is_not(None))
        s.execute(delete(Turn).where(Turn.conversation_id.in_(owned)))
        s.execute(delete(Conversation).where(Conversation.battle_id.is_not(None)))
        s.execute(delete(Vote))
        s.execute(delete(Battle))


def read_rows(path, fmt: str) -> list[dict]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if fmt == "csv":
        with path.open(encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def decoded(value):
    return json.loads(value) if isinstance(value, str) else value


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_then_import_gives_back_every_turn_and_vote(arena, session_factory, database_url, tmp_path, fmt):
    before = snapshot(session_factory)
    out = tmp_path / "export"
    exported = run_arena("export", "--format", fmt, "--out", str(out), "--database-url", database_url)
    assert exported.returncode == 0, exported.stderr
    rows = {r["question_id"]: r for r in read_rows(out / f"battles.{fmt}", fmt)}
    assert set(rows) == set(before)

    first, second, single = rows["s1-o1"], rows["s1-o2"], rows["single"]
    assert decoded(first["conversation_a"])[-1] == {"role": "assistant", "content": "What do you remember?"}
    assert len(decoded(first["conversation_b"])) == 6 and int(first["turn"]) == 3
    assert (first["evaluation_session_id"], int(first["evaluation_order"])) == ("sess-1", 1)
    # full_conversation: the session's exchanges so far, each with that vote's two models' answers.
    full = decoded(second["full_conversation"])
    assert len(full) == 5 and full[3] == {
        "user": {"role": "user", "content": "Should I call her?"},
        "model_side_a": {"role": "assistant", "content": "Only if you feel ready."},
        "model_side_b": {"role": "assistant", "content": "Yes, call."},
    }
    assert decoded(first["full_conversation"]) == full[:3]
    assert int(single["turn"]) == 1 and not single.get("evaluation_session_id") and not single.get("full_conversation")
    assert len(decoded(single["conversation_a"])) == 2
    # A transcript battle: each side's own simulated person.
    transcript = rows["transcript"]
    users = [[m["content"] for m in decoded(transcript[side]) if m["role"] == "user"] for side in
             ("conversation_a", "conversation_b")]  # fmt: skip
    opening = "My dog is old and sick."
    assert users == [[opening, "The vet says it's time."], [opening, "He won't eat."]]

    wipe_battles(session_factory)
    imported = run_arena("import", "votes", str(out / f"battles.{fmt}"), "--database-url", database_url)
    assert imported.returncode == 0, imported.stderr
    assert f"{len(before)} imported" in imported.stdout
    after = snapshot(session_factory)
    for public_id, was in before.items():
        now = after[public_id]
        assert (now["models"], now["vote"]) == (was["models"], was["vote"]), public_id
        assert (now["a"], now["b"]) == (was["a"], was["b"]), public_id
        if was["turns"] is not None:  # shared conversations: every turn row, its side, author and model
            assert now["turns"] == was["turns"] and now["session"] == was["session"], public_id
    assert after["single"]["session"] is None  # a single-turn battle still has no conversation row
    # The transcript battle comes back as a conversation whose two sides had different person's messages.
    with session_factory() as s:
        battle = s.scalars(select(Battle).where(Battle.public_id == "transcript")).one()
        assert {(t.idx, t.side) for t in battle.conversation.turns if t.role == "user"} == {
            (0, "both"),
            (1, "a"),
            (1, "b"),
        }
        kept = s.scalars(select(Battle).where(Battle.public_id == "s1-o2")).one().conversation
        assert kept.meta["full_conversation"] == full
    # A second import adds nothing.
    again = run_arena("import", "votes", str(out / f"battles.{fmt}"), "--database-url", database_url)
    assert "0 imported" in again.stdout
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Conversation).where(Conversation.battle_id.is_not(None))) == 4


def test_a_public_export_leaves_out_a_conversation_flagged_at_a_later_turn(arena, database_url, tmp_path):
    out = tmp_path / "public"
    site_secret = {"ARENA_SECRET_KEY": secrets.token_urlsafe(32)}  # keys the voters' public pseudonyms
    result = run_arena(
        "export", "--format", "jsonl", "--public", "--out", str(out), "--database-url", database_url, env=site_secret
    )
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (out / "battles.jsonl").read_text().splitlines()]
    assert {r["question_id"] for r in rows} == {"s1-o1", "s1-o2", "single", "transcript"}
    assert "I don't want to be here" not in (out / "battles.jsonl").read_text()
    assert "I don't want to be here" not in (out / "kaggle55k.csv").read_text()
    full = run_arena("export", "--format", "jsonl", "--out", str(tmp_path / "all"), "--database-url", database_url)
    assert full.returncode == 0 and "I don't want to be here" in (tmp_path / "all" / "battles.jsonl").read_text()


def test_chunks_of_one_battle_export_the_same_rows(arena, session_factory, tmp_path, monkeypatch):
    """Conversations are read in chunks as battles stream; a session's earlier votes may lie in another chunk."""
    from arena.jobs import export_conversations
    from arena.jobs.export import export

    def rows(out):
        with session_factory() as s:
            export(s, out, "jsonl")
        return (out / "battles.jsonl").read_text()

    whole = rows(tmp_path / "whole")
    monkeypatch.setattr(export_conversations, "CHUNK", 1)
    assert rows(tmp_path / "ones") == whole
    assert '"full_conversation":[{"user"' in whole
