"""The recompute's fast paths at its own scale (200 models, sparse emotion boards) against the slower methods they
replaced or an independent fit: the bootstrap's pair-major chord steps against choix, the pooled fit's
weights-first grid against every tau's LU inverse and slogdet, and votes to flip on a pooled board's voted pairs
with plans over each pair's own kinds against the same problem over every pair with plans over every kind,
confirmed by an independent Newton refit of the posterior."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import batched, flip, pooling
from ratings import bradley_terry as bt
from ratings.intervals import _Resampling
from ratings.leaderboard import RatingParams, rate, to_elo_by_component
from ratings.simulate import simulate, simulate_boards, true_strengths

N_MODELS = 200
# Battles per board: like scale_bench's 100,000 votes spread over EmoNet boards, a few thousand each, so that most
# of the 19,900 pairs have no vote on a board.
SIZES = [4000, 2500, 1500]


@pytest.fixture(scope="module")
def family():
    rng = np.random.default_rng(23)
    boards = simulate_boards(true_strengths(N_MODELS, rng), 0.2, SIZES, rng)
    overall, per_board = boards.aggregate()
    # The rest of the arena's votes, so that the prior centres are fitted on far more than the boards hold.
    rest = simulate(boards.theta, 30_000, rng).aggregate()
    overall_wins = overall.win_matrix() + rest.win_matrix()
    wins = np.stack([b.win_matrix() for b in per_board])
    labels = np.zeros(N_MODELS, dtype=np.int64)
    return per_board, wins, overall_wins, labels, pooling.pool(wins, overall_wins, bt.DEFAULT_ALPHA, labels)


def reference_pool(board_wins, overall_wins, labels):
    """pooling.pool as it was: every tau's posterior covariance by an LU inverse, slogdet for the weights."""
    n = overall_wins.shape[0]
    layout = batched.PairLayout(n)
    forward, backward = layout.split(board_wins)
    centres = pooling._centres(board_wins, overall_wins, bt.DEFAULT_ALPHA, labels)
    grid = np.exp(np.linspace(*pooling._LOG_TAU_BOUNDS, pooling._GRID))
    log_weight, thetas, covariances, borrowed, start = [], [], [], [], None
    for tau in grid:
        precision = np.linalg.inv(centres.covariance + tau**2 * np.eye(n))
        theta, hessian, value = pooling.posterior_mode(forward, backward, centres.theta, precision, layout, start)
        start = theta
        covariance = np.linalg.inv(hessian + precision)
        prior_logdet = np.linalg.slogdet(precision)[1].sum()
        posterior_logdet = np.linalg.slogdet(hessian + precision)[1].sum()
        log_weight.append(-value.sum() + 0.5 * (prior_logdet - posterior_logdet) + np.log(tau))
        thetas.append(theta)
        covariances.append(covariance)
        borrowed.append(np.einsum("gij,gij->gi", covariance, precision))
    weight = np.exp(np.array(log_weight) - max(log_weight))
    weight /= weight.sum()
    thetas = np.array(thetas)
    mean = np.einsum("k,kgi->gi", weight, thetas)
    spread = thetas - mean
    covariance = np.einsum("k,kgij->gij", weight, np.array(covariances))
    covariance += np.einsum("k,kgi,kgj->gij", weight, spread, spread)
    return mean, covariance, np.einsum("k,kgi->gi", weight, np.array(borrowed)), float(np.exp(weight @ np.log(grid)))


