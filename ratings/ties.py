"""Ties and "both bad" as signals of their own.

The soft-tie BT fit counts a tie as half a win each way, which says nothing about how often voters tie. Davidson's
model does: with strengths pi = exp(theta) and a tie parameter nu,

    P(i beats j) = pi_i / D,   P(tie) = nu sqrt(pi_i pi_j) / D,   D = pi_i + pi_j + nu sqrt(pi_i pi_j)

so nu / (2 + nu) is the chance of a tie between two equally strong models: the tie propensity. It is fitted by
maximum likelihood beside the soft-tie fit, with the same `alpha` virtual half-wins per pair to keep every
strength finite, and its interval comes from the observed information of (theta, log nu).

"Both bad" is a verdict on the two replies, not a comparison: per model, the share of its battles voted both bad,
with a Wilson interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

from ratings import bradley_terry as bt
from ratings.outcomes import Outcome, PairOutcomes

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class TieModel:
    theta: np.ndarray  # mean-zero Davidson strengths
    log_nu: float
    log_nu_se: float
    n_ties: float
    n_battles: float

    def propensity(self, log_nu: float | None = None) -> float:
        nu = np.exp(self.log_nu if log_nu is None else log_nu)
        return float(nu / (2 + nu))

    def interval(self) -> tuple[float, float]:
        """95% interval of the tie propensity (from the interval of log nu; the map is monotone)."""
        half = Z_95 * self.log_nu_se
        return self.propensity(self.log_nu - half), self.propensity(self.log_nu + half)


def _pair_counts(outcomes: PairOutcomes, both_bad: str):
    """Per unordered pair (i < j): wins of i, wins of j, ties."""
    n = outcomes.n_models
    a, b, o, c = outcomes.model_a, outcomes.model_b, outcomes.outcome, outcomes.count
    tie = (o == Outcome.TIE) | ((o == Outcome.BOTH_BAD) & (both_bad == "tie"))
    low, high = np.minimum(a, b), np.maximum(a, b)
    winner_low = ((o == Outcome.A_WINS) & (a == low)) | ((o == Outcome.B_WINS) & (b == low))
    winner_high = ((o == Outcome.A_WINS) & (a == high)) | ((o == Outcome.B_WINS) & (b == high))
    i, j = np.triu_indices(n, 1)
    index = np.full((n, n), -1)
    index[i, j] = np.arange(len(i))
    pair = index[low, high]
    size = len(i)
    return (
        i, j,
        np.bincount(pair, c * winner_low, size),
        np.bincount(pair, c * winner_high, size),
        np.bincount(pair, c * tie, size),
    )  # fmt: skip


def _negative_log_likelihood(params, i, j, w_i, w_j, t):
    theta, log_nu = params[:-1], params[-1]
    half = 0.5 * (theta[i] - theta[j])
    # log D - (theta_i + theta_j)/2 = log(e^h + e^-h + nu) with h = (theta_i - theta_j)/2.
    log_d = logsumexp(np.stack([half, -half, np.full_like(half, log_nu)]), axis=0)
    value = np.sum(w_i * (log_d - half) + w_j * (log_d + half) + t * (log_d - log_nu))
    # Gradient: d log D / d h and d log D / d log nu.
    p_i, p_j, p_t = np.exp(half - log_d), np.exp(-half - log_d), np.exp(log_nu - log_d)
    total = w_i + w_j + t
    d_half = total * (p_i - p_j) - (w_i - w_j)
    grad_theta = 0.5 * (np.bincount(i, d_half, len(theta)) - np.bincount(j, d_half, len(theta)))
    grad_nu = np.sum(total * p_t - t)
    return value, np.concatenate([grad_theta, [grad_nu]])


def fit_ties(outcomes: PairOutcomes, alpha: float = bt.DEFAULT_ALPHA, both_bad: str = "tie") -> TieModel:
    """Davidson's model by maximum likelihood (theta pinned to mean zero)."""
    n = outcomes.n_models
    i, j, w_i, w_j, t = _pair_counts(outcomes, both_bad)
    if t.sum() == 0:
        raise ValueError("no ties to model")
    w_i, w_j = w_i + alpha / 2, w_j + alpha / 2

    def centred(free):
        return np.concatenate([free[: n - 1], [-free[: n - 1].sum()], free[n - 1 :]])

    def objective(free):
        value, gradient = _negative_log_likelihood(centred(free), i, j, w_i, w_j, t)
        # Chain rule through the last theta = -(sum of the others).
        return value, np.concatenate([gradient[: n - 1] - gradient[n - 1], gradient[n:]])

    start = np.concatenate([bt.fit(outcomes.win_matrix(both_bad), alpha)[: n - 1], [0.0]])
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", options={"gtol": 1e-9, "maxiter": 2000})
    free = result.x
    # Observed information by central differences of the exact gradient.
    step = 1e-5
    hessian = np.empty((n, n))
    for k in range(n):
        shift = np.zeros(n)
        shift[k] = step
        hessian[:, k] = (objective(free + shift)[1] - objective(free - shift)[1]) / (2 * step)
    covariance = np.linalg.inv((hessian + hessian.T) / 2)
    params = centred(free)
    return TieModel(
        theta=params[:n],
        log_nu=float(params[-1]),
        log_nu_se=float(np.sqrt(max(covariance[-1, -1], 0.0))),
        n_ties=float(t.sum()),
        n_battles=float((w_i + w_j + t).sum() - alpha * len(i)),
    )


def wilson(successes: np.ndarray, trials: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Share and 95% Wilson interval per entry (nan where there are no trials)."""
    successes, trials = np.asarray(successes, dtype=np.float64), np.asarray(trials, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = successes / trials
        z2 = Z_95**2
        centre = (share + z2 / (2 * trials)) / (1 + z2 / trials)
        half = Z_95 * np.sqrt(share * (1 - share) / trials + z2 / (4 * trials**2)) / (1 + z2 / trials)
    none = trials <= 0
    return (np.where(none, np.nan, share), np.where(none, np.nan, centre - half), np.where(none, np.nan, centre + half))


@dataclass(frozen=True)
class BothBadRates:
    share: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    both_bad: np.ndarray
    battles: np.ndarray


def both_bad_rates(outcomes: PairOutcomes) -> BothBadRates:
    """Per model: the share of all its battles that were voted both bad."""
    n, a, b, o, c = outcomes.n_models, outcomes.model_a, outcomes.model_b, outcomes.outcome, outcomes.count
    battles = np.bincount(a, c, n) + np.bincount(b, c, n)
    bad = c * (o == Outcome.BOTH_BAD)
    count = np.bincount(a, bad, n) + np.bincount(b, bad, n)
    share, low, high = wilson(count, battles)
    return BothBadRates(share, low, high, count, battles)
