"""Rank correlation between arena ratings and an external score (e.g. EQ-Bench), with bootstrap intervals that
carry both the sampling of models and the uncertainty of each rating."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Correlation:
    method: str
    n_models: int
    estimate: float
    ci_low: float
    ci_high: float


def _coefficient(method: str, x: np.ndarray, y: np.ndarray) -> float:
    if method == "spearman":
        return float(stats.spearmanr(x, y).statistic)
    if method == "kendall":
        return float(stats.kendalltau(x, y).statistic)
    raise ValueError("method must be 'spearman' or 'kendall'")


def rank_correlations(
    ratings: np.ndarray,
    scores: np.ndarray,
    rng: np.random.Generator,
    *,
    rating_se: np.ndarray | None = None,
    score_se: np.ndarray | None = None,
    rounds: int = 2000,
    methods: tuple[str, ...] = ("spearman", "kendall"),
) -> list[Correlation]:
    """Spearman and Kendall with 95% percentile intervals.

    Each round resamples the models with replacement and redraws every rating (and score, when its standard
    error is known) from a normal with that standard error, so a correlation built on noisy ratings gets the
    wide interval it deserves."""
    ratings, scores = np.asarray(ratings, float), np.asarray(scores, float)
    n = len(ratings)
    if n != len(scores):
        raise ValueError("ratings and scores must have the same length")
    if n < 3:
        raise ValueError("a rank correlation needs at least 3 models")
    if not (np.all(np.isfinite(ratings)) and np.all(np.isfinite(scores))):
        raise ValueError("ratings and scores must be finite")
    rating_se = np.zeros(n) if rating_se is None else np.asarray(rating_se, float)
    score_se = np.zeros(n) if score_se is None else np.asarray(score_se, float)
    picks = rng.integers(0, n, size=(rounds, n))
    noisy_ratings = ratings[picks] + rng.normal(size=(rounds, n)) * rating_se[picks]
    noisy_scores = scores[picks] + rng.normal(size=(rounds, n)) * score_se[picks]
    results = []
    for method in methods:
        draws = np.array([_coefficient(method, noisy_ratings[r], noisy_scores[r]) for r in range(rounds)])
        # A resample may repeat one model n times (no variance): such rounds carry no information.
        draws = draws[np.isfinite(draws)]
        low, high = np.percentile(draws, [2.5, 97.5]) if len(draws) else (np.nan, np.nan)
        results.append(Correlation(method, n, _coefficient(method, ratings, scores), float(low), float(high)))
    return results


def se_from_interval(ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """The standard error a symmetric 95% interval implies."""
    return (np.asarray(ci_high, float) - np.asarray(ci_low, float)) / (2 * Z_95)
