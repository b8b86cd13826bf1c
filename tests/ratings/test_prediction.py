"""ratings.prediction: folds split by voter, and held-out scores that find a planted EQ effect."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.prediction import TIE, Explanation, Votes, cross_validate, paired_difference, score, voter_folds

EQ_EFFECT = 0.4


def planted_eq_votes(n: int = 2500, seed: int = 3, eq_effect: float = EQ_EFFECT) -> Votes:
    rng = np.random.default_rng(seed)
    models = 8
    strength = rng.normal(0, 0.5, models)
    a = rng.integers(0, models, n)
    b = (a + rng.integers(1, models, n)) % models
    eq = rng.uniform(-4, 4, n)  # judged EQ of A minus B
    length = rng.normal(0, 0.3, n)  # no effect
    p_a = 1 / (1 + np.exp(-(strength[a] - strength[b] + eq_effect * eq)))
    u = rng.random(n)
    outcome = np.where(u < 0.1, TIE, np.where(rng.random(n) < p_a, 0, 1))
    voter = rng.integers(0, 300, n)
    return Votes(models, a, b, outcome, voter, np.column_stack([length, eq]), ("length_ratio", "eq_overall"))


def test_no_voter_is_in_two_folds_and_folds_are_balanced():
    voter = np.random.default_rng(0).integers(0, 97, 3000)
    folds = voter_folds(voter, 5, np.random.default_rng(1))
    assert set(folds) == set(range(5))
    for v in np.unique(voter):
        assert len(set(folds[voter == v])) == 1, f"voter {v} is in two folds"
    sizes = np.bincount(folds)
    assert sizes.max() - sizes.min() <= np.bincount(voter).max()
    # The same seed gives the same folds; another seed, others.
    assert np.array_equal(folds, voter_folds(voter, 5, np.random.default_rng(1)))
    assert not np.array_equal(folds, voter_folds(voter, 5, np.random.default_rng(2)))


def test_too_few_voters_for_the_folds_is_refused():
    with pytest.raises(ValueError, match="5 folds need at least 5 voters"):
        voter_folds(np.array([1, 1, 2, 3, 4]), 5, np.random.default_rng(0))


def test_bt_plus_eq_predicts_held_out_votes_better_than_bt():
    votes = planted_eq_votes()
    folds = voter_folds(votes.voter, 5, np.random.default_rng(0))
    explanations = [
        Explanation("bt", "strengths"),
        Explanation("davidson", "ties", davidson=True),
        Explanation("style", "style", columns=("length_ratio",)),
        Explanation("eq", "eq", columns=("eq_overall",)),
    ]
    scores = cross_validate(votes, explanations, folds)
    assert scores["eq"].log_loss < scores["bt"].log_loss - 0.02
    diff, se = paired_difference(scores["eq"].losses, scores["bt"].losses, votes.voter)
    assert diff < -3 * se
    assert scores["eq"].accuracy > scores["bt"].accuracy and scores["eq"].brier < scores["bt"].brier
    # Length had no effect: it predicts no better than strengths alone.
    assert abs(scores["style"].log_loss - scores["bt"].log_loss) < 0.01
    for s in scores.values():
        assert s.votes == votes.n and 0 <= s.calibration_error <= 1
        assert sum(count for _, _, count in s.calibration) == s.decisive


def test_without_an_eq_effect_eq_does_not_win():
    votes = planted_eq_votes(eq_effect=0.0)
    folds = voter_folds(votes.voter, 5, np.random.default_rng(0))
    scores = cross_validate(votes, [Explanation("bt", "bt"), Explanation("eq", "eq", columns=("eq_overall",))], folds)
    diff, se = paired_difference(scores["eq"].losses, scores["bt"].losses, votes.voter)
    assert diff > -2 * se


def test_pooled_boards_predict_a_board_that_differs():
    rng = np.random.default_rng(4)
    n, models = 3000, 5
    a = rng.integers(0, models, n)
    b = (a + rng.integers(1, models, n)) % models
    board = rng.integers(0, 2, n)
    # On board 1 the order of the models is reversed.
    strength = np.array([[1.0, 0.5, 0, -0.5, -1.0], [-1.0, -0.5, 0, 0.5, 1.0]])
    p_a = 1 / (1 + np.exp(-(strength[board, a] - strength[board, b])))
    outcome = np.where(rng.random(n) < p_a, 0, 1)
    votes = Votes(models, a, b, outcome, rng.integers(0, 200, n), np.zeros((n, 0)), (),
                  boards=[[int(g)] for g in board], n_boards=2)  # fmt: skip
    folds = voter_folds(votes.voter, 5, np.random.default_rng(0))
    scores = cross_validate(votes, [Explanation("bt", "bt"), Explanation("pooled", "p", pooled=True)], folds)
    assert scores["pooled"].log_loss < scores["bt"].log_loss - 0.05


def test_score_of_a_known_prediction():
    probabilities = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1]])
    s = score(probabilities, np.array([0, 0, TIE]))
    assert s.log_loss == pytest.approx(-(np.log(0.6) + np.log(0.2) + np.log(0.1)) / 3)
    assert s.decisive == 2 and s.accuracy == 0.5
    q = np.array([0.6 / 0.9, 0.2 / 0.9])
    assert s.brier == pytest.approx(np.mean((q - 1) ** 2))
