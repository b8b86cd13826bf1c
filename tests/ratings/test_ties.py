"""Davidson's tie model and both-bad rates against synthetic truth."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.outcomes import PairOutcomes
from ratings.simulate import simulate_davidson, true_strengths
from ratings.ties import both_bad_rates, fit_ties, wilson


def test_tie_propensity_interval_covers_the_truth_and_strengths_are_recovered():
    nu = 0.8
    truth = nu / (2 + nu)
    hits, errors = [], []
    for seed in range(30):
        rng = np.random.default_rng(seed)
        theta = true_strengths(8, rng)
        model = fit_ties(simulate_davidson(theta, nu, 3000, rng).aggregate())
        low, high = model.interval()
        hits.append(low <= truth <= high)
        errors.append(np.max(np.abs(model.theta - theta)))
        assert low < model.propensity() < high
    assert np.mean(hits) >= 0.85
    assert np.median(errors) < 0.25


def test_more_ties_more_propensity():
    rng = np.random.default_rng(1)
    theta = true_strengths(6, rng)
    few = fit_ties(simulate_davidson(theta, 0.2, 4000, rng).aggregate()).propensity()
    many = fit_ties(simulate_davidson(theta, 2.0, 4000, rng).aggregate()).propensity()
    assert few == pytest.approx(0.2 / 2.2, abs=0.03) and many == pytest.approx(0.5, abs=0.05)


def test_both_bad_as_tie_or_dropped():
    rows = [(0, 1, "model_a", 10), (0, 1, "tie", 4), (1, 0, "both_bad", 6), (1, 2, "model_b", 5), (2, 0, "tie", 3)]
    outcomes = PairOutcomes.from_rows(3, rows)
    assert fit_ties(outcomes, both_bad="tie").n_ties == 13
    assert fit_ties(outcomes, both_bad="drop").n_ties == 7


def test_no_ties_is_refused():
    with pytest.raises(ValueError, match="no ties"):
        fit_ties(PairOutcomes.from_rows(2, [(0, 1, "model_a", 3)]))


def test_both_bad_rates_per_model():
    rows = [(0, 1, "both_bad", 3), (0, 1, "model_a", 7), (2, 0, "both_bad", 10), (1, 2, "tie", 5)]
    rates = both_bad_rates(PairOutcomes.from_rows(3, rows))
    assert rates.battles.tolist() == [20, 15, 15]
    assert rates.both_bad.tolist() == [13, 3, 10]
    assert rates.share == pytest.approx([0.65, 0.2, 10 / 15])
    assert np.all(rates.ci_low < rates.share) and np.all(rates.share < rates.ci_high)


def test_wilson_interval_known_value_and_empty():
    share, low, high = wilson(np.array([8, 0]), np.array([10, 0]))
    assert share[0] == 0.8 and low[0] == pytest.approx(0.4902, abs=1e-3) and high[0] == pytest.approx(0.9433, abs=1e-3)
    assert np.isnan(share[1]) and np.isnan(low[1])
