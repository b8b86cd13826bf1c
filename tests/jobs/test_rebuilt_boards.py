"""Numbers a reviewer can rebuild (both databases): the anonymous-only board against FastChat's own method, a
board rebuilt as of a date, clustered intervals that refuse to be zero-width with one placeholder voter, rank
intervals from the bootstrap draws, and slugs for every model named in `recompute --json`."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import func, select

from arena.models import PairWeight, Rating, RatingRun
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.fastchat_method import centred, fastchat_ratings
from tests.votes_files import WINNER, write_jsonl

NAMES = ["SDXL", "SDXLTurbo", "LCM", "OpenJourney", "PixArtAlpha", "PlayGroundV2"]
DAY = 86_400
START = 1_707_696_000  # 2024-02-12 00:00 UTC
SECRET = "reviewer-test-secret-0123456789abcdefXYZ"


def arena_records(n: int, seed: int) -> list[dict]:
    """FastChat-style battles (no question_id): a fifth voted with the names shown, where people favour the last
    model far beyond its strength, so the anonymous and the full boards differ by tens of points."""
    rng = np.random.default_rng(seed)
    battles = simulate(true_strengths(len(NAMES), rng), n, rng, n_voters=50)
    records = []
    for k, (a, b, o) in enumerate(zip(battles.model_a, battles.model_b, battles.outcome, strict=True)):
        anony = bool(rng.random() > 0.2)
        winner = WINNER[int(o)]
        if not anony and NAMES[b] == NAMES[-1]:
            winner = "model_b"
        elif not anony and NAMES[a] == NAMES[-1]:
            winner = "model_a"
        records.append({"model_a": NAMES[a], "model_b": NAMES[b], "winner": winner, "judge": "arena_user_::1",
                        "anony": anony, "tstamp": START + k * (10 * DAY) / n})  # fmt: skip
    return records


def imported(database_url, tmp_path, records) -> None:
    path = write_jsonl(tmp_path / "clean_battle.jsonl", records)
    result = run_arena("import", "votes", str(path), "--database-url", database_url, env={"ARENA_SECRET_KEY": SECRET})
    assert result.returncode == 0, result.stderr


def recompute_json(database_url: str, *args: str) -> dict:
    result = run_arena("ratings", "recompute", "--json", "--database-url", database_url, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_anonymous_only_board_is_fastchats_anony_column(database_url, tmp_path, client, session_factory):
    records = arena_records(4000, seed=3)
    imported(database_url, tmp_path, records)
    current = recompute_json(database_url, "--bootstrap", "50")
    anony = recompute_json(database_url, "--anony-only", "--bootstrap", "50")
    assert anony["status"] == "anony-only" and anony["scope"] == {"anony_only": True, "as_of": None}
    assert anony["n_votes"] == sum(r["anony"] for r in records) < current["n_votes"] == len(records)
    assert anony["categories"] == ["overall"]

    ours = {r["model"]: r["rating"] for r in anony["ratings"]}
    theirs = centred(fastchat_ratings(records, anony_only=True), NAMES)
    assert max(abs(centred(ours, NAMES)[m] - theirs[m]) for m in NAMES) < 0.5
    full = centred(fastchat_ratings(records, anony_only=False), NAMES)
    # Without the filter the board is the full column, far from the anonymous one.
    assert abs(full[NAMES[-1]] - theirs[NAMES[-1]]) > 15

    # Served apart: the current board stays the run of every vote; anony=only is the rebuilt one.
    board = client.get("/api/leaderboard").get_json()
    assert board["run_id"] == current["run_id"] and board["status"] == "complete" and board["scope"] is None
    served = client.get("/api/leaderboard?anony=only").get_json()
    assert served["run_id"] == anony["run_id"] and served["status"] == "anony-only"
    assert {r["model"]: r["rating"] for r in served["ratings"]} == ours
    assert client.get("/api/leaderboard?anony=maybe").status_code == 400
    with session_factory() as s:
        # Active sampling keeps reading the current board's weights.
        assert s.scalar(select(func.max(PairWeight.run_id))) == current["run_id"]
        assert s.get(RatingRun, anony["run_id"]).status == "anony-only"


def test_no_anonymous_only_board_is_a_404_with_the_command(database_url, tmp_path, client):
    imported(database_url, tmp_path, arena_records(200, seed=4))
    recompute_json(database_url, "--bootstrap", "20")
    answer = client.get("/api/leaderboard?anony=only")
    assert answer.status_code == 404 and "--anony-only" in answer.get_json()["error"]
    shown = run_arena("ratings", "show", "--anony-only", "--database-url", database_url)
    assert shown.returncode == 2 and "--anony-only" in shown.stderr and len(shown.stderr.strip().splitlines()) == 1


def test_as_of_rebuilds_the_board_from_the_votes_cast_up_to_that_date(database_url, tmp_path, client):
    records = arena_records(1000, seed=5)
    imported(database_url, tmp_path, records)
    current = recompute_json(database_url, "--bootstrap", "20")
    # 2024-02-15: the first four of the ten days (the whole day counts).
    as_of = recompute_json(database_url, "--as-of", "2024-02-15", "--bootstrap", "20")
    cutoff = START + 4 * DAY
    assert as_of["n_votes"] == sum(r["tstamp"] < cutoff for r in records) < len(records)
    assert as_of["status"] == "as-of" and as_of["scope"]["as_of"].startswith("2024-02-15T23:59:59")
    assert client.get("/api/leaderboard").get_json()["run_id"] == current["run_id"]
    served = client.get(f"/api/leaderboard?run={as_of['run_id']}").get_json()
    assert served["status"] == "as-of" and served["n_votes"] == as_of["n_votes"]
    assert client.get("/api/leaderboard?run=999999").status_code == 404
    shown = run_arena("ratings", "show", "--run", str(as_of["run_id"]), "--json", "--database-url", database_url)
    assert shown.returncode == 0 and json.loads(shown.stdout) == served

    bad = run_arena("ratings", "recompute", "--as-of", "15/02/2024", "--database-url", database_url)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "--as-of" in bad.stderr
    emotion = run_arena("ratings", "recompute", "--as-of", "2024-02-15", "--category", "Sadness",
                        "--database-url", database_url)  # fmt: skip
    assert emotion.returncode == 2 and "overall board only" in emotion.stderr


def test_one_placeholder_voter_never_gives_a_zero_width_interval(database_url, tmp_path, client, session_factory):
    imported(database_url, tmp_path, arena_records(600, seed=6))
    result = run_arena("ratings", "recompute", "--ci", "cluster", "--bootstrap", "50", "--json",
                       "--database-url", database_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert any("1 cluster, fewer than" in w for w in out["warnings"]), out["warnings"]
    assert "fewer than" in result.stderr
    assert all(r["ci_high"] - r["ci_low"] > 1 for r in out["ratings"])
    with session_factory() as s:
        widths = s.execute(select(Rating.ci_high - Rating.ci_low).where(Rating.run_id == out["run_id"])).scalars()
        assert min(widths) > 1
    board = client.get("/api/leaderboard").get_json()
    assert board["warnings"] and all(r["ci_high"] > r["ci_low"] for r in board["ratings"])


def test_rank_intervals_come_from_the_draws(database_url, tmp_path, client):
    # A clear best model and two indistinguishable ones.
    rng = np.random.default_rng(7)
    records = []
    for k in range(900):
        a, b = rng.choice(3, size=2, replace=False)
        strength = {0: 2.0, 1: 0.0, 2: 0.0}
        p = 1 / (1 + np.exp(strength[b] - strength[a]))
        records.append({"question_id": f"r{k}", "model_a": f"m{a}", "model_b": f"m{b}",
                        "winner": "model_a" if rng.random() < p else "model_b"})  # fmt: skip
    imported(database_url, tmp_path, records)
    for ci in ("bootstrap", "sandwich"):
        out = recompute_json(database_url, "--ci", ci, "--bootstrap", "200")
        ranks = {r["model"]: r["rank_ci"] for r in out["ratings"]}
        assert ranks["m0"] == [1, 1], ci
        assert ranks["m1"] == ranks["m2"] == [2, 3], ci
        board = client.get("/api/leaderboard").get_json()
        assert {r["model"]: r["rank_ci"] for r in board["ratings"]} == ranks


def test_recompute_json_names_every_model_by_slug(database_url, tmp_path):
    # Two components: models never compared with each other.
    records = [{"question_id": f"s{k}", "model_a": "left-a" if k % 2 else "right-a",
                "model_b": "left-b" if k % 2 else "right-b", "winner": "model_a" if k % 3 else "model_b"}
               for k in range(120)]  # fmt: skip
    imported(database_url, tmp_path, records)
    out = recompute_json(database_url, "--bootstrap", "20")
    assert sorted(sorted(c) for c in out["components"]) == [["left-a", "left-b"], ["right-a", "right-b"]]
    assert "model_id" not in json.dumps(out)
