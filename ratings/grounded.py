"""Both are bad as an absolute scale: a grounded Rao-Kupper fit.

A vote of "both are bad" says something the relative board cannot: neither reply reached what the voter would
accept. Read it against a fixed reference, "an acceptable reply", of strength 1, beside each model's strength
phi_i = exp(beta_i):
    P(both bad)            = 1 / (1 + phi_A + phi_B)
    P(A | not both bad)    = phi_A / (phi_A + nu phi_B)        (Rao-Kupper, nu >= 1 the tie threshold)
    P(B | not both bad)    = phi_B / (phi_B + nu phi_A)
    P(tie | not both bad)  = the rest, (nu^2 - 1) phi_A phi_B / ((phi_A + nu phi_B)(phi_B + nu phi_A))
Each model's probability of an acceptable reply is phi_i / (1 + phi_i): its chance of beating the reference.
`ties="half"` (the service's reading) takes a tie as half a win each way, as the board does, instead of the
Rao-Kupper threshold: P(A | not both bad) = phi_A / (phi_A + phi_B), so that without both-bad votes the fit's
relative part is the board's own objective and its order the board's. (Rao-Kupper and soft-tie Bradley-Terry
order close models differently when there are ties: 7 of 30 synthetic arenas of 10 models.) On data drawn from
the Rao-Kupper model with 13% ties the half reading still covers 96% (tests/ratings/test_grounded.py). The
fit is maximum likelihood under a weak normal prior (beta ~ N(0, 4^2), log(nu - 1) ~ N(0, 3^2)), which keeps
every estimate finite when a model has no both-bad vote or the arena has no tie; intervals are normal on beta
from the inverse observed information, mapped through the logistic (so they stay inside 0..1).

Without any both-bad vote the absolute level is not identified (the likelihood keeps rising as every phi grows):
the prior stops it, every probability is close to 1 and says nothing, and the order is the relative fit's, which
on the same votes is the Bradley-Terry order (tested). The board shows the probabilities only when the votes
hold both-bad verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, logsumexp

from ratings.outcomes import Outcome, PairOutcomes

Z_95 = 1.959963984540054
BETA_PRIOR_SD = 4.0
NU_PRIOR_SD = 3.0


@dataclass(frozen=True)
class GroundedFit:
    beta: np.ndarray
    nu: float  # the Rao-Kupper tie threshold; nan with ties="half"
    covariance: np.ndarray  # of beta
    acceptable: np.ndarray  # P(a reply beats the acceptable reference)
    ci_low: np.ndarray
    ci_high: np.ndarray
    both_bad_votes: int
    converged: bool

    @property
    def measured(self) -> bool:
        """The votes hold some both-bad verdict: the absolute level is identified."""
        return self.both_bad_votes > 0


def _cells(outcomes: PairOutcomes):
    keep = outcomes.count > 0
    return (outcomes.model_a[keep], outcomes.model_b[keep], outcomes.outcome[keep], outcomes.count[keep])


def _objective(params: np.ndarray, a, b, o, c, n: int) -> tuple[float, np.ndarray]:
    """Negative log posterior and its gradient over (beta_1..beta_n, eta), nu = 1 + exp(eta)."""
    beta, eta = params[:n], params[n]
    ba, bb = beta[a], beta[b]
    log_nu = np.log1p(np.exp(eta))
    nu = np.exp(log_nu)
    zeros = np.zeros_like(ba)
    log_d = logsumexp(np.stack([zeros, ba, bb]), axis=0)
    qa, qb = np.exp(ba - log_d), np.exp(bb - log_d)
    l1 = np.logaddexp(ba, log_nu + bb)
    l2 = np.logaddexp(bb, log_nu + ba)
    ua, ub = np.exp(ba - l1), np.exp(bb - l2)  # phi_A / (phi_A + nu phi_B), phi_B / (phi_B + nu phi_A)
    is_bad = o == Outcome.BOTH_BAD
    is_a, is_b, is_tie = o == Outcome.A_WINS, o == Outcome.B_WINS, o == Outcome.TIE
    log_s = np.logaddexp(ba, bb) - log_d
    log_tie_const = np.log(np.expm1(2 * log_nu))  # log(nu^2 - 1)
    ll = np.where(is_bad, -log_d, log_s)
    ll = ll + np.where(is_a, ba - l1, 0.0) + np.where(is_b, bb - l2, 0.0)
    ll = ll + np.where(is_tie, log_tie_const + ba + bb - l1 - l2, 0.0)
    ra, rb = np.exp(ba - np.logaddexp(ba, bb)), np.exp(bb - np.logaddexp(ba, bb))
    # d/d beta_a and beta_b of each cell's log-likelihood.
    ga = np.where(is_bad, -qa, ra - qa) + np.where(is_a, 1 - ua, 0.0) - np.where(is_b, 1 - ub, 0.0)
    gb = np.where(is_bad, -qb, rb - qb) - np.where(is_a, 1 - ua, 0.0) + np.where(is_b, 1 - ub, 0.0)
    ga = ga + np.where(is_tie, ub - ua, 0.0)
    gb = gb + np.where(is_tie, ua - ub, 0.0)
    nu2 = nu * nu
    g_lognu = np.where(is_a, -(1 - ua), 0.0) + np.where(is_b, -(1 - ub), 0.0)
    g_lognu = g_lognu + np.where(is_tie, 2 * nu2 / (nu2 - 1) - (1 - ua) - (1 - ub), 0.0)
    grad = np.zeros(n + 1)
    np.add.at(grad, a, c * ga)
    np.add.at(grad, b, c * gb)
    grad[n] = float(np.sum(c * g_lognu)) * (np.exp(eta) / nu)
    value = float(np.sum(c * ll))
    value -= 0.5 * float(np.sum(beta**2)) / BETA_PRIOR_SD**2 + 0.5 * eta**2 / NU_PRIOR_SD**2
    grad[:n] -= beta / BETA_PRIOR_SD**2
    grad[n] -= eta / NU_PRIOR_SD**2
    return -value, -grad


def _hessian(params: np.ndarray, args, objective, step: float = 1e-5) -> np.ndarray:
    """Of the negative log posterior, by central differences of the exact gradient."""
    k = len(params)
    h = np.empty((k, k))
    for m in range(k):
        up, down = params.copy(), params.copy()
        up[m] += step
        down[m] -= step
        h[m] = (objective(up, *args)[1] - objective(down, *args)[1]) / (2 * step)
    return 0.5 * (h + h.T)


def _half_ties(beta: np.ndarray, a, b, o, c, n: int) -> tuple[float, np.ndarray]:
    """Negative log posterior and gradient with ties half a win each way (no nu)."""
    ba, bb = beta[a], beta[b]
    log_d = logsumexp(np.stack([np.zeros_like(ba), ba, bb]), axis=0)
    log_ab = np.logaddexp(ba, bb)
    qa, qb = np.exp(ba - log_d), np.exp(bb - log_d)
    is_bad = o == Outcome.BOTH_BAD
    ya = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))
    ll = np.where(is_bad, -log_d, log_ab - log_d + ya * (ba - log_ab) + (1 - ya) * (bb - log_ab))
    ga = np.where(is_bad, -qa, ya - qa)
    gb = np.where(is_bad, -qb, (1 - ya) - qb)
    grad = np.zeros(n)
    np.add.at(grad, a, c * ga)
    np.add.at(grad, b, c * gb)
    value = float(np.sum(c * ll)) - 0.5 * float(np.sum(beta**2)) / BETA_PRIOR_SD**2
    return -value, -(grad - beta / BETA_PRIOR_SD**2)


def _half_ties_hessian(beta: np.ndarray, a, b, o, c, n: int) -> np.ndarray:
    """Exact Hessian of the negative log posterior with ties read half. Every cell, both-bad or not, has the same
    curvature: log(1 + phi_A + phi_B) is all of it (the rest is linear in beta once the targets are fixed)."""
    ba, bb = beta[a], beta[b]
    log_d = logsumexp(np.stack([np.zeros_like(ba), ba, bb]), axis=0)
    qa, qb = np.exp(ba - log_d), np.exp(bb - log_d)
    h = np.eye(n) / BETA_PRIOR_SD**2
    np.add.at(h, (a, a), c * qa * (1 - qa))
    np.add.at(h, (b, b), c * qb * (1 - qb))
    np.add.at(h, (a, b), -c * qa * qb)
    np.add.at(h, (b, a), -c * qa * qb)
    return h


TIES = ("half", "rao-kupper")


def fit(outcomes: PairOutcomes, ties: str = "half") -> GroundedFit:
    if ties not in TIES:
        raise ValueError(f"ties must be one of {', '.join(TIES)}")
    n = outcomes.n_models
    a, b, o, c = _cells(outcomes)
    args = (a, b, o, c, n)
    objective = _half_ties if ties == "half" else _objective
    start = np.zeros(n if ties == "half" else n + 1)
    result = minimize(objective, start, args=args, jac=True, method="L-BFGS-B",
                      options={"maxiter": 5000, "gtol": 1e-9, "ftol": 1e-15})  # fmt: skip
    params = result.x
    beta = params[:n]
    nu = float(1 + np.exp(params[n])) if ties != "half" else float("nan")
    hessian = _half_ties_hessian(params, *args) if ties == "half" else _hessian(params, args, objective)
    covariance = np.linalg.inv(hessian)[:n, :n]
    se = np.sqrt(np.maximum(np.diag(covariance), 0.0))
    return GroundedFit(
        beta=beta, nu=nu, covariance=covariance, acceptable=expit(beta),
        ci_low=expit(beta - Z_95 * se), ci_high=expit(beta + Z_95 * se),
        both_bad_votes=int(round(float(c[o == Outcome.BOTH_BAD].sum()))), converged=bool(result.success),
    )  # fmt: skip


def simulate(
    beta: np.ndarray, nu: float, n_battles: int, rng: np.random.Generator
) -> PairOutcomes:  # pragma: no cover - exercised by the tests
    """Battles of uniformly drawn pairs with outcomes from the grounded Rao-Kupper model itself."""
    n = len(beta)
    a = rng.integers(0, n, n_battles)
    b = (a + rng.integers(1, n, n_battles)) % n
    pa, pb = np.exp(beta[a]), np.exp(beta[b])
    bad = 1 / (1 + pa + pb)
    rest = 1 - bad
    win_a = rest * pa / (pa + nu * pb)
    win_b = rest * pb / (pb + nu * pa)
    u = rng.random(n_battles)
    outcome = np.where(u < bad, Outcome.BOTH_BAD,
                       np.where(u < bad + win_a, Outcome.A_WINS, np.where(u < bad + win_a + win_b, Outcome.B_WINS,
                                                                           Outcome.TIE)))  # fmt: skip
    keys, counts = np.unique(np.stack([a, b, outcome]), axis=1, return_counts=True)
    return PairOutcomes(n, keys[0], keys[1], keys[2].astype(np.int64), counts.astype(float))
