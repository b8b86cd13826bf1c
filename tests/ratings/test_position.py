"""Position bias: the edge of the reply shown first, checked on synthetic votes with a known edge."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings.covariates import POSITION, a_side_wins, fit_covariates, position_rows
from ratings.simulate import simulate, true_strengths


@pytest.mark.parametrize("edge", [0.0, 0.25])
def test_position_coefficient_recovers_a_known_edge(edge):
    hits, estimates = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        theta = true_strengths(10, rng)
        outcomes = simulate(theta, 8000, rng, position_edge=edge).aggregate()
        fit = fit_covariates(position_rows(outcomes))
        (coefficient,) = fit.coefficients()
        assert coefficient.feature == POSITION
        hits.append(coefficient.ci_low <= edge <= coefficient.ci_high)
        estimates.append(coefficient.estimate)
        # The strengths come out clean of the edge.
        assert np.max(np.abs(bt.to_elo(fit.theta) - bt.to_elo(theta))) < 60
    assert np.mean(hits) >= 0.85
    assert np.mean(estimates) == pytest.approx(edge, abs=0.02)


def test_a_side_share_of_decisive_votes():
    rng = np.random.default_rng(0)
    outcomes = simulate(true_strengths(8, rng), 20_000, rng, position_edge=0.3).aggregate()
    share, low, high, decisive = a_side_wins(outcomes)
    assert low < share < high and 0.53 < share < 0.6
    assert decisive < 20_000  # ties and both-bad are not decisive
    share0, low0, high0, _ = a_side_wins(simulate(true_strengths(8, rng), 20_000, rng).aggregate())
    assert low0 <= 0.5 <= high0 or abs(share0 - 0.5) < 0.01


def test_both_bad_drop_leaves_those_cells_out():
    rng = np.random.default_rng(1)
    outcomes = simulate(true_strengths(5, rng), 2000, rng).aggregate()
    kept = position_rows(outcomes, both_bad="drop").weights().sum()
    assert kept == outcomes.count[outcomes.outcome != 3].sum()
    assert position_rows(outcomes).weights().sum() == outcomes.total
