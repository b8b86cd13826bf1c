"""Active sampling: draw the pairs whose next vote would shrink the intervals most.

A vote on pair (i, j) adds p (1 - p) (e_i - e_j)(e_i - e_j)^T to the information about theta, p the chance that i
wins. With current covariance S, one such vote lowers model k's variance by

    w (S u)_k^2 / (1 + w u^T S u),   u = e_i - e_j,  w = p (1 - p)

(the rank-one update of S). The leaderboard's goal is narrow intervals on average, so a pair's score is the sum
over models of that drop divided by 2 sd_k, the first-order drop in the mean standard deviation. Pairs are drawn
in proportion to score, mixed with a uniform floor so every eligible pair keeps a positive probability (new
models, and a check on models everyone thinks settled).

Why the ratings stay unbiased: which pair is shown depends only on earlier votes, never on the outcome of the
battle being drawn, and the outcome's probability given the pair is the BT model's whatever the policy. So the
likelihood of the votes factorises into the model's part and the policy's part, and the policy's part does not
involve theta: the maximum-likelihood fit (and its model-based intervals) is the same estimator as under uniform
sampling. What changes is only which pairs the information comes from. Each battle keeps the probability it was
drawn with, so that statistics that are not conditional on the pair (a raw win rate over all battles) can be
reweighted by 1 / probability.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

# The share of probability spread uniformly over every eligible pair. Its cost is votes spent off the design: in
# the benchmark (30 models, 4 seeds) 20% lost 1 point at a cold start and 3 when models arrive against 10%, which
# still gives every pair about 2 votes in 10,000.
DEFAULT_FLOOR = 0.1
_PLAN_ITERATIONS = 60
# The plan looks this far ahead: a tenth of the votes so far (the arena grows by about that much between two
# recomputes), at least this many so that a young arena's plan is not a single greedy vote.
MIN_PLANNED_VOTES = 100


@dataclass(frozen=True)
class PairWeights:
    """Unordered pairs (i < j) and the probability of drawing each; sums to 1."""

    i: np.ndarray
    j: np.ndarray
    probability: np.ndarray


def pair_scores(theta: np.ndarray, covariance: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """First-order drop in the mean standard deviation of theta from one more vote on each pair."""
    sd = np.sqrt(np.maximum(np.diag(covariance), 1e-12))
    su = covariance[:, i] - covariance[:, j]  # (n, pairs): S u per pair
    spread = su[i, np.arange(len(i))] - su[j, np.arange(len(i))]  # u^T S u
    w = expit(theta[i] - theta[j])
    w = w * (1 - w)
    drop = w * ((su**2) / (2 * sd[:, None])).sum(axis=0) / (1 + w * spread)
    return np.maximum(drop, 0.0)


def information(theta: np.ndarray, battles: np.ndarray, alpha: float) -> np.ndarray:
    """The BT information about theta from `battles` (n, n, symmetric) battles per pair plus the prior's alpha
    virtual ties."""
    p = expit(theta[:, None] - theta[None, :])
    weight = (np.asarray(battles, dtype=np.float64) + alpha) * p * (1 - p)
    np.fill_diagonal(weight, 0.0)
    return np.diag(weight.sum(axis=1)) - weight


def information_covariance(theta: np.ndarray, battles: np.ndarray, alpha: float) -> np.ndarray:
    """Model-based covariance of the mean-zero theta: the pseudo-inverse of the information."""
    return np.linalg.pinv(information(theta, battles, alpha), hermitian=True)


def covariance(information: np.ndarray) -> np.ndarray:
    """Inverse of the information on the sum-zero subspace: inv(H + s u u^T) - u u^T / s (u the unit all-ones
    direction, along which H is singular). Unlike a pseudo-inverse, no eigenvalue cutoff to misjudge."""
    n = information.shape[0]
    scale = np.trace(information) / n
    return np.linalg.inv(information + scale / n) - 1.0 / (n * scale)


def plan(
    theta: np.ndarray,
    known: np.ndarray,
    planned_votes: float,
    i: np.ndarray,
    j: np.ndarray,
    iterations: int = _PLAN_ITERATIONS,
) -> np.ndarray:
    """The share of the next `planned_votes` votes to give each pair (i, j) so that the mean standard deviation
    of theta afterwards is smallest, given the information `known` already in hand: an optimal design, found by
    the multiplicative algorithm (each pair's share grows with its score, the drop in the criterion per vote,
    evaluated at the planned covariance; shares that help most grow until the scores even out)."""
    w = expit(theta[i] - theta[j])
    w = w * (1 - w)
    n = len(theta)
    share = np.full(len(i), 1.0 / len(i))
    for _ in range(iterations):
        added = np.zeros((n, n))
        added[i, j] = added[j, i] = -planned_votes * share * w
        added[np.diag_indices(n)] = -added.sum(axis=1)
        planned = covariance(known + added)
        score = pair_scores(theta, planned, i, j) * (1 + w * _spread(planned, i, j))
        mean = share @ score
        if mean <= 0:
            break
        share = share * np.sqrt(score / mean)
        share /= share.sum()
    return share


def planned_votes(votes_so_far: float) -> float:
    """How many votes the next plan covers: shared by the recompute job and the simulation so that the benchmark
    measures the policy the site runs."""
    return max(float(MIN_PLANNED_VOTES), 0.1 * votes_so_far)


def mean_sd(theta: np.ndarray, known: np.ndarray, votes: float, share: np.ndarray, i: np.ndarray, j: np.ndarray):
    """Mean standard deviation of theta after `votes` more votes spread over pairs (i, j) by `share`: the
    leaderboard's mean half-width over 1.96 ELO_SCALE, the criterion the plan minimises."""
    w = expit(theta[i] - theta[j])
    n = len(theta)
    added = np.zeros((n, n))
    added[i, j] = added[j, i] = -votes * share * w * (1 - w)
    added[np.diag_indices(n)] = -added.sum(axis=1)
    return float(np.sqrt(np.maximum(np.diag(covariance(known + added)), 0.0)).mean())


def _spread(covariance: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return covariance[i, i] + covariance[j, j] - 2 * covariance[i, j]


def pair_weights(
    theta: np.ndarray,
    known: np.ndarray,
    planned_votes: float,
    eligible: np.ndarray | None = None,
    floor: float = DEFAULT_FLOOR,
) -> PairWeights:
    """Probabilities over the eligible unordered pairs ((n, n) boolean, default all) for the next
    `planned_votes` votes, given the information `known` (see `information`): the optimal design's shares, with
    `floor` of the mass spread uniformly."""
    if not 0 < floor <= 1:
        raise ValueError("floor must be in (0, 1] so that every eligible pair can be drawn")
    n = len(theta)
    i, j = np.triu_indices(n, 1)
    if eligible is not None:
        keep = np.asarray(eligible, dtype=bool)[i, j]
        i, j = i[keep], j[keep]
    if len(i) == 0:
        raise ValueError("no eligible pair")
    theta = np.asarray(theta, dtype=np.float64)
    design = plan(theta, np.asarray(known, dtype=np.float64), planned_votes * (1 - floor), i, j)
    probability = (1 - floor) * design + floor / len(i)
    return PairWeights(i, j, probability / probability.sum())
