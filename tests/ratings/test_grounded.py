"""The grounded fit (ratings.grounded): intervals of the acceptable-reply probabilities cover the truth on data
drawn from the grounded Rao-Kupper model, and without both-bad votes its order is the Bradley-Terry board's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import check_grad
from scipy.special import expit

from ratings import bradley_terry as bt
from ratings import grounded
from ratings.outcomes import Outcome, PairOutcomes


@pytest.mark.parametrize("ties", ["half", "rao-kupper"])
def test_intervals_cover_the_acceptable_reply_probabilities(ties):
    covered = total = 0
    for seed in range(30):
        rng = np.random.default_rng(seed)
        beta = rng.uniform(-1.5, 2.0, 8)
        outcomes = grounded.simulate(beta, 1.6, 2000, rng)
        fit = grounded.fit(outcomes, ties=ties)
        assert fit.converged and fit.measured
        truth = expit(beta)
        covered += int(((fit.ci_low <= truth) & (truth <= fit.ci_high)).sum())
        total += len(beta)
    assert covered / total >= 0.90


def test_rao_kupper_recovers_the_tie_threshold():
    rng = np.random.default_rng(5)
    outcomes = grounded.simulate(rng.uniform(-1, 1.5, 6), 1.8, 20_000, rng)
    assert grounded.fit(outcomes, ties="rao-kupper").nu == pytest.approx(1.8, abs=0.1)


@pytest.mark.parametrize("seed", range(15))
def test_without_both_bad_votes_the_order_is_the_bradley_terry_boards(seed):
    rng = np.random.default_rng(100 + seed)
    drawn = grounded.simulate(rng.normal(0, 0.6, 10), 1.6, 1500, rng)  # about 13% ties
    keep = drawn.outcome != Outcome.BOTH_BAD
    outcomes = PairOutcomes(10, drawn.model_a[keep], drawn.model_b[keep], drawn.outcome[keep], drawn.count[keep])
    fit = grounded.fit(outcomes)
    board = bt.fit(outcomes.win_matrix())
    assert not fit.measured
    assert list(np.argsort(-fit.acceptable)) == list(np.argsort(-board))


def test_both_bad_votes_pull_a_model_down():
    rng = np.random.default_rng(9)
    beta = np.array([1.0, 1.0, 1.0, 1.0])
    outcomes = grounded.simulate(beta, 1.4, 4000, rng)
    # Model 3's both-bad battles doubled: its replies are judged unacceptable more often than the others'.
    extra = (outcomes.outcome == Outcome.BOTH_BAD) & ((outcomes.model_a == 3) | (outcomes.model_b == 3))
    count = outcomes.count + np.where(extra, outcomes.count, 0)
    fit = grounded.fit(PairOutcomes(4, outcomes.model_a, outcomes.model_b, outcomes.outcome, count))
    assert fit.acceptable[3] < min(fit.acceptable[:3]) - 0.02


@pytest.mark.parametrize("ties", ["half", "rao-kupper"])
def test_gradient_is_exact(ties):
    rng = np.random.default_rng(2)
    outcomes = grounded.simulate(rng.normal(0, 1, 5), 1.5, 500, rng)
    args = (outcomes.model_a, outcomes.model_b, outcomes.outcome, outcomes.count, 5)
    objective = grounded._half_ties if ties == "half" else grounded._objective
    x = rng.normal(0, 1, 5 if ties == "half" else 6)
    error = check_grad(lambda p: objective(p, *args)[0], lambda p: objective(p, *args)[1], x)
    assert error < 1e-3 * np.linalg.norm(objective(x, *args)[1])


def test_the_half_tie_hessian_is_exact():
    rng = np.random.default_rng(3)
    outcomes = grounded.simulate(rng.normal(0, 1, 5), 1.5, 500, rng)
    args = (outcomes.model_a, outcomes.model_b, outcomes.outcome, outcomes.count, 5)
    x = rng.normal(0, 1, 5)
    numeric = grounded._hessian(x, args, grounded._half_ties)
    assert np.max(np.abs(grounded._half_ties_hessian(x, *args) - numeric)) < 1e-4 * np.max(np.abs(numeric))
