"""The pooled fit as first written (ratings/pooling.py before its speed-up), kept for the tests: the objective
by scipy's log_expit in both directions, the prior penalty by einsum, the objective at the mode evaluated anew,
and diag(covariance @ precision) by the full product. The fast version must give the same numbers to rounding."""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from ratings import batched
from ratings.pooling import _GRID, _LOG_TAU_BOUNDS, _MAX_HALVINGS, _MAX_ITER, _TOL, _centres


def _objective(forward, backward, gap, offset, precision):
    data = -(forward * log_expit(gap) + backward * log_expit(-gap)).sum(axis=-1)
    return data + 0.5 * np.einsum("gi,gij,gj->g", offset, precision, offset)


def _posterior_mode(forward, backward, centre, precision, layout, start=None):
    rows = forward.shape[0]
    theta = np.array(centre if start is None else start, dtype=np.float64)
    total = forward + backward
    gap = layout.gaps(theta)
    value = _objective(forward, backward, gap, theta - centre, precision)
    for _ in range(_MAX_ITER):
        p = expit(gap)
        gradient = layout.per_model(total * p - forward) + np.einsum("gij,gj->gi", precision, theta - centre)
        hessian = layout.laplacian(total * p * (1 - p)) + precision
        step = -np.linalg.solve(hessian, gradient[..., None])[..., 0]
        step *= np.minimum(1.0, batched.MAX_STEP / np.maximum(np.max(np.abs(step), axis=1), 1e-300))[:, None]
        fraction = np.ones(rows)
        for _ in range(_MAX_HALVINGS):
            trial = theta + fraction[:, None] * step
            trial_gap = layout.gaps(trial)
            trial_value = _objective(forward, backward, trial_gap, trial - centre, precision)
            worse = trial_value > value + 1e-12 * np.maximum(1.0, np.abs(value))
            if not worse.any():
                break
            fraction[worse] /= 2
        theta, gap, value = trial, trial_gap, trial_value
        if np.max(np.abs(fraction[:, None] * step)) < _TOL:
            break
    else:
        raise RuntimeError("the pooled fit did not converge")
    p = expit(gap)
    return theta, layout.laplacian(total * p * (1 - p))


def reference_pool(board_wins, overall_wins, alpha, labels=None, tau=None) -> dict:
    """theta, covariance, borrowed and tau as ratings.pooling.pool returns them."""
    n = overall_wins.shape[0]
    layout = batched.PairLayout(n)
    forward, backward = layout.split(board_wins)
    centres = _centres(board_wins, overall_wins, alpha, labels)
    grid = np.array([tau]) if tau is not None else np.exp(np.linspace(*_LOG_TAU_BOUNDS, _GRID))
    log_weight, thetas, covariances, borrowed = [], [], [], []
    start = None
    for value in grid:
        precision = np.linalg.inv(centres.covariance + value**2 * np.eye(n))
        theta, data_hessian = _posterior_mode(forward, backward, centres.theta, precision, layout, start)
        start = theta
        covariance = np.linalg.inv(data_hessian + precision)
        objective = _objective(forward, backward, layout.gaps(theta), theta - centres.theta, precision).sum()
        _, logdet_prior = np.linalg.slogdet(precision)
        _, logdet_posterior = np.linalg.slogdet(data_hessian + precision)
        log_weight.append(-objective + 0.5 * (logdet_prior.sum() - logdet_posterior.sum()) + np.log(value))
        thetas.append(theta)
        covariances.append(covariance)
        borrowed.append(np.einsum("gii->gi", covariance @ precision))
    weight = np.exp(np.array(log_weight) - max(log_weight))
    weight /= weight.sum()
    thetas, covariances = np.array(thetas), np.array(covariances)
    mean = np.einsum("k,kgi->gi", weight, thetas)
    spread = thetas - mean
    covariance = np.einsum("k,kgij->gij", weight, covariances) + np.einsum("k,kgi,kgj->gij", weight, spread, spread)
    return {
        "theta": mean,
        "covariance": (covariance + covariance.transpose(0, 2, 1)) / 2,
        "borrowed": np.einsum("k,kgi->gi", weight, np.array(borrowed)),
        "tau": float(np.exp(weight @ np.log(grid))),
    }
