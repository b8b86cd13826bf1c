"""The balance test of a randomised assignment: independent arms pass, arms that follow the model do not, and
small tables get a permutation p-value."""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2_contingency

from ratings.balance import contingency, independence


def test_an_independent_draw_passes_and_matches_scipy():
    rng = np.random.default_rng(1)
    model = rng.integers(0, 6, 4000)
    arm = rng.choice(3, 4000, p=[0.6, 0.2, 0.2])
    test = independence(model, arm, np.random.default_rng(0))
    reference = chi2_contingency(contingency(model, arm, 6, 3), correction=False)
    assert test.chi2 == reference.statistic and test.dof == reference.dof == 10
    assert abs(test.p_value - reference.pvalue) < 1e-12 and test.p_value > 0.01
    assert test.p_permutation is None  # every expected count is large


def test_arms_that_follow_the_model_are_caught():
    rng = np.random.default_rng(2)
    model = rng.integers(0, 6, 3000)
    arm = np.where((model == 0) & (rng.random(3000) < 0.5), 1, rng.choice(3, 3000, p=[0.6, 0.2, 0.2]))
    assert independence(model, arm, np.random.default_rng(0)).p_value < 1e-6


def test_small_tables_get_a_permutation_p_value_and_nothing_to_test_is_none():
    rng = np.random.default_rng(3)
    model, arm = rng.integers(0, 8, 60), rng.choice(3, 60, p=[0.8, 0.1, 0.1])
    test = independence(model, arm, np.random.default_rng(0), rounds=500)
    assert test.min_expected < 5 and 0 < test.p_permutation <= 1 and test.rounds == 500
    assert independence(np.zeros(10, dtype=int), arm[:10], np.random.default_rng(0)) is None
    assert independence(np.array([], dtype=int), np.array([], dtype=int), np.random.default_rng(0)) is None
