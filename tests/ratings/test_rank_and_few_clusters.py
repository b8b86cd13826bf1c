"""Rank intervals from the draws, and clustered intervals that fall back rather than collapse to zero width."""

from __future__ import annotations

import numpy as np

from ratings.intervals import ClusteredOutcomes
from ratings.leaderboard import MIN_CLUSTERS, RatingParams, rank_interval, rate
from ratings.simulate import simulate, true_strengths


def test_rank_interval_counts_strictly_stronger_models_per_draw():
    draws = np.array([[3.0, 2.0, 1.0], [3.0, 1.0, 2.0]] * 50)
    low, high = rank_interval(draws)
    assert low.tolist() == [1, 2, 2] and high.tolist() == [1, 3, 3]


NAMES = ["model_a", "model_b", "tie", "both_bad"]


def _battles(seed: int, voters: int):
    rng = np.random.default_rng(seed)
    battles = simulate(true_strengths(5, rng), 800, rng, n_voters=voters)
    rows = {}
    for a, b, o, v in zip(battles.model_a, battles.model_b, battles.outcome, battles.voter, strict=True):
        key = (f"voter-{v}", int(a), int(b), NAMES[int(o)])
        rows[key] = rows.get(key, 0) + 1
    clustered = ClusteredOutcomes.from_rows([(*k, c) for k, c in rows.items()], {m: m for m in range(5)})
    return clustered


def test_one_voter_falls_back_to_independent_votes():
    clustered = _battles(1, voters=1)
    board = rate(clustered.cells, RatingParams(ci="cluster", rounds=200, seed=2), clustered)
    assert board.fallback is not None and "1 cluster," in board.fallback
    assert np.all(board.ci_high - board.ci_low > 1)
    plain = rate(clustered.cells, RatingParams(ci="bootstrap", rounds=200, seed=2))
    # The fallback is the plain bootstrap, draw for draw.
    assert np.allclose(board.ci_low, plain.ci_low) and np.allclose(board.ci_high, plain.ci_high)


def test_enough_voters_keep_the_clustered_interval():
    clustered = _battles(3, voters=MIN_CLUSTERS * 3)
    board = rate(clustered.cells, RatingParams(ci="cluster", rounds=200, seed=2), clustered)
    assert board.fallback is None
    low, high = board.rank_low, board.rank_high
    assert np.all(low >= 1) and np.all(high <= 5) and np.all(low <= high)
    order = np.argsort(-board.rating)
    assert low[order[0]] == 1 and high[order[-1]] == 5
