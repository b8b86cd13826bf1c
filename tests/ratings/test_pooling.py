"""Pooled emotion boards against the truth: synthetic votes on boards whose strengths differ by a known amount,
one board dense and the rest sparse."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import log_expit

from ratings import batched, pooling
from ratings import bradley_terry as bt
from ratings.leaderboard import Z_95
from ratings.pooling import pool
from ratings.simulate import simulate_boards, true_strengths

SIZES = [20_000, 300, 150, 400, 200, 250, 120]  # battles per board over 12 models: one dense, six sparse
SEEDS = range(10)


def run(tau: float):
    """Per seed and board: RMSE (Elo points) of the pooled and of the independent fit, and the pooled hits."""
    pooled_rmse, independent_rmse, hits, taus = [], [], [], []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        synthetic = simulate_boards(true_strengths(12, rng), tau, SIZES, rng)
        overall, boards = synthetic.aggregate()
        pooled = pool(np.stack([b.win_matrix() for b in boards]), overall.win_matrix())
        taus.append(pooled.tau)
        for g, board in enumerate(boards):
            truth = bt.to_elo(synthetic.board_theta[g])
            ours = bt.to_elo(pooled.theta[g])
            alone = bt.to_elo(bt.fit(board.win_matrix()))
            pooled_rmse.append(np.sqrt(np.mean((ours - truth) ** 2)))
            independent_rmse.append(np.sqrt(np.mean((alone - truth) ** 2)))
            half = Z_95 * bt.ELO_SCALE * np.sqrt(np.diag(pooled.covariance[g]))
            hits.append(np.abs(ours - truth) <= half)
    shape = (len(SEEDS), len(SIZES))
    return np.reshape(pooled_rmse, shape), np.reshape(independent_rmse, shape), np.array(hits), np.array(taus)


@pytest.mark.parametrize("tau", [0.3, 0.6])
def test_pooled_boards_beat_independent_fits_on_sparse_boards_and_keep_coverage(tau):
    pooled, independent, hits, taus = run(tau)
    sparse = slice(1, None)
    assert pooled[:, sparse].mean() <= 0.85 * independent[:, sparse].mean()
    assert hits.mean() >= 0.90
    assert hits[:, 1:].mean() >= 0.90  # the sparse boards' own intervals, not carried by the dense one
    # The dense board keeps its own votes: no worse than fitting it alone (within noise).
    assert pooled[:, 0].mean() <= 1.05 * independent[:, 0].mean()
    # tau, how far boards differ, is recovered from the data (boards differ from their centre by ~ sqrt(2) tau).
    assert 0.5 * tau < np.median(taus) < 2 * tau


def test_a_sparse_board_borrows_more_than_a_dense_one():
    rng = np.random.default_rng(1)
    synthetic = simulate_boards(true_strengths(8, rng), 0.3, [10_000, 100, 1000], rng)
    overall, boards = synthetic.aggregate()
    pooled = pool(np.stack([b.win_matrix() for b in boards]), overall.win_matrix())
    share = pooled.board_borrowed()
    assert share[0] < share[2] < share[1]
    assert 0 < share[0] < 0.3 and share[1] > 0.3


def test_a_model_absent_from_a_board_borrows_everything_and_is_least_certain():
    rng = np.random.default_rng(2)
    synthetic = simulate_boards(true_strengths(5, rng), 0.3, [4000, 300], rng)
    overall, boards = synthetic.aggregate()
    wins = np.stack([b.win_matrix() for b in boards])
    wins[1, 4, :] = wins[1, :, 4] = 0  # model 4 never fought on board 1
    overall_wins = wins[0] + wins[1]
    pooled = pool(wins, overall_wins)
    assert pooled.battles[1, 4] == 0
    assert pooled.borrowed[1, 4] == pytest.approx(1.0)
    assert pooled.covariance[1, 4, 4] > 1.2 * np.diagonal(pooled.covariance[1])[:4].max()
    assert np.all(np.isfinite(pooled.theta))


def test_given_tau_zero_like_small_boards_equal_the_rest():
    rng = np.random.default_rng(3)
    synthetic = simulate_boards(true_strengths(6, rng), 0.3, [3000, 3000], rng)
    overall, boards = synthetic.aggregate()
    wins = np.stack([b.win_matrix() for b in boards])
    tight = pool(wins, overall.win_matrix(), tau=1e-4)
    free = pool(wins, overall.win_matrix(), tau=10.0)
    assert np.max(np.abs(tight.theta[0] - tight.theta[1])) < 0.1  # both near the same pooled strengths
    assert np.max(np.abs(free.theta[0] - bt.fit(boards[0].win_matrix()))) < 0.02  # all its own votes


def test_the_objective_is_the_penalised_log_likelihood():
    """The objective's shared-exp form is the plain one, log sigmoid in both directions plus the prior's
    quadratic penalty, also where a gap is large enough that the naive log(sigmoid) would underflow."""
    rng = np.random.default_rng(0)
    boards, pairs, n = 4, 10, 5
    forward, backward = rng.poisson(3, (boards, pairs)).astype(float), rng.poisson(3, (boards, pairs)).astype(float)
    gap = rng.normal(0, 3, (boards, pairs))
    gap[0, 0], gap[1, 1] = 800.0, -800.0
    offset = rng.normal(size=(boards, n))
    root = rng.normal(size=(boards, n, n))
    precision = root @ root.transpose(0, 2, 1) + np.eye(n)
    plain = -(forward * log_expit(gap) + backward * log_expit(-gap)).sum(axis=-1)
    plain += 0.5 * np.einsum("gi,gij,gj->g", offset, precision, offset)
    np.testing.assert_allclose(pooling._objective(forward, backward, gap, offset, precision), plain, rtol=1e-12)


@pytest.mark.parametrize("split", [False, True])
def test_the_mode_its_objective_and_the_borrowed_share_are_what_they_claim(split):
    rng = np.random.default_rng(3)
    synthetic = simulate_boards(true_strengths(10, rng), 0.4, [3000, 60, 900], rng)
    overall, boards = synthetic.aggregate()
    board_wins, overall_wins = np.stack([b.win_matrix() for b in boards]), overall.win_matrix()
    labels = None
    if split:  # two components: no battle between models 0-4 and 5-9
        cut = np.zeros((10, 10), dtype=bool)
        cut[:5, 5:] = cut[5:, :5] = True
        board_wins[:, cut], overall_wins[cut] = 0.0, 0.0
        labels = np.repeat([0, 1], 5)
    layout = batched.PairLayout(10)
    forward, backward = layout.split(board_wins)
    centres = pooling._centres(board_wins, overall_wins, bt.DEFAULT_ALPHA, labels)
    precision = pooling._prior_precision(centres, 0.3)
    theta, data_hessian, value = pooling.posterior_mode(forward, backward, centres.theta, precision, layout)
    # The objective handed back is the objective at the mode (the fit reuses it for tau's weights).
    at_mode = pooling._objective(forward, backward, layout.gaps(theta), theta - centres.theta, precision)
    np.testing.assert_allclose(value, at_mode, rtol=1e-12)
    # One tau: the pooled result is that posterior, and borrowed is diag(covariance @ prior precision).
    pooled = pool(board_wins, overall_wins, labels=labels, tau=0.3)
    np.testing.assert_allclose(pooled.theta, theta, atol=1e-12)
    np.testing.assert_allclose(pooled.covariance, np.linalg.inv(data_hessian + precision), rtol=1e-9, atol=1e-15)
    borrowed = np.einsum("gii->gi", pooled.covariance @ precision)
    np.testing.assert_allclose(pooled.borrowed, borrowed, atol=1e-12)
