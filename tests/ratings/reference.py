"""An independent reference fit, written for the tests: the same soft-tie Bradley-Terry model (with the same
alpha virtual ties per pair) as a weighted logistic regression over the raw cells, solved by scipy."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from ratings.outcomes import Outcome, PairOutcomes


def reference_theta(outcomes: PairOutcomes, alpha: float, both_bad: str = "tie") -> np.ndarray:
    n = outcomes.n_models
    o = outcomes.outcome
    keep = (o != Outcome.BOTH_BAD) | (both_bad == "tie")
    a, b, c = outcomes.model_a[keep], outcomes.model_b[keep], outcomes.count[keep]
    y = np.select([o[keep] == Outcome.A_WINS, o[keep] == Outcome.B_WINS], [1.0, 0.0], 0.5)
    # The prior: alpha observations with y = 1/2 for every unordered pair.
    i, j = np.triu_indices(n, 1)
    a, b = np.concatenate([a, i]), np.concatenate([b, j])
    y, c = np.concatenate([y, np.full(len(i), 0.5)]), np.concatenate([c, np.full(len(i), alpha)])

    def full(free):  # theta_0 is pinned at 0 so the problem is strictly convex
        return np.concatenate([[0.0], free])

    def objective(free):
        theta = full(free)
        d = theta[a] - theta[b]
        nll = -np.sum(c * (y * log_expit(d) + (1 - y) * log_expit(-d)))
        r = c * (expit(d) - y)
        grad = np.bincount(a, r, n) - np.bincount(b, r, n)
        return nll, grad[1:]

    def hessian(free):
        theta = full(free)
        p = expit(theta[a] - theta[b])
        w = c * p * (1 - p)
        h = np.zeros((n, n))
        np.add.at(h, (a, a), w)
        np.add.at(h, (b, b), w)
        np.add.at(h, (a, b), -w)
        np.add.at(h, (b, a), -w)
        return h[1:, 1:]

    result = minimize(objective, np.zeros(n - 1), jac=True, hess=hessian, method="trust-exact",
                      options={"gtol": 1e-9})  # fmt: skip
    # trust-exact may stop on rounding noise in the objective before its gtol; judge the optimum by the
    # gradient itself, relative to the data's size.
    gradient = objective(result.x)[1]
    assert np.max(np.abs(gradient)) < 1e-7 * max(1.0, c.sum()), result.message
    theta = full(result.x)
    return theta - theta.mean()
