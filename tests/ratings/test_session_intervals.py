"""Intervals clustered by evaluation session: whole sessions resampled, votes without one kept as counts (never a
row each), the cluster-robust sandwich, and the truth such intervals should cover. The coverage target itself
(200 arenas) is tests/benchmarks/session_clustering_bench.py; here a few arenas check the direction."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings import intervals
from ratings.intervals import ClusteredOutcomes
from ratings.leaderboard import RatingParams, rate
from ratings.outcomes import PairOutcomes
from ratings.simulate import (
    population_strengths,
    session_rows,
    simulate,
    simulate_sessions,
    true_strengths,
)


def _arena(seed: int, session_sd: float = 1.5, sessions: int = 80, per_session: int = 20, singles: int = 200):
    rng = np.random.default_rng(seed)
    theta = true_strengths(6, rng, 0.6)
    return theta, simulate_sessions(theta, sessions, per_session, rng, session_sd=session_sd, single_votes=singles)


def test_from_sessions_keeps_the_votes_without_a_session_as_counts():
    _, battles = _arena(1)
    outcomes = battles.aggregate()
    rows = session_rows(battles)
    clustered = ClusteredOutcomes.from_sessions(outcomes, rows)
    assert clustered.n_clusters == 80 and clustered.n_singles == 200
    assert clustered.cells is outcomes
    per_cell = np.bincount(clustered.cell, clustered.count, len(outcomes.count)) + clustered.singles
    assert np.array_equal(per_cell, outcomes.count)  # every vote once: in its session or on its own
    shuffled = ClusteredOutcomes.from_sessions(outcomes, rows[::-1])
    order = np.lexsort((shuffled.cell, shuffled.cluster)), np.lexsort((clustered.cell, clustered.cluster))
    assert np.array_equal(shuffled.cluster[order[0]], clustered.cluster[order[1]])
    assert np.array_equal(shuffled.cell[order[0]], clustered.cell[order[1]])
    too_many = [(s, a, b, o, c * 1000) for s, a, b, o, c in rows]
    with pytest.raises(ValueError, match="more votes than the board"):
        ClusteredOutcomes.from_sessions(outcomes, too_many)
    with pytest.raises(ValueError, match="outside the board"):
        ClusteredOutcomes.from_sessions(PairOutcomes(6, outcomes.model_a[:1], outcomes.model_b[:1],
                                                     outcomes.outcome[:1], outcomes.count[:1]), rows)  # fmt: skip


def test_without_sessions_the_clustered_intervals_are_the_independent_ones():
    rng = np.random.default_rng(5)
    outcomes = simulate(true_strengths(8, rng), 6000, rng).aggregate()
    alone = ClusteredOutcomes.from_sessions(outcomes, [])
    theta = bt.fit(outcomes.win_matrix())
    # The sandwich: every vote its own cluster is exactly the per-battle sandwich.
    assert np.allclose(intervals.clustered_sandwich_covariance(alone, theta),
                       intervals.sandwich_covariance(outcomes, theta), rtol=1e-10, atol=1e-14)  # fmt: skip
    # The bootstrap: the same distribution (other draws), so the same widths up to Monte Carlo error.
    plain = rate(outcomes, RatingParams(rounds=1000, seed=1))
    singles = rate(outcomes, RatingParams(rounds=1000, seed=1), alone)
    ratio = (singles.ci_high - singles.ci_low) / (plain.ci_high - plain.ci_low)
    assert np.all(np.abs(ratio - 1) < 0.12) and abs(np.mean(ratio) - 1) < 0.05
    assert np.array_equal(plain.rating, singles.rating)


def test_sessions_of_one_vote_are_single_votes_to_the_sandwich():
    _, battles = _arena(2, sessions=0, singles=3000)
    outcomes = battles.aggregate()
    theta = bt.fit(outcomes.win_matrix())
    keys = (outcomes.model_a * 6 + outcomes.model_b) * 4 + outcomes.outcome
    rows = []  # each vote its own one-vote session
    for key, count in zip(keys.tolist(), outcomes.count.tolist(), strict=True):
        a, b, o = key // 4 // 6, key // 4 % 6, key % 4
        rows += [(f"{key}-{k}", a, b, o, 1) for k in range(int(count))]
    one_each = ClusteredOutcomes.from_sessions(outcomes, rows)
    assert one_each.n_singles == 0 and one_each.n_clusters == 3000
    assert np.allclose(intervals.clustered_sandwich_covariance(one_each, theta),
                       intervals.sandwich_covariance(outcomes, theta), rtol=1e-9, atol=1e-14)  # fmt: skip


@pytest.mark.parametrize("ci", ["bootstrap", "sandwich"])
def test_a_session_effect_widens_the_clustered_intervals_toward_the_truth(ci):
    ratios, hits_plain, hits_clustered = [], [], []
    for seed in range(4):
        theta, battles = _arena(seed)
        outcomes = battles.aggregate()
        truth = bt.to_elo(population_strengths(theta, 1.5))
        plain = rate(outcomes, RatingParams(ci=ci, rounds=400, seed=seed))
        clustered = rate(outcomes, RatingParams(ci=ci, rounds=400, seed=seed),
                         ClusteredOutcomes.from_sessions(outcomes, session_rows(battles)))  # fmt: skip
        assert np.array_equal(plain.rating, clustered.rating)  # the same point estimates
        ratios.append(np.mean((clustered.ci_high - clustered.ci_low) / (plain.ci_high - plain.ci_low)))
        hits_plain.extend((plain.ci_low <= truth) & (truth <= plain.ci_high))
        hits_clustered.extend((clustered.ci_low <= truth) & (truth <= clustered.ci_high))
    assert min(ratios) > 1.3  # 20 votes sharing a shift of SD 1.5 logits are far from 20 independent votes
    assert np.mean(hits_clustered) >= np.mean(hits_plain)


def test_without_a_session_effect_the_clustered_intervals_stay_close():
    ratios = []
    for seed in range(3):
        _, battles = _arena(seed, session_sd=0.0)
        outcomes = battles.aggregate()
        plain = rate(outcomes, RatingParams(rounds=400, seed=seed))
        clustered = rate(outcomes, RatingParams(rounds=400, seed=seed),
                         ClusteredOutcomes.from_sessions(outcomes, session_rows(battles)))  # fmt: skip
        ratios.append(np.mean((clustered.ci_high - clustered.ci_low) / (plain.ci_high - plain.ci_low)))
    assert 0.85 < np.mean(ratios) < 1.15  # independent votes in sessions: clustering costs little


def test_the_population_truth_is_theta_flattened_by_the_session_shifts():
    theta = np.array([-1.0, -0.2, 0.3, 0.9])
    assert np.allclose(population_strengths(theta, 0.0), theta - theta.mean(), atol=1e-4)
    shrunk = population_strengths(theta, 1.5)
    assert np.array_equal(np.argsort(shrunk), np.argsort(theta))
    assert np.all(np.abs(shrunk) < np.abs(theta - theta.mean()))
    # A huge sample of such votes fits to it.
    rng = np.random.default_rng(0)
    battles = simulate_sessions(theta, 0, 0, rng, session_sd=1.5, single_votes=400_000)
    fitted = bt.fit(battles.aggregate().win_matrix())
    assert np.allclose(fitted, shrunk, atol=0.02)


def test_components_keep_their_singles():
    _, battles = _arena(3)
    outcomes = battles.aggregate()
    # A second pair of models that only ever met each other: two components, each with sessions and singles.
    extra = PairOutcomes(8, np.array([6, 7]), np.array([7, 6]), np.array([0, 0]), np.array([30.0, 20.0]))
    both = PairOutcomes(8, np.concatenate([outcomes.model_a, extra.model_a]),
                        np.concatenate([outcomes.model_b, extra.model_b]),
                        np.concatenate([outcomes.outcome, extra.outcome]),
                        np.concatenate([outcomes.count, extra.count]))  # fmt: skip
    clustered = ClusteredOutcomes.from_sessions(both, session_rows(battles))
    board = rate(both, RatingParams(rounds=200, seed=0), clustered)
    assert len(set(board.component.tolist())) == 2
    assert np.all(board.ci_high[6:] > board.ci_low[6:])  # the singles-only component still has intervals
