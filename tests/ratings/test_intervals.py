"""Intervals checked against the truth: synthetic votes from known strengths, over several seeds."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings.intervals import bootstrap
from ratings.leaderboard import RatingParams, rank_upper_bound, rate
from ratings.simulate import simulate, true_strengths

SEEDS = range(20)


def coverage(method: str, make_battles) -> float:
    hits = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        theta = true_strengths(15, rng)
        battles = make_battles(theta, rng)
        # Clusters given, every method would use them: only the voter-clustered one is given them here.
        clusters = battles.aggregate_by_voter() if method == "cluster" else None
        board = rate(battles.aggregate(), RatingParams(ci=method, rounds=200, seed=seed), clusters)
        truth = bt.to_elo(theta)
        hits.extend((board.ci_low <= truth) & (truth <= board.ci_high))
    return float(np.mean(hits))


def independent(theta, rng):
    return simulate(theta, 6000, rng, n_voters=3000)


def repeat_voters(theta, rng):
    return simulate(theta, 1500, rng, n_voters=300).repeated(8)


@pytest.mark.parametrize("method", ["bootstrap", "sandwich", "cluster"])
def test_95_percent_intervals_cover_the_truth_for_at_least_90_percent_of_models(method):
    assert coverage(method, independent) >= 0.90


def test_only_the_voter_clustered_bootstrap_survives_repeat_voters():
    assert coverage("cluster", repeat_voters) >= 0.90
    assert coverage("bootstrap", repeat_voters) < 0.75  # the others believe there is 8x more evidence


def test_sandwich_and_bootstrap_agree_on_width():
    rng = np.random.default_rng(3)
    outcomes = simulate(true_strengths(10, rng), 20_000, rng).aggregate()
    widths = [
        rate(outcomes, RatingParams(ci=m, rounds=400, seed=1)).ci_high
        - rate(outcomes, RatingParams(ci=m, rounds=400, seed=1)).ci_low
        for m in ("bootstrap", "sandwich")
    ]
    assert np.all(np.abs(widths[0] / widths[1] - 1) < 0.25)


def test_bootstrap_is_reproducible_for_a_seed():
    rng = np.random.default_rng(0)
    outcomes = simulate(true_strengths(8, rng), 3000, rng).aggregate()
    first = bootstrap(outcomes, 300, np.random.default_rng(42))
    assert np.array_equal(first, bootstrap(outcomes, 300, np.random.default_rng(42)))
    assert not np.array_equal(first, bootstrap(outcomes, 300, np.random.default_rng(43)))
    assert first.shape == (300, 8)


def test_bootstrap_resamples_whole_battles_of_the_same_total():
    rng = np.random.default_rng(0)
    outcomes = simulate(true_strengths(6, rng), 2000, rng).aggregate()
    draws = bootstrap(outcomes, 200, np.random.default_rng(1))
    point = bt.fit(outcomes.win_matrix())
    # Centred near the point estimate, and spread like the sampling error of 2,000 battles.
    assert np.all(np.abs(draws.mean(axis=0) - point) < 0.05)
    assert 0.03 < draws.std(axis=0).mean() < 0.2


def test_rank_upper_bound():
    low, high = np.array([10.0, 5.0, 0.0, 9.0]), np.array([20.0, 8.0, 6.0, 12.0])
    assert rank_upper_bound(low, high).tolist() == [1, 3, 3, 1]


def test_leaderboard_totals_and_pairwise_matrices():
    rng = np.random.default_rng(9)
    battles = simulate(true_strengths(5, rng), 4000, rng)
    outcomes = battles.aggregate()
    board = rate(outcomes, RatingParams(ci="sandwich"))
    assert board.battles.sum() == 2 * 4000
    for k in range(5):
        mine = (battles.model_a == k) | (battles.model_b == k)
        assert board.battles[k] == mine.sum()
        won = ((battles.model_a == k) & (battles.outcome == 0)) | ((battles.model_b == k) & (battles.outcome == 1))
        assert board.wins[k] == won.sum()
    off = ~np.eye(5, dtype=bool)
    assert np.allclose((board.pair_win_rate + board.pair_win_rate.T)[off], 1.0)
    assert np.allclose(board.pair_battles, board.pair_battles.T)
    assert np.all(board.ci_low < board.rating) and np.all(board.rating < board.ci_high)


def test_anchor_pins_one_model_and_keeps_gaps():
    rng = np.random.default_rng(2)
    outcomes = simulate(true_strengths(6, rng), 5000, rng).aggregate()
    free = rate(outcomes, RatingParams(ci="sandwich"))
    pinned = rate(outcomes, RatingParams(ci="sandwich", anchor=(2, 1500.0)))
    assert pinned.rating[2] == pytest.approx(1500.0)
    assert np.allclose(np.diff(pinned.rating), np.diff(free.rating))
    assert pinned.ci_high[2] - pinned.ci_low[2] == pytest.approx(0.0, abs=1e-6)  # measured against itself


def test_clustered_method_requires_voters():
    rng = np.random.default_rng(0)
    outcomes = simulate(true_strengths(3, rng), 100, rng).aggregate()
    with pytest.raises(ValueError, match="voter"):
        rate(outcomes, RatingParams(ci="cluster", rounds=10))
    with pytest.raises(ValueError, match="ci must be"):
        RatingParams(ci="jackknife")
