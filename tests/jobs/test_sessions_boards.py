"""Ratings that know about conversations, both backends, through the CLI and the API: the conversations and
single-turn boards, the first-vote board (`/api/leaderboard?order=first`), intervals clustered by evaluation
session, and a single-turn arena without sessions whose stored ratings are bit-identical to the plain path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sqlalchemy import insert, select, update

from arena.db import make_engine, make_session_factory, transaction
from arena.jobs.recompute import RecomputeRequest, aggregate, recompute
from arena.models import Battle, Conversation, Rating, Vote
from ratings.leaderboard import RatingParams, rate
from ratings.simulate import simulate, simulate_sessions, true_strengths
from tests.arena_cli import run_arena
from tests.votes_files import WINNER, write_jsonl

NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]


def _records(battles, with_voters: bool):
    for k, (a, b, o, v) in enumerate(
        zip(battles.model_a, battles.model_b, battles.outcome, battles.voter, strict=True)
    ):
        record = {"question_id": f"q{k}", "model_a": NAMES[a], "model_b": NAMES[b], "winner": WINNER[int(o)],
                  "tstamp": 1_700_000_000 + k}  # fmt: skip
        if with_voters:
            record["judge_hash"] = f"voter-{v}"
        yield record


def _ratings(factory, run_id: int, category: str = "overall") -> list[tuple]:
    with factory() as s:
        rows = s.execute(
            select(Rating.model_id, Rating.rating, Rating.ci_low, Rating.ci_high, Rating.rank_ub, Rating.battles,
                   Rating.wins, Rating.ties)
            .where(Rating.run_id == run_id, Rating.category == category).order_by(Rating.model_id)
        ).all()  # fmt: skip
    return [tuple(r) for r in rows]


@pytest.fixture
def session_arena(database_url, tmp_path):
    """Imported votes (no voter keys) of 60 evaluation sessions of 12 votes that share a session effect, plus 300
    votes without a session; within each session every third vote came after two or three exchanges."""
    rng = np.random.default_rng(20)
    battles = simulate_sessions(true_strengths(len(NAMES), rng, 0.6), 60, 12, rng, session_sd=1.5, single_votes=300)
    path = write_jsonl(tmp_path / "votes.jsonl", _records(battles, with_voters=False))
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    order: dict[int, int] = {}
    conversations, turns = [], {}
    with transaction(factory) as s:
        ids = dict(s.execute(select(Battle.public_id, Battle.id)).all())
        for k, session_id in enumerate(battles.voter.tolist()):
            if session_id < 0:
                continue
            order[session_id] = order.get(session_id, 0) + 1
            many = order[session_id] % 3 == 0
            conversations.append({"battle_id": ids[f"q{k}"], "mode": "shared" if many else "single",
                                  "evaluation_session": f"s{session_id}", "evaluation_order": order[session_id],
                                  "meta": {}})  # fmt: skip
            if many:
                turns.setdefault(2 + order[session_id] % 2, []).append(ids[f"q{k}"])
        s.execute(insert(Conversation), conversations)
        for n, battle_ids in turns.items():
            s.execute(update(Vote).where(Vote.battle_id.in_(battle_ids)).values(turns=n))
    engine.dispose()
    multi = sum(len(v) for v in turns.values())
    return {"battles": battles, "multi": multi, "sessions": len(order), "in_sessions": len(conversations)}


def recompute_json(database_url, *args):
    result = run_arena("ratings", "recompute", "--database-url", database_url, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_a_single_turn_arena_without_sessions_is_bit_identical_to_the_plain_path(database_url, tmp_path):
    rng = np.random.default_rng(4)
    battles = simulate(true_strengths(len(NAMES), rng), 1500, rng, n_voters=80)
    path = write_jsonl(tmp_path / "votes.jsonl", _records(battles, with_voters=True))
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    for ci in ("bootstrap", "sandwich", "cluster"):
        clustered = recompute(factory, factory, RecomputeRequest(ci=ci, rounds=150, seed=9))
        plain = recompute(factory, factory, RecomputeRequest(ci=ci, rounds=150, seed=9, session_clusters=False))
        assert _ratings(factory, clustered.run_id) == _ratings(factory, plain.run_id)  # bit for bit
        assert clustered.summary["sessions"] == {"sessions": 0, "votes_in_sessions": 0, "later_votes": 0,
                                                 "multi_turn_votes": 0, "clustered_by": "voter" if ci == "cluster"
                                                 else None, "clusters": 80 if ci == "cluster" else None}  # fmt: skip
        assert {r.category for r in clustered.results} & {"conversations", "single-turn", "overall:first"} == set()
    # ...and the same numbers as the engine's plain bootstrap on the SQL counts, as before sessions existed.
    with factory() as s:
        model_ids, outcomes = aggregate(s, None)
    board = rate(outcomes, RatingParams(rounds=150, seed=9))
    run = recompute(factory, factory, RecomputeRequest(rounds=150, seed=9))
    stored = {r[0]: r for r in _ratings(factory, run.run_id)}
    for k, model_id in enumerate(model_ids):
        assert (stored[model_id][1], stored[model_id][2], stored[model_id][3]) == (
            float(board.rating[k]), float(board.ci_low[k]), float(board.ci_high[k]))  # fmt: skip
    engine.dispose()


def test_conversation_and_first_vote_boards_and_session_clusters_through_the_cli(database_url, session_arena):
    out = recompute_json(database_url, "--bootstrap", "300", "--seed", "2")
    assert {"overall", "conversations", "single-turn", "overall:first"} <= set(out["categories"])
    sessions = out["sessions"]
    assert sessions["sessions"] == session_arena["sessions"] == 60
    assert sessions["votes_in_sessions"] == session_arena["in_sessions"] == 720
    assert sessions["later_votes"] == 720 - 60
    assert sessions["multi_turn_votes"] == session_arena["multi"]
    assert sessions["clustered_by"] == "session" and sessions["clusters"] == 60 + 300
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    run_id = out["run_id"]
    by_board = {
        c: {r[0]: r for r in _ratings(factory, run_id, c)}
        for c in ("overall", "conversations", "single-turn", "overall:first")
    }
    battles = {c: sum(r[5] for r in rows.values()) // 2 for c, rows in by_board.items()}
    assert battles["conversations"] == session_arena["multi"]
    assert battles["single-turn"] + battles["conversations"] == battles["overall"] == 1020
    assert battles["overall:first"] == 300 + 60  # the votes without a session and each session's first

    # The same votes with every vote independent: the session-clustered intervals are wider.
    plain = recompute_json(database_url, "--bootstrap", "300", "--seed", "2", "--no-session-clusters")
    assert plain["sessions"]["clustered_by"] is None
    wide = [r[3] - r[2] for r in by_board["overall"].values()]
    narrow = [r[3] - r[2] for r in {r[0]: r for r in _ratings(factory, plain["run_id"])}.values()]
    assert np.mean(wide) > 1.1 * np.mean(narrow)
    assert [r[1] for r in by_board["overall"].values()] == [r[1] for r in _ratings(factory, plain["run_id"])]

    # The analysis of a run with these boards analyses the emotion boards only, and clusters by session.
    analysis = run_arena("analysis", "eq", "--json", "--database-url", database_url)
    assert analysis.returncode == 0, analysis.stderr
    assert json.loads(analysis.stdout)["clustered_by_voter"] is True  # 60 sessions and 300 single votes
    # A sandwich and a voter-clustered run cluster by session too (these votes name no voter).
    assert recompute_json(database_url, "--ci", "sandwich")["sessions"]["clustered_by"] == "session"
    cluster = recompute_json(database_url, "--ci", "cluster", "--bootstrap", "100")
    assert cluster["sessions"]["clustered_by"] == "voter" and cluster["warnings"]
    engine.dispose()


def test_the_api_serves_the_conversation_boards_and_the_first_votes(database_url, session_arena, client):
    recompute_json(database_url, "--bootstrap", "200")
    overall = client.get("/api/leaderboard").get_json()
    assert overall["order"] == "all" and overall["sessions"]["clustered_by"] == "session"
    conversations = client.get("/api/leaderboard?category=Conversations").get_json()
    assert conversations["category"] == "conversations" and conversations["n_votes"] == session_arena["multi"]
    single = client.get("/api/leaderboard?category=single-turn").get_json()
    assert single["n_votes"] + conversations["n_votes"] == overall["n_votes"] == 1020
    first = client.get("/api/leaderboard?order=first").get_json()
    assert first["order"] == "first" and first["category"] == "overall" and first["n_votes"] == 360
    assert first["run_id"] == overall["run_id"]
    for query, status, reason in (("order=last", 400, "unknown order"), ("category=threads", 400, "unknown category"),
                                  ("order=first&category=conversations", 404, "overall board only")):  # fmt: skip
        response = client.get(f"/api/leaderboard?{query}")
        assert response.status_code == status and reason in response.get_json()["error"]
    page = client.get("/leaderboard").get_data(as_text=True)
    assert 'href="/leaderboard?category=conversations"' in page and "First vote of each session" in page
    page = client.get("/leaderboard?category=conversations").get_data(as_text=True)
    assert "Conversations" in page and f"from {session_arena['multi']:,} votes" in page
    page = client.get("/leaderboard?order=first").get_data(as_text=True)
    assert "from 360 votes" in page


def test_without_later_votes_the_first_vote_board_is_the_overall_board(database_url, tmp_path, client):
    rng = np.random.default_rng(8)
    battles = simulate(true_strengths(len(NAMES), rng), 400, rng, n_voters=40)
    path = write_jsonl(tmp_path / "votes.jsonl", _records(battles, with_voters=True))
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    assert client.get("/api/leaderboard?order=first").status_code == 404  # nothing computed yet
    recompute_json(database_url, "--bootstrap", "50")
    overall, first = (client.get(f"/api/leaderboard?order={o}").get_json() for o in ("all", "first"))
    assert first["order"] == "first" and first["ratings"] == overall["ratings"]
    page = client.get("/leaderboard").get_data(as_text=True)
    assert "category=conversations" not in page and "First vote of each session" not in page


def test_arena_ratings_show_prints_the_stored_boards(database_url, session_arena):
    recompute_json(database_url, "--bootstrap", "100")
    first = run_arena("ratings", "show", "--order", "first", "--json", "--database-url", database_url)
    assert first.returncode == 0, first.stderr
    board = json.loads(first.stdout)
    assert board["order"] == "first" and board["n_votes"] == 360 and len(board["ratings"]) == len(NAMES)
    text = run_arena("ratings", "show", "--category", "conversations", "--database-url", database_url)
    assert text.returncode == 0 and f"conversations: {session_arena['multi']} votes" in text.stdout
    for args, reason in ((["--order", "first", "--category", "single-turn"], "overall board only"),
                         (["--category", "threads"], "unknown category")):  # fmt: skip
        bad = run_arena("ratings", "show", *args, "--database-url", database_url)
        assert bad.returncode == 2 and reason in bad.stderr and bad.stdout == ""
