"""Votes to flip on dense boards (every pair voted, flips of hundreds of votes, as at ten million votes) against
the method before issue 23's 10M work: brackets narrowed by a secant in counts of votes with the bracket's middle
probed every round, every refit's first chord step a full gradient, an exp per pair. The confirmed numbers must
not move; the pieces that replaced those are checked against them one by one."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import batched, flip, pooling
from ratings import bradley_terry as bt
from ratings.leaderboard import RatingParams, rate, to_elo_by_component
from ratings.simulate import simulate, simulate_boards, true_strengths

N_MODELS = 40


def secant_in_votes(lo, hi, gap_lo, gap_hi, predicted, rounds):
    """The narrowing before: a secant in counts of votes, its neighbours and the bracket's middle every round."""
    span = hi - lo
    guess = lo + int(np.ceil(span * gap_lo / (gap_lo - gap_hi)))
    guess = int(min(max(guess, lo + 1), hi - 1))
    if span <= 4:
        probes = set(range(lo + 1, hi))
    else:
        probes = {g for g in (guess - 1, guess, guess + 1, lo + span // 2) if lo < g < hi}
    probes = sorted(probes)
    return probes, [(m - lo) / span for m in probes]


def exp_per_pair(self, theta_t, total, buffer=None):
    return batched.complement_into(self.gaps_t(theta_t), total)


def the_method_before(monkeypatch) -> None:
    monkeypatch.setattr(flip, "_narrowing_probes", secant_in_votes)
    monkeypatch.setattr(flip.Problem, "linear_steps", lambda self, theta, removed: np.zeros_like(theta))
    monkeypatch.setattr(batched.PairLayout, "complement_t", exp_per_pair)


@pytest.fixture(scope="module")
def dense():
    """A plain board and a pooled one where every pair has dozens of votes: neighbours a few hundred votes apart."""
    rng = np.random.default_rng(11)
    theta = true_strengths(N_MODELS, rng, 0.5)
    overall = simulate(theta, 150_000, rng).aggregate()
    boards = simulate_boards(theta, 0.2, [60_000, 30_000], rng)
    _, per_board = boards.aggregate()
    wins = np.stack([b.win_matrix() for b in per_board])
    labels = np.zeros(N_MODELS, dtype=np.int64)
    pooled = pooling.pool(wins, overall.win_matrix() + wins.sum(axis=0), bt.DEFAULT_ALPHA, labels)
    return overall, per_board, pooled, labels


def plain_flips(overall):
    board = rate(overall, RatingParams(ci="sandwich"))
    problem = flip.Problem.plain(overall, bt.DEFAULT_ALPHA, start=board.theta)
    upper, lower = flip.neighbours(board.rating, np.arange(N_MODELS))
    return flip.votes_to_flip(problem, upper, lower, board.theta[upper] - board.theta[lower])


def pooled_flips(board, pooled, g, labels):
    theta = pooled.theta[g]
    problem = flip.Problem.pooled(board, pooled.centre[g], pooled.prior_precision(g), start=theta)
    rating = to_elo_by_component(theta, labels, None)
    upper, lower = flip.neighbours(rating, flip._present(board), labels)
    return flip.votes_to_flip(problem, upper, lower, theta[upper] - theta[lower])


def test_dense_plain_board_flips_equal_the_method_before(dense, monkeypatch):
    overall = dense[0]
    ours = plain_flips(overall)
    assert np.median(ours.votes[ours.votes > 0]) > 50  # the dense case: brackets of many votes
    the_method_before(monkeypatch)
    before = plain_flips(overall)
    np.testing.assert_array_equal(ours.votes, before.votes)
    np.testing.assert_array_equal(ours.linear, before.linear)


@pytest.mark.parametrize("g", [0, 1])
def test_dense_pooled_board_flips_equal_the_method_before(dense, monkeypatch, g):
    _, per_board, pooled, labels = dense
    ours = pooled_flips(per_board[g], pooled, g, labels)
    assert (ours.votes > 0).mean() > 0.8
    the_method_before(monkeypatch)
    before = pooled_flips(per_board[g], pooled, g, labels)
    np.testing.assert_array_equal(ours.votes, before.votes)


def test_the_narrowing_probes_a_right_guess_and_the_count_below_it():
    # Predicted reduction 2 per vote for 10 votes, then 1 per vote: the crossing of a gap of 0.25 falling to -0.05
    # between 10 and 20 votes, linear in predicted reduction, is at 10 + 0.25 / 0.3 * 10 = 18.3 votes.
    predicted = flip._Predicted.extended(flip._Predicted.EMPTY, np.array([10.0, 100.0]), np.array([2.0, 1.0]))
    probes, places = flip._narrowing_probes(10, 20, 0.25, -0.05, predicted, 0)
    assert probes == [18, 19]
    np.testing.assert_allclose(places, [0.8, 0.9])
    # After two rounds the bracket's middle and the guess's neighbours too, so that a poor secant still ends.
    probes, _ = flip._narrowing_probes(10, 20, 0.25, -0.05, predicted, 2)
    assert probes == [15, 18, 19]
    # A narrow bracket: every count inside.
    assert flip._narrowing_probes(10, 13, 0.25, -0.05, predicted, 0)[0] == [11, 12]


def test_a_linear_step_is_the_first_chord_step_from_a_converged_fit(dense):
    _, per_board, pooled, _ = dense
    g = 1
    problem = flip.Problem.pooled(per_board[g], pooled.centre[g], pooled.prior_precision(g))
    rng = np.random.default_rng(3)
    rows = 5
    before = np.zeros((rows, len(problem.kinds)))
    more = np.zeros((rows, len(problem.kinds)))
    for r in range(rows):
        picked = rng.choice(len(problem.kinds), 6, replace=False)
        before[r, picked[:3]] = np.minimum(problem.kinds.count[picked[:3]], 3)
        more[r, picked[3:]] = np.minimum(problem.kinds.count[picked[3:]], 4)
    theta = problem.fit(before)
    cheap = problem.linear_steps(theta, flip.sparse.csr_array(more))
    # The same step from the full gradient: one chord step over every pair.
    forward, backward = problem.data(before + more)
    stepped = theta.copy()
    batched.chord_steps(forward, backward, stepped, problem._chord, problem.layout, tol=0.0, max_steps=1,
                        contraction=1.0, prior=problem.prior)  # fmt: skip
    # Equal up to the converged fit's own residual (tol 1e-7 on its last step).
    np.testing.assert_allclose(cheap, stepped - theta, atol=1e-8)
    assert np.abs(cheap).max() > 1e-3
    # And a refit that takes it first ends where one without it does.
    np.testing.assert_allclose(problem.fit(before + more, theta, cheap), problem.fit(before + more, theta), atol=1e-7)


def test_the_complement_by_exp_per_model_equals_an_exp_per_pair():
    rng = np.random.default_rng(4)
    layout = batched.PairLayout(30)
    theta_t = rng.normal(0, 3, (30, 7))
    total = rng.random((layout.n_pairs, 7)) * 50
    expected = batched.complement_into(layout.gaps_t(theta_t), total)
    np.testing.assert_allclose(layout.complement_t(theta_t, total), expected, rtol=1e-13, atol=0)
    # Strengths too far apart for exp(theta - max): an exp per pair, overflow giving 0 as before.
    theta_t[0, 0] = 800.0
    np.testing.assert_array_equal(layout.complement_t(theta_t, total),
                                  batched.complement_into(layout.gaps_t(theta_t), total))  # fmt: skip


def test_bootstrap_rounds_unchanged_by_the_exp_per_model(monkeypatch):
    rng = np.random.default_rng(9)
    outcomes = simulate(true_strengths(N_MODELS, rng), 20_000, rng).aggregate()
    params = RatingParams(rounds=200)
    ours = rate(outcomes, params)
    monkeypatch.setattr(batched.PairLayout, "complement_t", exp_per_pair)
    before = rate(outcomes, params)
    np.testing.assert_allclose(ours.rating, before.rating, atol=1e-9)
    np.testing.assert_allclose(ours.ci_low, before.ci_low, atol=1e-6)  # Elo points
    np.testing.assert_allclose(ours.ci_high, before.ci_high, atol=1e-6)
