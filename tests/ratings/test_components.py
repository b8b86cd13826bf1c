"""Split comparison graphs: each connected set of models is rated on its own."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings import components
from ratings.leaderboard import RatingParams, rate
from ratings.outcomes import PairOutcomes
from ratings.simulate import simulate, true_strengths


def two_islands(seed: int = 0, second: bool = True):
    """Models 0-5 battle among themselves; with `second`, models 6-9 (much stronger) among themselves."""
    rng = np.random.default_rng(seed)
    first = simulate(true_strengths(6, rng), 3000, rng).aggregate()
    if not second:
        return first
    other = simulate(true_strengths(4, rng) + 3.0, 400, rng).aggregate()
    return PairOutcomes(
        10,
        np.concatenate([first.model_a, other.model_a + 6]),
        np.concatenate([first.model_b, other.model_b + 6]),
        np.concatenate([first.outcome, other.outcome]),
        np.concatenate([first.count, other.count]),
    )


def test_labels_order_components_by_size():
    rows = [(3, 4, "tie", 1), (0, 1, "model_a", 2), (1, 2, "model_b", 1), (5, 6, "both_bad", 1)]
    labels = components.label(PairOutcomes.from_rows(7, rows))
    assert labels.tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert [m.tolist() for m in components.members(labels)] == [[0, 1, 2], [3, 4], [5, 6]]
    never = components.never_compared(labels)
    assert not never[0, 2] and never[0, 3] and never[4, 6] and not never[5, 6]


@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_adding_a_component_leaves_the_other_untouched(ci):
    alone = rate(two_islands(second=False), RatingParams(ci=ci, rounds=300))
    both = rate(two_islands(), RatingParams(ci=ci, rounds=300))
    assert both.component.tolist() == [0] * 6 + [1] * 4
    assert np.max(np.abs(both.rating[:6] - alone.rating)) < 1e-9
    assert both.rating[:6].mean() == pytest.approx(1000.0) and both.rating[6:].mean() == pytest.approx(1000.0)
    width_alone, width_both = alone.ci_high - alone.ci_low, both.ci_high[:6] - both.ci_low[:6]
    if ci == "sandwich":
        assert np.allclose(width_both, width_alone)
    else:  # other bootstrap draws, the same distribution
        assert np.all(np.abs(width_both / width_alone - 1) < 0.2)
    # One joint fit lets the prior's virtual ties across the gap move the first island: what splitting avoids.
    joint = bt.to_elo(bt.fit(two_islands().win_matrix()))
    assert np.max(np.abs((joint[:6] - joint[:6].mean()) - (alone.rating - 1000))) > 1e-3


def test_anchor_pins_its_own_component_only():
    board = rate(two_islands(), RatingParams(ci="sandwich", anchor=(7, 1500.0)))
    assert board.rating[7] == pytest.approx(1500.0)
    assert board.rating[:6].mean() == pytest.approx(1000.0)


def test_voter_clustered_bootstrap_per_component():
    rng = np.random.default_rng(3)
    battles = simulate(true_strengths(4, rng), 2000, rng, n_voters=100)
    clustered = battles.aggregate_by_voter()
    sub = components.restrict_clustered(clustered, np.array([1, 3]))
    assert sub.cells.n_models == 2
    kept = np.isin(battles.model_a, [1, 3]) & np.isin(battles.model_b, [1, 3])
    assert sub.count.sum() == kept.sum() and sub.n_clusters == len(np.unique(battles.voter[kept]))
    board = rate(clustered.cells, RatingParams(ci="cluster", rounds=100), clustered)
    assert np.all(board.ci_low < board.rating) and np.all(board.rating < board.ci_high)
