"""The vectorised bootstrap fit against choix, one matrix at a time: the same optimum on every round."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import batched
from ratings import bradley_terry as bt
from ratings.intervals import _Resampling
from ratings.simulate import simulate, true_strengths


def resampled_wins(n_models: int, n_battles: int, rounds: int, seed: int):
    """Point estimate, resampling cells, resampled counts and the same resamples as win matrices."""
    rng = np.random.default_rng(seed)
    outcomes = simulate(true_strengths(n_models, rng), n_battles, rng).aggregate()
    cells = _Resampling(outcomes, "tie", bt.DEFAULT_ALPHA)
    counts = rng.multinomial(int(outcomes.total), cells.counts / cells.counts.sum(), size=rounds).astype(float)
    forward, backward = cells.pair_wins(counts)
    wins = np.zeros((rounds, n_models, n_models))
    wins[:, cells.layout.i, cells.layout.j] = forward - bt.DEFAULT_ALPHA / 2
    wins[:, cells.layout.j, cells.layout.i] = backward - bt.DEFAULT_ALPHA / 2
    return bt.fit(outcomes.win_matrix()), cells, counts, wins


def choix_fits(wins: np.ndarray, start: np.ndarray) -> np.ndarray:
    return np.stack([bt.fit(w, bt.DEFAULT_ALPHA, initial=start, tol=1e-12) for w in wins])


# Dense (hundreds of battles per pair), thin (a few per pair: chord steps converge slowly) and sparse (most pairs
# never met, some models winless in a resample: Newton's fallback does the work).
@pytest.mark.parametrize(("n_models", "n_battles"), [(20, 100_000), (30, 2000), (40, 150), (6, 66)])
def test_every_round_matches_its_own_choix_fit(n_models, n_battles):
    start, cells, counts, wins = resampled_wins(n_models, n_battles, 40, seed=n_models)
    ours = batched.fit_pairs(*cells.pair_wins(counts), start, cells.layout, chord_hessian=cells.chord_hessian(start))
    assert np.max(np.abs(bt.to_elo(ours) - bt.to_elo(choix_fits(wins, start)))) < 0.001


def test_fit_many_agrees_with_choix_from_any_start():
    *_, wins = resampled_wins(12, 3000, 10, seed=4)
    far = np.linspace(-5, 5, 12)
    ours = batched.fit_many(wins, bt.DEFAULT_ALPHA, far)
    assert np.max(np.abs(bt.to_elo(ours) - bt.to_elo(choix_fits(wins, np.zeros(12))))) < 0.001
    assert np.allclose(ours.mean(axis=1), 0.0)


def test_split_graph_and_winless_model_stay_finite_and_match_choix():
    wins = np.zeros((2, 5, 5))
    wins[0, 0, 1], wins[0, 1, 2], wins[0, 3, 4], wins[0, 4, 3] = 5, 5, 2, 2  # {3, 4} apart; 2 never wins
    wins[1, 1, 0] = 7
    ours = batched.fit_many(wins, bt.DEFAULT_ALPHA, np.zeros(5))
    assert np.all(np.isfinite(ours))
    assert np.max(np.abs(bt.to_elo(ours) - bt.to_elo(choix_fits(wins, np.zeros(5))))) < 0.001


def test_a_round_that_cannot_converge_in_time_is_reported():
    *_, wins = resampled_wins(8, 500, 3, seed=1)
    with pytest.raises(RuntimeError, match="did not converge"):
        batched.fit_many(wins, bt.DEFAULT_ALPHA, np.linspace(-8, 8, 8), max_iter=1)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="square"):
        batched.fit_many(np.zeros((2, 3, 4)), 0.01, np.zeros(3))
    with pytest.raises(ValueError, match="alpha"):
        batched.fit_many(np.zeros((2, 3, 3)), 0.0, np.zeros(3))


def test_a_model_tied_to_the_rest_only_by_the_prior_converges_to_choix():
    # Model 2 met nobody in this resample; a full Newton step would throw it ~40 logits away.
    forward = np.array([[0.005] * 6])
    backward = np.array([[1.005, 0.005, 0.005, 0.005, 3.005, 0.005]])
    start = np.array([0.5, 1.23, -3.7, 1.97])
    ours = batched.fit_pairs(forward, backward, start, batched.PairLayout(4))
    wins = np.zeros((4, 4))
    wins[1, 0], wins[3, 1] = 1, 3
    assert np.max(np.abs(bt.to_elo(ours[0]) - bt.to_elo(bt.fit(wins, bt.DEFAULT_ALPHA, tol=1e-12)))) < 0.001


def test_tiny_random_boards_always_bootstrap():
    from ratings.leaderboard import RatingParams, rate
    from ratings.outcomes import PairOutcomes

    rng = np.random.default_rng(0)
    for trial in range(300):
        n = int(rng.integers(2, 8))
        rows = []
        for _ in range(int(rng.integers(1, 12))):
            a, b = rng.choice(n, 2, replace=False)
            rows.append((a, b, rng.choice(["model_a", "model_b", "tie", "both_bad"]), int(rng.integers(1, 4))))
        board = rate(PairOutcomes.from_rows(n, rows), RatingParams(rounds=30, seed=trial))
        assert np.all(np.isfinite(board.ci_low)) and np.all(board.ci_low <= board.ci_high)
