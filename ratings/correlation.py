"""Rank correlation between arena ratings and an external score (e.g. EQ-Bench), with bootstrap intervals that
carry both the sampling of models and the uncertainty of each rating and score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

Z_95 = 1.959963984540054
METHODS = ("spearman", "kendall")
# Values per slice of the vectorised Kendall computation (8 bytes each, a few arrays alive at once).
KENDALL_CELLS = 2_000_000
# The latent covariance's inverse-Wishart prior: 3 degrees of freedom make it uniform on the correlation; its
# scale is a tenth of the measured spreads, weak on the variances.
PRIOR_DF = 3
PRIOR_SCALE = 0.1
# Gibbs steps per chain: each chain starts at the measured values and gives its last state as one draw.
GIBBS_STEPS = 100


@dataclass(frozen=True)
class Correlation:
    method: str
    n_models: int
    estimate: float
    ci_low: float
    ci_high: float


def rank_correlations(
    ratings: np.ndarray,
    scores: np.ndarray,
    rng: np.random.Generator,
    *,
    rating_se: np.ndarray | None = None,
    score_se: np.ndarray | None = None,
    rounds: int = 2000,
    methods: tuple[str, ...] = METHODS,
) -> list[Correlation]:
    """Spearman and Kendall correlations of the models' true ratings and scores, with 95% percentile intervals.

    A rating with a standard error is a noisy measurement, and noise pulls a correlation toward zero: correlating
    the measured ratings (or those redrawn with more noise) understates the relation and gives intervals that
    miss it. So the models' true (rating, score) pairs are taken as a sample from a bivariate normal of unknown
    mean and covariance, seen through noise of known standard error (errors in variables). Each round resamples
    the models and runs a short Gibbs chain on that resample (true pairs, mean, covariance), whose last true pairs
    are correlated: the interval carries the sampling of models, the measurement noise and the uncertainty of the
    latent relation itself. (A maximum-likelihood fit in place of the chain lands on a perfect latent correlation
    when a few noisy ratings cannot rule it out, and was then sure of it.) The estimate is the median correlation
    of posterior draws for the models as they are. Without standard errors this is the plain coefficient with a
    plain bootstrap over models."""
    for method in methods:
        if method not in METHODS:
            raise ValueError("method must be 'spearman' or 'kendall'")
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
    observed = np.column_stack([ratings, scores])
    picks = rng.integers(0, n, size=(rounds, n))
    if not (np.any(rating_se > 0) or np.any(score_se > 0)):
        resampled = observed[picks]
        return [
            _interval(method, n, _coefficients(method, observed[None])[0], _coefficients(method, resampled))
            for method in methods
        ]
    # A measurement without noise is given a negligible one, so one formula serves both kinds.
    floor = 1e-6 * np.maximum(observed.std(axis=0), 1e-12)
    noise_var = np.maximum(np.column_stack([rating_se, score_se]), floor) ** 2
    everyone = np.arange(n)[None, :]
    # A resample of fewer than three distinct models has a singular covariance: its chain turns to NaN, which
    # `_interval` drops (as it drops a resample with no variance), so numpy's warnings about it say nothing.
    with np.errstate(divide="ignore", invalid="ignore"):
        as_they_are = _posterior_draws(observed[everyone], noise_var[everyone], rng, draws=rounds)
        resampled = _posterior_draws(observed[picks], noise_var[picks], rng, draws=1)
    return [
        _interval(method, n, float(np.median(_coefficients(method, as_they_are))), _coefficients(method, resampled))
        for method in methods
    ]


def _interval(method: str, n: int, estimate: float, draws: np.ndarray) -> Correlation:
    # A resample may repeat one model n times (no variance): such rounds carry no information.
    draws = draws[np.isfinite(draws)]
    low, high = np.percentile(draws, [2.5, 97.5]) if len(draws) else (np.nan, np.nan)
    return Correlation(method, n, float(estimate), float(low), float(high))


def _coefficients(method: str, pairs: np.ndarray) -> np.ndarray:
    """The coefficient of each row of `pairs` (rows, models, 2); NaN where a column does not vary."""
    x, y = pairs[..., 0], pairs[..., 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "spearman":
            rx, ry = stats.rankdata(x, axis=1), stats.rankdata(y, axis=1)
            rx -= rx.mean(axis=1, keepdims=True)
            ry -= ry.mean(axis=1, keepdims=True)
            return (rx * ry).sum(axis=1) / np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
        # Kendall's tau-b, as scipy computes it, over every pair of models at once; in slices of rows, since the
        # sign arrays hold rows x models^2 values (2,000 rounds of 150 models would take gigabytes at once).
        step = max(1, KENDALL_CELLS // (x.shape[1] ** 2))
        return np.concatenate([_kendall(x[k : k + step], y[k : k + step]) for k in range(0, len(x), step)])


def _kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    return (sx * sy).sum(axis=(1, 2)) / np.sqrt((sx * sx).sum(axis=(1, 2)) * (sy * sy).sum(axis=(1, 2)))


def _posterior_draws(observed: np.ndarray, noise_var: np.ndarray, rng: np.random.Generator, draws: int) -> np.ndarray:
    """For each row of `observed` (rows, models, 2), `draws` independent Gibbs chains over the models' true pairs
    and the latent normal's mean and covariance; each chain's last state is one draw. Returns
    (rows * draws, models, 2)."""
    observed = np.repeat(observed, draws, axis=0)
    noise_var = np.repeat(noise_var, draws, axis=0)
    rows, n, _ = observed.shape
    mean = observed.mean(axis=1)
    centred = observed - mean[:, None, :]
    cov = tuple((centred[..., i] * centred[..., j]).mean(axis=1) for i, j in ((0, 0), (0, 1), (1, 1)))
    scale = (PRIOR_SCALE * cov[0], np.zeros(rows), PRIOR_SCALE * cov[2])
    for _ in range(GIBBS_STEPS):
        v11, v12, v22 = _inverse(*_posterior_precision(cov, noise_var))
        centre = _posterior_mean(mean, cov, noise_var, observed, v11, v12, v22)
        truth = _draw_normal(centre, v11, v12, v22, rng)
        # Mean given the truths (flat prior), then the covariance given both.
        c11, c12, c22 = cov
        mean = truth.mean(axis=1) + _draw_normal(np.zeros((rows, 2)), c11 / n, c12 / n, c22 / n, rng)
        d = truth - mean[:, None, :]
        posterior_scale = (scale[0] + (d[..., 0] ** 2).sum(1), scale[1] + (d[..., 0] * d[..., 1]).sum(1),
                           scale[2] + (d[..., 1] ** 2).sum(1))  # fmt: skip
        cov = _draw_inverse_wishart(posterior_scale, PRIOR_DF + n, rng)
    return truth


def _draw_normal(centre, v11, v12, v22, rng):
    l11 = np.sqrt(v11)
    l21 = v12 / l11
    l22 = np.sqrt(np.maximum(v22 - l21 * l21, 0.0))
    z = rng.normal(size=centre.shape)
    return np.stack([centre[..., 0] + l11 * z[..., 0], centre[..., 1] + l21 * z[..., 0] + l22 * z[..., 1]], axis=-1)


def _draw_inverse_wishart(scale, df, rng):
    """2x2 inverse-Wishart draws: the inverse of a Wishart(scale^-1, df) draw (Bartlett's decomposition)."""
    p11, p12, p22 = _inverse(*scale)
    # Cholesky factor of the Wishart's scale matrix.
    l11 = np.sqrt(p11)
    l21 = p12 / l11
    l22 = np.sqrt(np.maximum(p22 - l21 * l21, 1e-300))
    rows = len(p11)
    a11 = np.sqrt(rng.chisquare(df, rows))
    a22 = np.sqrt(rng.chisquare(df - 1, rows))
    a21 = rng.normal(size=rows)
    # W = (L A)(L A)^T with A lower triangular.
    b11 = l11 * a11
    b21 = l21 * a11 + l22 * a21
    b22 = l22 * a22
    w11, w12, w22 = b11 * b11, b11 * b21, b21 * b21 + b22 * b22
    return _inverse(w11, w12, w22)


def _inverse(a11, a12, a22):
    det = a11 * a22 - a12 * a12
    return a22 / det, -a12 / det, a11 / det


def _posterior_precision(cov, noise_var):
    i11, i12, i22 = _inverse(*cov)
    return (
        i11[:, None] + 1 / noise_var[..., 0],
        np.broadcast_to(i12[:, None], noise_var.shape[:2]),
        (i22[:, None] + 1 / noise_var[..., 1]),
    )


def _posterior_mean(mean, cov, noise_var, observed, v11, v12, v22):
    i11, i12, i22 = _inverse(*cov)
    prior1 = (i11 * mean[:, 0] + i12 * mean[:, 1])[:, None]
    prior2 = (i12 * mean[:, 0] + i22 * mean[:, 1])[:, None]
    r1 = prior1 + observed[..., 0] / noise_var[..., 0]
    r2 = prior2 + observed[..., 1] / noise_var[..., 1]
    return np.stack([v11 * r1 + v12 * r2, v12 * r1 + v22 * r2], axis=-1)


def se_from_interval(ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """The standard error a symmetric 95% interval implies."""
    return (np.asarray(ci_high, float) - np.asarray(ci_low, float)) / (2 * Z_95)
