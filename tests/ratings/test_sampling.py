"""Active sampling: pair weights, and ratings that stay unbiased and honest when pairs are chosen adaptively."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings import sampling
from ratings.simulate import simulate, simulate_sampling, true_strengths


def test_weights_are_a_distribution_with_a_floor_on_every_eligible_pair():
    rng = np.random.default_rng(0)
    theta = true_strengths(6, rng)
    battles = simulate(theta, 3000, rng).aggregate().battle_matrix()
    eligible = np.ones((6, 6), dtype=bool)
    eligible[0, 5] = eligible[5, 0] = False
    weights = sampling.pair_weights(theta, sampling.information(theta, battles, 0.01), 500, eligible, floor=0.2)
    assert weights.probability.sum() == pytest.approx(1.0)
    assert len(weights.i) == 14 and not np.any((weights.i == 0) & (weights.j == 5))
    assert np.all(weights.probability >= 0.2 / 14 - 1e-12)
    with pytest.raises(ValueError, match="floor"):
        sampling.pair_weights(theta, np.eye(6), 100, floor=0.0)


def test_a_newcomer_gets_most_of_the_next_votes():
    rng = np.random.default_rng(1)
    theta = true_strengths(8, rng)
    old = simulate(theta[:7], 5000, rng).aggregate().battle_matrix()
    battles = np.zeros((8, 8))
    battles[:7, :7] = old
    weights = sampling.pair_weights(theta, sampling.information(theta, battles, 0.01), 300)
    newcomer = (weights.i == 7) | (weights.j == 7)
    assert weights.probability[newcomer].sum() > 0.6  # 7 of 28 pairs: a quarter under uniform


def test_covariance_inverts_the_information_on_the_sum_zero_subspace():
    rng = np.random.default_rng(2)
    theta = true_strengths(5, rng)
    information = sampling.information(theta, simulate(theta, 2000, rng).aggregate().battle_matrix(), 0.01)
    covariance = sampling.covariance(information)
    projector = np.eye(5) - 1 / 5
    assert np.allclose(information @ covariance, projector, atol=1e-9)
    assert np.allclose(covariance.sum(axis=1), 0.0, atol=1e-9)


@pytest.mark.parametrize("policy", ["uniform", "active"])
def test_adaptive_pairs_leave_the_ratings_unbiased_with_honest_intervals(policy):
    errors, covered = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        theta = true_strengths(8, rng)
        run = simulate_sampling(theta, policy, rng, batch=100, target_half_width=60.0)
        errors.append(bt.to_elo(run.theta) - bt.to_elo(theta))
        covered.append(run.covered)
        assert np.all((run.probability > 0) & (run.probability <= 1))
    errors = np.array(errors)
    # The mean error per model over 20 runs is within 3 standard errors of zero (no systematic pull).
    se = errors.std(axis=0, ddof=1) / np.sqrt(len(errors))
    assert np.all(np.abs(errors.mean(axis=0)) < 3 * se + 1.0)
    assert np.mean(covered) >= 0.90


def test_active_sampling_needs_far_fewer_votes_when_models_arrive():
    rng = np.random.default_rng(5)
    theta = true_strengths(16, rng)
    earlier = simulate(theta[:10], 10_000, rng)
    settings = dict(earlier=earlier, batch=50, target_half_width=30.0)
    uniform, active = (simulate_sampling(theta, p, np.random.default_rng(1), **settings) for p in ("uniform", "active"))
    assert active.votes <= 0.7 * uniform.votes
    assert active.covered >= 0.8 and uniform.covered >= 0.8


def test_the_plan_looks_a_tenth_of_the_votes_ahead_never_less_than_the_minimum():
    assert sampling.planned_votes(0) == sampling.MIN_PLANNED_VOTES
    assert sampling.planned_votes(50_000) == pytest.approx(5_000)


def test_mean_sd_is_the_criterion_the_leaderboard_reports():
    rng = np.random.default_rng(3)
    theta = true_strengths(6, rng)
    i, j = np.triu_indices(6, 1)
    share = rng.dirichlet(np.ones(len(i)))
    battles = np.zeros((6, 6))
    battles[i, j] = battles[j, i] = 4000 * share
    expected = np.sqrt(np.diag(sampling.covariance(sampling.information(theta, battles, 0.01)))).mean()
    known = sampling.information(theta, np.zeros((6, 6)), 0.01)
    assert sampling.mean_sd(theta, known, 4000, share, i, j) == pytest.approx(expected, rel=1e-9)


def test_the_oracle_design_equals_uniform_for_equal_strengths_and_beats_it_for_spread_ones():
    # Theory check behind the benchmark's ceiling: with equal strengths the balanced complete design is optimal
    # for centred BT, so no policy can save votes at a cold start; a spread of strengths is what leaves room.
    i, j = np.triu_indices(8, 1)
    uniform = np.full(len(i), 1 / len(i))
    flat = np.zeros(8)
    known = sampling.information(flat, np.zeros((8, 8)), 0.01)
    assert np.allclose(sampling.plan(flat, known, 5000, i, j), uniform, atol=1e-6)
    theta = true_strengths(8, np.random.default_rng(4), spread=1.5)
    known = sampling.information(theta, np.zeros((8, 8)), 0.01)
    design = sampling.plan(theta, known, 5000, i, j)
    assert sampling.mean_sd(theta, known, 5000, design, i, j) < 0.97 * sampling.mean_sd(
        theta, known, 5000, uniform, i, j
    )
