"""Pooled boards: each emotion board's ratings shrink toward the other votes' ratings, the more the less data it
has.

The model (hierarchical Bradley-Terry, fitted by empirical Bayes): on board g, model i has strength

    theta_g[i] = c_g[i] + delta_g[i],   delta_g[i] ~ Normal(0, tau^2)

where c_g are the ratings fitted on every counted vote *outside* board g. Leaving the board's own votes out of its
prior centre matters: a board that holds most of the votes would otherwise be its own prior, and would testify
that boards never differ from the overall one. The centre is uncertain too (covariance V_g, the inverse of its
fit's information), so the prior is Normal(c_g, tau^2 I + V_g). A board with thousands of battles pins theta_g
and keeps it; a board with a dozen stays near c_g and moves only as far as its votes insist.

The board's estimate is the posterior mode given its votes and that prior (a penalised BT fit that needs no
virtual ties: the prior keeps every rating finite), and tau, how far boards differ from one another, is estimated
from all boards of a family at once through their Laplace-approximated marginal likelihood, and integrated out
over a grid (see `pool`): one tau per family (groups, categories), since what differs between a family's boards
is mostly how much data they have.
Intervals come from the posterior covariance (H_g + Q_g)^-1, H_g the board's own information and Q_g the prior
precision; `borrowed` is diag((H_g + Q_g)^-1 Q_g): 0 for a model whose board rating is all its own votes, 1 for
one whose board rating is the rest's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from ratings import batched
from ratings import bradley_terry as bt

# The grid of tau in logits: from boards that barely differ (0.9 Elo points) to wildly different ones.
_LOG_TAU_BOUNDS = (np.log(0.005), np.log(4.0))
_GRID = 16
_TOL = 1e-8
_MAX_ITER = 100
_MAX_HALVINGS = 40
# A tau whose weight is below this share of the likeliest one's adds nothing a double can hold to the mixture.
_NEGLIGIBLE = 1e-17


@dataclass(frozen=True)
class PooledBoards:
    """Per board g and model i (the overall board's model indices)."""

    theta: np.ndarray  # (boards, n) posterior mode, centred like the overall theta
    covariance: np.ndarray  # (boards, n, n) posterior covariance
    borrowed: np.ndarray  # (boards, n) weight of the prior centre in the board's rating, 0..1
    battles: np.ndarray  # (boards, n) battles of each model on each board
    tau: float  # logits, the posterior geometric mean
    # Each board's prior centre (the fit of every vote outside it) and that centre's covariance: with tau they give
    # the prior, Normal(centre, tau^2 I + centre_covariance), that ratings.flip holds fixed.
    centre: np.ndarray | None = None  # (boards, n)
    centre_covariance: np.ndarray | None = None  # (boards, n, n)

    def prior_precision(self, board: int, tau: float | None = None) -> np.ndarray:
        """The prior precision of one board at tau (default: the posterior geometric mean)."""
        n = self.theta.shape[1]
        value = self.tau if tau is None else tau
        return np.linalg.inv(self.centre_covariance[board] + value**2 * np.eye(n))

    def board_borrowed(self) -> np.ndarray:
        """Per board, the mean borrowed weight over the models with battles on it (nan if none)."""
        present = self.battles > 0
        with np.errstate(invalid="ignore"):
            return np.where(present.any(axis=1), (self.borrowed * present).sum(axis=1) / present.sum(axis=1), np.nan)


def _objective(forward, backward, gap, offset, precision):
    """Per board: the negative log-likelihood of its votes plus the prior's quadratic penalty. log sigmoid(+-gap)
    as min(+-gap, 0) - log1p(exp(-|gap|)), the formula scipy's log_expit uses, with the one exp and log1p shared by
    both directions: log_expit itself costs four times as much, and this is the fit's most evaluated line."""
    soft = np.log1p(np.exp(-np.abs(gap)))
    data = -(forward * np.minimum(gap, 0.0) + backward * np.minimum(-gap, 0.0) - (forward + backward) * soft)
    penalty = (offset[:, None, :] @ precision)[:, 0, :] * offset
    return data.sum(axis=-1) + 0.5 * penalty.sum(axis=-1)


def posterior_mode(
    forward: np.ndarray, backward: np.ndarray, centre: np.ndarray, precision: np.ndarray,
    layout: batched.PairLayout, start: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Mode of each board's posterior (rows of per-pair wins; prior Normal(centre[g], inv(precision[g]))) by
    Newton's method with step halving; the data part of the Hessian there, (boards, n, n); and the objective
    there, per board."""
    rows = forward.shape[0]
    theta = np.array(centre if start is None else start, dtype=np.float64)
    total = forward + backward
    gap = layout.gaps(theta)
    value = _objective(forward, backward, gap, theta - centre, precision)
    for _ in range(_MAX_ITER):
        p = expit(gap)
        gradient = layout.per_model(total * p - forward) + (precision @ (theta - centre)[..., None])[..., 0]
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
    return theta, layout.laplacian(total * p * (1 - p)), value


@dataclass(frozen=True)
class _Centres:
    """Each board's prior centre (the fit of every other vote) and its covariance."""

    theta: np.ndarray  # (boards, n)
    covariance: np.ndarray  # (boards, n, n)


def _centres(board_wins: np.ndarray, overall_wins: np.ndarray, alpha: float, labels: np.ndarray | None) -> _Centres:
    rest = np.maximum(overall_wins[None] - board_wins, 0.0)
    start = bt.fit(overall_wins, alpha)
    theta = batched.fit_many(rest, alpha, start)
    if labels is not None:  # centred per component, like the overall board
        for component in np.unique(labels):
            members = labels == component
            theta[:, members] -= theta[:, members].mean(axis=1, keepdims=True)
    layout = batched.PairLayout(len(start))
    forward, backward = layout.split(rest)
    hessian = batched.point_hessian(forward + alpha / 2, backward + alpha / 2, theta, layout)
    n = len(start)
    scale = np.einsum("gii->g", hessian) / n
    # The inverse on the sum-zero subspace: inv(H + s u u^T) - u u^T / s, u the unit all-ones direction.
    covariance = np.linalg.inv(batched.definite(hessian)) - np.full((n, n), 1.0 / n) / scale[:, None, None]
    return _Centres(theta, (covariance + covariance.transpose(0, 2, 1)) / 2)


def _prior_precision(centres: _Centres, tau: float) -> np.ndarray:
    # Not through one eigendecomposition of the covariance for the whole grid of tau: numpy's batched eigh is
    # slower than the grid's 16 inverses unless BLAS runs on one thread, and many times slower when it does not.
    n = centres.theta.shape[1]
    return np.linalg.inv(centres.covariance + tau**2 * np.eye(n))


def _precision_and_logdet(matrices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of each symmetric positive definite matrix and the log-determinant of that inverse (by Cholesky:
    a quarter of the work of slogdet's LU). numpy's batched routines, not a loop of scipy's LAPACK calls: on small
    matrices those cost a BLAS thread hand-off each."""
    return np.linalg.inv(matrices), -_logdet(matrices)


def _logdet(matrices: np.ndarray) -> np.ndarray:
    """log det of each symmetric positive definite matrix, by Cholesky."""
    factor = np.linalg.cholesky(matrices)
    return 2.0 * np.log(np.diagonal(factor, axis1=-2, axis2=-1)).sum(axis=-1)


def pool(
    board_wins: np.ndarray,
    overall_wins: np.ndarray,
    alpha: float = bt.DEFAULT_ALPHA,
    labels: np.ndarray | None = None,
    tau: float | None = None,
) -> PooledBoards:
    """Pool a family of boards ((boards, n, n) win matrices over the overall board's n models; each board's votes
    among the overall ones). `labels`: the overall board's components, within which the prior centres are
    centred. With tau (logits) given, the posterior for that tau. Otherwise tau is integrated out: the
    posteriors on a grid of tau are mixed by tau's own posterior (marginal likelihood, flat prior on tau), so
    that the intervals also carry the doubt about tau; a plug-in estimate at the likeliest tau would, whenever
    the boards happen to look alike, claim they are exactly alike and be overconfident."""
    board_wins = np.asarray(board_wins, dtype=np.float64)
    overall_wins = np.asarray(overall_wins, dtype=np.float64)
    n = overall_wins.shape[0]
    if board_wins.ndim != 3 or board_wins.shape[1:] != (n, n):
        raise ValueError("board wins must be (boards, n, n) over the overall board's models")
    layout = batched.PairLayout(n)
    forward, backward = layout.split(board_wins)
    centres = _centres(board_wins, overall_wins, alpha, labels)
    grid = np.array([tau]) if tau is not None else np.exp(np.linspace(*_LOG_TAU_BOUNDS, _GRID))
    # First every tau's posterior mode and its weight (Laplace: log p(votes | tau), + log tau for the flat prior on
    # tau seen on a log-spaced grid), then the covariances, only for the taus whose weight can show in the
    # mixture: most of the grid weighs less than 1e-16 of the likeliest tau, and an inverse per board each is
    # most of the fit's cost.
    log_weight, thetas, precisions = [], [], []
    start = None
    eye = np.eye(n)
    for value in grid:
        precision, logdet_prior = _precision_and_logdet(centres.covariance + value**2 * eye)
        theta, data_hessian, value_at_mode = posterior_mode(forward, backward, centres.theta, precision, layout, start)
        start = theta
        logdet_posterior = _logdet(data_hessian + precision)
        log_weight.append(-value_at_mode.sum() + 0.5 * (logdet_prior.sum() - logdet_posterior.sum()) + np.log(value))
        thetas.append(theta)
        precisions.append(precision if len(grid) == 1 else None)
    weight = np.exp(np.array(log_weight) - max(log_weight))
    weight /= weight.sum()
    thetas = np.array(thetas)
    mean = np.einsum("k,kgi->gi", weight, thetas)
    # Law of total variance: the mixture's covariance is the mean covariance plus the spread of the means.
    spread = thetas - mean
    covariance = np.einsum("k,kgi,kgj->gij", weight, spread, spread)
    borrowed = np.zeros_like(mean)
    for k in np.flatnonzero(weight > _NEGLIGIBLE * weight.max()):
        precision = precisions[k]
        if precision is None:
            precision, _ = _precision_and_logdet(centres.covariance + grid[k] ** 2 * eye)
        p = expit(layout.gaps(thetas[k]))
        posterior = np.linalg.inv(layout.laplacian((forward + backward) * p * (1 - p)) + precision)
        covariance += weight[k] * posterior
        # diag(covariance @ precision) without the product: precision is symmetric.
        borrowed += weight[k] * np.einsum("gij,gij->gi", posterior, precision)
    battles = (board_wins + board_wins.transpose(0, 2, 1)).sum(axis=2)
    return PooledBoards(
        theta=mean,
        covariance=(covariance + covariance.transpose(0, 2, 1)) / 2,
        borrowed=borrowed,
        battles=battles,
        tau=float(np.exp(weight @ np.log(grid))),
        centre=centres.theta,
        centre_covariance=centres.covariance,
    )
