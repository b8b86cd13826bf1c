"""Bradley-Terry maximum likelihood on an aggregated win matrix, with choix.

The model: P(i beats j) = sigmoid(theta_i - theta_j). A tie contributes half a win each way (a "soft"
outcome y = 1/2 in the likelihood y log p + (1 - y) log(1 - p)). So that every model gets a finite rating,
even one with no wins or in a part of the graph cut off from the rest, the fit adds `alpha` virtual ties
between every pair of models: a proper penalised likelihood that an independent optimiser can reproduce.
"""

from __future__ import annotations

import choix
import numpy as np

ELO_SCALE = 400.0 / np.log(10.0)
ELO_CENTRE = 1000.0
DEFAULT_ALPHA = 0.01


def regularised(win_matrix: np.ndarray, alpha: float) -> np.ndarray:
    """The win matrix plus alpha virtual ties (alpha/2 wins each way) between every pair."""
    if alpha <= 0:
        raise ValueError("alpha must be positive so that every model has a finite rating")
    n = win_matrix.shape[0]
    prior = np.full((n, n), alpha / 2.0)
    np.fill_diagonal(prior, 0.0)
    return win_matrix + prior


def fit(
    win_matrix: np.ndarray,
    alpha: float = DEFAULT_ALPHA,
    initial: np.ndarray | None = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> np.ndarray:
    """Mean-zero log-strengths theta that maximise the regularised soft-tie likelihood."""
    w = np.asarray(win_matrix, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError("win matrix must be square")
    if w.shape[0] < 2:
        raise ValueError("need at least two models")
    if np.any(w < 0):
        raise ValueError("win counts must be non-negative")
    theta = choix.ilsr_pairwise_dense(
        regularised(w, alpha), alpha=0.0, initial_params=initial, tol=tol, max_iter=max_iter
    )
    return theta - theta.mean()


def to_elo(theta: np.ndarray, anchor: tuple[int, float] | None = None) -> np.ndarray:
    """Elo-like scores: 1000 + 400/ln(10) * theta, mean-centred, or shifted so model `anchor[0]` scores
    `anchor[1]`. Works on a vector or on a (rounds, models) array of bootstrap draws."""
    theta = np.asarray(theta, dtype=np.float64)
    centred = theta - theta.mean(axis=-1, keepdims=True)
    scores = ELO_CENTRE + ELO_SCALE * centred
    if anchor is not None:
        index, value = anchor
        scores = scores - scores[..., index : index + 1] + value
    return scores
