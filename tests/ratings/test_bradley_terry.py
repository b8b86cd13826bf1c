"""The BT fit against an independent reference, on synthetic and on real human votes."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings.outcomes import Outcome, PairOutcomes
from ratings.simulate import simulate, true_strengths
from tests.ratings.reference import reference_theta
from tests.shared_data import llmfao_crowd_votes


def outcomes_from_votes(votes) -> tuple[PairOutcomes, list[str]]:
    names = sorted({m for a, b, *_ in votes for m in (a, b)})
    index = {m: k for k, m in enumerate(names)}
    counts: dict[tuple[int, int, str], int] = {}
    for a, b, winner, *_ in votes:
        key = (index[a], index[b], winner)
        counts[key] = counts.get(key, 0) + 1
    return PairOutcomes.from_rows(len(names), [(*k, v) for k, v in counts.items()]), names


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("both_bad", ["tie", "drop"])
def test_fit_matches_the_reference_on_synthetic_votes(seed, both_bad):
    rng = np.random.default_rng(seed)
    battles = simulate(true_strengths(30, rng, spread=1.2), 20_000, rng, tie_share=0.5, both_bad_share=0.3)
    outcomes = battles.aggregate()
    ours = bt.to_elo(bt.fit(outcomes.win_matrix(both_bad), alpha=0.01))
    reference = bt.to_elo(reference_theta(outcomes, alpha=0.01, both_bad=both_bad))
    assert np.max(np.abs(ours - reference)) < 0.01


def test_fit_matches_the_reference_on_llmfao_human_votes():
    votes = llmfao_crowd_votes()
    outcomes, names = outcomes_from_votes(votes)
    assert (len(votes), len(names)) == (8931, 59)
    assert outcomes.count[outcomes.outcome == Outcome.TIE].sum() / outcomes.total == pytest.approx(0.39, abs=0.01)
    ours = bt.to_elo(bt.fit(outcomes.win_matrix(), alpha=bt.DEFAULT_ALPHA))
    reference = bt.to_elo(reference_theta(outcomes, alpha=bt.DEFAULT_ALPHA))
    assert np.max(np.abs(ours - reference)) < 0.01
    assert ours.mean() == pytest.approx(1000.0)
    assert np.ptp(ours) > 100  # real differences between models, not a flat board


def test_estimates_recover_known_strengths():
    rng = np.random.default_rng(5)
    theta = true_strengths(12, rng)
    outcomes = simulate(theta, 200_000, rng).aggregate()
    error = bt.to_elo(bt.fit(outcomes.win_matrix())) - bt.to_elo(theta)
    assert np.max(np.abs(error)) < 12


def test_a_tie_is_half_a_win_each_way_never_two_wins():
    tie = PairOutcomes.from_rows(2, [(0, 1, "tie", 1)])
    assert tie.win_matrix().tolist() == [[0.0, 0.5], [0.5, 0.0]]
    mixed = PairOutcomes.from_rows(3, [(0, 1, "model_a", 3), (1, 0, "tie", 2), (2, 0, "both_bad", 4)])
    assert mixed.win_matrix().tolist() == [[0, 4, 2], [1, 0, 0], [2, 0, 0]]
    assert mixed.win_matrix("drop").tolist() == [[0, 4, 0], [1, 0, 0], [0, 0, 0]]
    # Ties pull two models together; as whole wins each way they would weigh double.
    base = [(0, 1, "model_a", 30), (1, 0, "model_a", 10)]
    with_ties = PairOutcomes.from_rows(2, [*base, (0, 1, "tie", 40)])
    gap = np.diff(bt.to_elo(bt.fit(with_ties.win_matrix())))[0]
    doubled = PairOutcomes.from_rows(2, [*base, (0, 1, "model_a", 40), (0, 1, "model_b", 40)])
    gap_doubled = np.diff(bt.to_elo(bt.fit(doubled.win_matrix())))[0]
    assert gap_doubled > gap  # doubling the ties shrinks the gap further


def test_elo_scale_centre_and_anchor():
    outcomes = PairOutcomes.from_rows(2, [(0, 1, "model_a", 9000), (0, 1, "model_b", 1000)])
    scores = bt.to_elo(bt.fit(outcomes.win_matrix(), alpha=1e-6))
    assert scores.mean() == pytest.approx(1000.0)
    assert scores[0] - scores[1] == pytest.approx(400 * np.log10(9), abs=0.01)
    anchored = bt.to_elo(bt.fit(outcomes.win_matrix(), alpha=1e-6), anchor=(1, 1200.0))
    assert anchored[1] == pytest.approx(1200.0) and anchored[0] - anchored[1] == pytest.approx(scores[0] - scores[1])


def test_winless_model_and_split_graph_still_fit():
    rows = [(0, 1, "model_a", 5), (1, 2, "model_a", 5), (3, 4, "tie", 5)]  # model 2 never wins; {3, 4} apart
    theta = bt.fit(PairOutcomes.from_rows(5, rows).win_matrix())
    assert np.all(np.isfinite(theta))
    assert theta[0] > theta[1] > theta[2]
    assert theta[3] == pytest.approx(theta[4])


@pytest.mark.parametrize(
    ("matrix", "message"),
    [(np.zeros((1, 1)), "at least two"), (np.zeros((2, 3)), "square"), (-np.ones((2, 2)), "non-negative")],
)
def test_bad_input_is_refused(matrix, message):
    with pytest.raises(ValueError, match=message):
        bt.fit(matrix)


def test_bad_cells_are_refused():
    with pytest.raises(ValueError, match="itself"):
        PairOutcomes.from_rows(2, [(1, 1, "tie", 1)])
    with pytest.raises(ValueError, match="out of range"):
        PairOutcomes.from_rows(2, [(0, 2, "tie", 1)])
    with pytest.raises(ValueError, match="alpha"):
        bt.fit(np.ones((2, 2)), alpha=0)


def test_bounds_that_differ_by_rounding_do_not_separate_ranks():
    from ratings.leaderboard import rank_upper_bound

    low = np.array([1000.0, 1000.0 + 1e-9, 1000.0 - 1e-9])
    assert rank_upper_bound(low, low.copy()).tolist() == [1, 1, 1]
    assert rank_upper_bound(np.array([1010.0, 990.0]), np.array([1020.0, 1000.0])).tolist() == [1, 2]
