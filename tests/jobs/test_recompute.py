"""`arena ratings recompute`: SQL aggregation -> BT fit -> one immutable snapshot, on both backends."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from sqlalchemy import select, update

from arena.db import make_engine, make_session_factory, transaction
from arena.jobs.recompute import RecomputeRequest, aggregate, recompute
from arena.jobs.snapshots import board_matrices
from arena.models import Battle, Prompt, PromptEmotion, Rating, RatingRun, Vote
from arena.taxonomy import EMONET_GROUPS
from ratings import bradley_terry as bt
from ratings.leaderboard import RatingParams, rate
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.votes_files import battle_records, write_jsonl

NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]


@pytest.fixture
def imported(database_url, tmp_path):
    rng = np.random.default_rng(21)
    battles = simulate(true_strengths(len(NAMES), rng), 3000, rng, n_voters=200)
    path = write_jsonl(tmp_path / "votes.jsonl", battle_records(battles, NAMES))
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    return battles


def recompute_json(database_url, *args):
    result = run_arena("ratings", "recompute", "--database-url", database_url, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # exactly one JSON object, nothing else on stdout


def test_json_output_matches_an_in_memory_fit_of_the_same_battles(database_url, imported):
    out = recompute_json(database_url, "--bootstrap", "300", "--seed", "5")
    assert set(out) >= {"run_id", "n_votes", "ratings"} and out["n_votes"] == 3000
    ratings = out["ratings"]
    assert [r["rating"] for r in ratings] == sorted((r["rating"] for r in ratings), reverse=True)
    assert set(ratings[0]) == {"model", "rating", "ci_low", "ci_high", "rank_ub", "rank_ci", "battles", "win_rate"}
    board = rate(imported.aggregate(), RatingParams(rounds=300, seed=5))
    expected = {NAMES[k]: board.rating[k] for k in range(len(NAMES))}
    for row in ratings:
        assert row["rating"] == pytest.approx(expected[row["model"]], abs=1e-3)
        k = NAMES.index(row["model"])
        assert row["battles"] == board.battles[k]
        assert row["ci_low"] < row["rating"] < row["ci_high"]
        assert abs((row["ci_high"] - row["ci_low"]) - (board.ci_high[k] - board.ci_low[k])) < 5
    truth = bt.to_elo(imported.theta)
    assert np.corrcoef([expected[n] for n in NAMES], truth)[0, 1] > 0.95


def test_sql_aggregate_equals_counting_in_python(session_factory, imported):
    with session_factory() as s:
        model_ids, outcomes = aggregate(s, None)
        slugs = {b.model_a_id: b.model_a.slug for b in s.scalars(select(Battle))}
    order = [NAMES.index(slugs[m]) for m in model_ids]
    ours = outcomes.win_matrix()
    expected = imported.aggregate().win_matrix()[np.ix_(order, order)]
    assert np.array_equal(ours, expected)


def test_runs_are_immutable_snapshots_with_their_parameters(database_url, session_factory, imported):
    first = recompute_json(database_url, "--bootstrap", "50", "--seed", "1")
    with session_factory() as s:
        before = s.execute(
            select(Rating.model_id, Rating.rating, Rating.ci_low).where(Rating.run_id == first["run_id"])
        ).all()
        # Votes change: later runs see them, the first run does not.
        s.execute(update(Vote).where(Vote.id <= 500).values(counts_for_leaderboard=False, exclusion_reason="test"))
        s.commit()
    # Changed by hand, past the maintained counts: --recount counts every vote again.
    second = recompute_json(database_url, "--bootstrap", "50", "--seed", "1", "--ci", "sandwich", "--recount")
    assert second["run_id"] != first["run_id"] and second["n_votes"] == 2500
    with session_factory() as s:
        after = s.execute(
            select(Rating.model_id, Rating.rating, Rating.ci_low).where(Rating.run_id == first["run_id"])
        ).all()
        run = s.get(RatingRun, second["run_id"])
        assert after == before
        assert run.params["ci"] == "sandwich" and run.params["rounds"] == 50 and run.seed == 1
        assert run.code_version and run.n_votes == 2500 and run.finished_at >= run.started_at
        assert len(board_matrices(s, run.id, "overall")["model_ids"]) == len(NAMES)


def test_two_runs_at_once_both_complete_intact(database_url, imported):
    engine = make_engine(database_url)
    factory, reader = make_session_factory(engine), make_session_factory(engine, read_only=True)
    results, errors = [], []

    def run(seed):
        try:
            results.append(recompute(factory, reader, RecomputeRequest(rounds=100, seed=seed)))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with factory() as s:
        for result in results:
            rows = s.scalars(select(Rating).where(Rating.run_id == result.run_id)).all()
            assert len(rows) == len(NAMES) and {r.category for r in rows} == {"overall"}
    assert len({r.run_id for r in results}) == 3
    engine.dispose()


def test_per_category_ratings_follow_prompt_emotions(database_url, session_factory, client, demo_loaded):
    # Vote on demo battles through the site; every demo prompt carries EmoNet tags.
    from tests.conftest import parse_battle_page

    for k in range(120):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        client.post(action, data={"outcome": ["model_a", "model_b", "tie"][k % 3], "csrf_token": csrf})
    out = recompute_json(database_url, "--bootstrap", "20")
    assert out["categories"][0] == "overall" and len(out["categories"]) > 1
    with session_factory() as s:
        sad_votes = len(
            s.scalars(
                select(Vote.id).join(Battle).join(Prompt).join(PromptEmotion).where(PromptEmotion.category == "Sadness")
            ).all()
        )
    sad = recompute_json(database_url, "--bootstrap", "20", "--category", "sadness")
    assert sad["category"] == "Sadness" and sad["n_votes"] == sad_votes < 120
    assert sum(r["battles"] for r in sad["ratings"]) == 2 * sad_votes


def test_anchor_pins_a_model(database_url, imported):
    out = recompute_json(database_url, "--ci", "sandwich", "--anchor", "charlie=1200")
    charlie = next(r for r in out["ratings"] if r["model"] == "charlie")
    assert charlie["rating"] == pytest.approx(1200.0)


def test_voter_clustered_intervals_from_the_database(database_url, imported):
    out = recompute_json(database_url, "--ci", "cluster", "--bootstrap", "100")
    assert all(r["ci_low"] < r["rating"] < r["ci_high"] for r in out["ratings"])
    assert out["warnings"] == []  # every imported vote names its voter


def test_clustered_intervals_without_voters_say_so(database_url, tmp_path):
    rng = np.random.default_rng(3)
    battles = simulate(true_strengths(len(NAMES), rng), 400, rng)
    records = [{k: v for k, v in r.items() if k != "judge_hash"} for r in battle_records(battles, NAMES)]
    path = write_jsonl(tmp_path / "anonymous.jsonl", records)
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    result = run_arena("ratings", "recompute", "--ci", "cluster", "--bootstrap", "50", "--json",
                       "--database-url", database_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no counted vote names its voter" in result.stderr
    assert json.loads(result.stdout)["warnings"][0].startswith("--ci cluster: no counted vote")
    plain = run_arena("ratings", "recompute", "--bootstrap", "50", "--json", "--database-url", database_url)
    assert json.loads(plain.stdout)["warnings"] == [] and "warning" not in plain.stderr


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--category", "Glee"], "unknown category"),
        (["--anchor", "nobody"], "no model with slug"),
        (["--anchor", "alpha=high"], "--anchor takes"),
    ],
)
def test_bad_requests_exit_2(database_url, imported, args, reason):
    result = run_arena("ratings", "recompute", "--database-url", database_url, *args)
    assert result.returncode == 2 and reason in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_no_votes_exit_2(database_url):
    result = run_arena("ratings", "recompute", "--database-url", database_url)
    assert result.returncode == 2 and "no counted votes" in result.stderr


def test_excluded_votes_do_not_count(session_factory, imported, database_url):
    with transaction(session_factory) as s:
        s.execute(update(Vote).values(counts_for_leaderboard=False, exclusion_reason="test"))
    result = run_arena("ratings", "recompute", "--recount", "--database-url", database_url)
    assert result.returncode == 2 and "no counted votes" in result.stderr


def test_pooled_boards_summary_and_pair_weights_are_stored(database_url, session_factory, client, demo_loaded):
    from sqlalchemy import func

    from arena.jobs.boards import GROUPS, family_counts
    from arena.models import PairWeight
    from tests.conftest import parse_battle_page

    for k in range(150):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        client.post(action, data={"outcome": ["model_a", "model_b", "tie", "both_bad"][k % 4], "csrf_token": csrf})
    out = recompute_json(database_url, "--bootstrap", "50")
    groups = [c for c in out["categories"] if c in out["boards"]]
    assert groups and all(0 <= out["boards"][g]["borrowed"] <= 1 for g in groups)
    assert 0 < out["ties"]["ci_low"] <= out["ties"]["propensity"] <= out["ties"]["ci_high"] < 1
    assert out["position"]["a_share_low"] <= out["position"]["a_share"] <= out["position"]["a_share_high"]
    with session_factory() as s:
        run = s.get(RatingRun, out["run_id"])
        assert run.summary["components"] and run.summary["pooling"] is True
        total = s.scalar(select(func.sum(PairWeight.probability)).where(PairWeight.run_id == run.id))
        assert total == pytest.approx(1.0)
        board = s.scalars(select(Rating).where(Rating.run_id == run.id, Rating.category == groups[0])).all()
        assert board and all(0 <= r.borrowed <= 1 and r.component == 0 for r in board)
        overall = s.scalars(select(Rating).where(Rating.run_id == run.id, Rating.category == "overall")).all()
        assert all(r.borrowed is None and r.both_bad_low <= r.both_bad_share <= r.both_bad_high for r in overall)
        # A battle counts once on a group board however many of the group's categories its prompt carries.
        counted = family_counts(s, GROUPS)
        for group, rows in counted.items():
            battles = {
                (b.id) for b in s.scalars(
                    select(Battle).join(Vote).join(PromptEmotion, PromptEmotion.prompt_id == Battle.prompt_id)
                    .where(PromptEmotion.category.in_(EMONET_GROUPS[group]), Vote.counts_for_leaderboard.is_(True))
                )
            }  # fmt: skip
            assert sum(r[3] for r in rows) == len(battles)
    independent = recompute_json(database_url, "--bootstrap", "50", "--no-pooling")
    assert independent["boards"] == {}