def test_pooled_fit_matches_every_tau_inverted(family):
    _, wins, overall_wins, labels, pooled = family
    theta, covariance, borrowed, tau = reference_pool(wins, overall_wins, labels)
    # 1e-9 logits is 4e-7 Elo points; the taus left out weigh under 1e-17 of the likeliest one.
    np.testing.assert_allclose(pooled.theta, theta, atol=1e-9)
    np.testing.assert_allclose(pooled.covariance, covariance, rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(pooled.borrowed, borrowed, atol=1e-9)
    assert pooled.tau == pytest.approx(tau, rel=1e-9)


def test_bootstrap_rounds_match_choix_on_a_sparse_200_model_board():
    rng = np.random.default_rng(5)
    outcomes = simulate(true_strengths(N_MODELS, rng), 6000, rng).aggregate()
    start = bt.fit(outcomes.win_matrix(), bt.DEFAULT_ALPHA)
    cells = _Resampling(outcomes, "tie", bt.DEFAULT_ALPHA)
    counts = rng.multinomial(int(outcomes.total), cells.counts / cells.counts.sum(), size=4).astype(float)
    inverse = np.linalg.inv(batched.definite(cells.chord_hessian(start)))
    ours = batched.fit_pairs_t(*cells.pair_wins_t(counts), start, cells.layout, chord_inverse=inverse, tol=1e-8)
    forward, backward = cells.pair_wins(counts)
    for row in range(len(counts)):
        wins = np.zeros((N_MODELS, N_MODELS))
        wins[cells.layout.i, cells.layout.j] = forward[row] - bt.DEFAULT_ALPHA / 2
        wins[cells.layout.j, cells.layout.i] = backward[row] - bt.DEFAULT_ALPHA / 2
        theirs = bt.fit(wins, bt.DEFAULT_ALPHA, initial=start, tol=1e-12)
        assert np.max(np.abs(bt.to_elo(ours[row]) - bt.to_elo(theirs))) < 1e-4  # Elo points


def test_pooled_votes_to_flip_match_the_full_problem_and_an_independent_refit(family, monkeypatch):
    per_board, _, _, labels, pooled = family
    g = 2  # the sparsest board: 1,500 battles on 19,900 pairs
    board = per_board[g]
    precision = pooled.prior_precision(g)
    theta = pooled.theta[g]
    fast = flip.Problem.pooled(board, pooled.centre[g], precision)
    assert fast.layout.n_pairs < 0.1 * N_MODELS * (N_MODELS - 1) / 2  # only the pairs with votes
    rating = to_elo_by_component(theta, labels, None)
    upper, lower = flip.neighbours(rating, flip._present(board), labels)
    flips = flip.votes_to_flip(fast, upper, lower, theta[upper] - theta[lower])
    # The same problem over every pair, planned over every kind: the method before the fast paths.
    every = batched.PairLayout(N_MODELS)
    forward, backward = every.split(board.win_matrix())
    slow = flip.Problem(fast.kinds, forward, backward, N_MODELS, (pooled.centre[g], precision), layout=every)
    monkeypatch.setattr(flip, "_direct_plans", lambda problem, theta, *rest: [None] * len(theta))
    reference = flip.votes_to_flip(slow, upper, lower, theta[upper] - theta[lower])
    np.testing.assert_array_equal(flips.votes, reference.votes)
    assert (flips.votes > 0).mean() > 0.8
    # Confirmed by an independent fit: Newton with the exact Hessian over every pair, without the chord steps.
    base_gap = fast.base[upper] - fast.base[lower]
    for q in np.flatnonzero(flips.votes > 0)[::10]:
        k = int(flips.votes[q])
        for m, swapped in ((k, True), (k - 1, False)):
            removed = flips.removal(q, m, len(fast.kinds))
            f, b = slow.data(removed[None])
            refit, _, _ = pooling.posterior_mode(f.T, b.T, pooled.centre[g][None], precision[None], every,
                                                 fast.base[None])  # fmt: skip
            moved = refit[0, upper[q]] - refit[0, lower[q]] - base_gap[q]
            assert (theta[upper[q]] - theta[lower[q]] + moved < -flip.SWAP_MARGIN) == swapped, (q, k, m)


def test_overall_board_flips_unchanged_by_the_direct_plans(monkeypatch):
    rng = np.random.default_rng(7)
    outcomes = simulate(true_strengths(N_MODELS, rng), 8000, rng).aggregate()
    board = rate(outcomes, RatingParams(ci="sandwich"))
    ours = flip.board_flips(outcomes, board.rating, board.theta, bt.DEFAULT_ALPHA, labels=board.component)
    monkeypatch.setattr(flip, "_direct_plans", lambda problem, theta, *rest: [None] * len(theta))
    every_kind = flip.board_flips(outcomes, board.rating, board.theta, bt.DEFAULT_ALPHA, labels=board.component)
    np.testing.assert_array_equal(ours, every_kind)
    assert np.isfinite(ours).sum() > 0.8 * (N_MODELS - 1)
