"""How far people agree with each other on the same two replies, and the most any judge could agree with them.

Votes are labels 0 (the first reply is better), 1 (the second) and 2 (tie; "both bad" is read as a tie), all in
one orientation per item (an item: one pair of replies). Two kinds of repeated votes:

- *between visitors*: different people voting on the same item. Their agreement (the share of pairs of votes
  with the same label, per item, averaged over items) is the human-human agreement, with ties (three labels) and
  without (pairs where both votes are decisive).
- *within a visitor*: the same person shown the item again later, sides swapped. The share of repeats with the
  same verdict is that visitor's self-consistency.

**The ceiling.** A judge is scored by its agreement with one human vote. On item i, where a random visitor gives
label k with probability p_ik, no judge can agree more than max_k p_ik on average: the ceiling is
E_i[max_k p_ik]. Two votes per item measure E_i[sum_k p_ik^2] (the agreement) but not E[max], so the ceiling is
estimated under a model, and bounded without one:

- *estimate*: item i's log-odds are b d_i + s z_i, z_i standard normal, where d_i is the board's log-odds for the
  item's two models (what the ratings already know), b a scale, s the spread of single pairs of replies around
  their models' difference (what only repeats can tell), and ties follow Davidson's model with parameter nu:
  P(first) = e^{x/2} / D, P(second) = e^{-x/2} / D, P(tie) = nu / D, D = e^{x/2} + e^{-x/2} + nu. (b, s, nu) are
  fitted by maximum likelihood over every item's votes (the normal integrated by Gauss-Hermite quadrature); the
  ceiling is then the mean over items of the integral of max_k P_k.
- *bound*: for any distributions, max_k p_k <= f(sum_k p_k^2) with f(h) = (1 + sqrt((K-1)(K h - 1))) / K (K labels;
  the largest share given the sum of squares puts the rest evenly), and f is concave, so E[max p] <= f(agreement).

Intervals are percentile bootstraps over items (agreement, ceiling) or voters (self-consistency); a single
visitor's self-consistency has a Wilson interval. Pure numpy and scipy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from scipy.special import logsumexp

Z_95 = 1.959963984540054
FIRST, SECOND, TIE = 0, 1, 2
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_LOG_WEIGHTS = np.log(_WEIGHTS / _WEIGHTS.sum())


@dataclass(frozen=True)
class Estimate:
    n: int  # items (agreement, ceiling) or repeats (self-consistency) it rests on
    value: float | None
    ci: tuple[float | None, float | None] = (None, None)

    def as_dict(self) -> dict:
        def r(x):
            return None if x is None else round(float(x), 4)

        return {"n": self.n, "value": r(self.value), "ci": [r(self.ci[0]), r(self.ci[1])]}


@dataclass(frozen=True)
class VoterConsistency:
    repeats: int
    agreed: int
    rate: float
    ci: tuple[float, float]


@dataclass(frozen=True)
class Reliability:
    items: int  # items with votes from two or more visitors
    pairs: int  # pairs of votes by different visitors on one item
    agreement: Estimate  # with ties: three labels
    agreement_decisive: Estimate  # pairs of decisive votes only
    ceiling: Estimate  # the model's estimate of E[max_k p_k], three labels
    ceiling_decisive: Estimate  # the same for a judge scored on decisive votes only
    ceiling_bound: Estimate  # f(agreement): the most any distribution of votes allows
    ceiling_bound_decisive: Estimate
    self_consistency: Estimate
    self_consistency_decisive: Estimate
    voters: list[VoterConsistency] = field(default_factory=list)
    model: dict = field(default_factory=dict)  # fitted b, s, nu


def wilson(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return float(low), float(high)


def ceiling_bound(agreement: float, categories: int) -> float:
    """The largest E[max_k p_k] any item distributions allow given E[sum_k p_k^2] = agreement."""
    k = categories
    return float((1 + np.sqrt(max(0.0, (k - 1) * (k * agreement - 1)))) / k)


def _collisions(counts: np.ndarray) -> np.ndarray:
    """Per item, the share of pairs of its votes that agree (NaN for an item with fewer than two votes)."""
    m = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (counts * (counts - 1)).sum(axis=1) / (m * (m - 1))


def _percentiles(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def davidson_probabilities(x: np.ndarray, nu: float) -> np.ndarray:
    """(..., 3) probabilities of first, second, tie at log-odds x."""
    half = np.asarray(x, dtype=float) / 2
    parts = np.stack([half, -half, np.full_like(half, np.log(nu))], axis=-1)
    return np.exp(parts - logsumexp(parts, axis=-1, keepdims=True))


def _negative_log_likelihood(params: np.ndarray, d: np.ndarray, counts: np.ndarray) -> float:
    b, log_s, log_nu = params
    x = b * d[:, None] + np.exp(log_s) * _NODES[None, :]
    probabilities = davidson_probabilities(x, np.exp(log_nu))
    per_node = (counts[:, None, :] * np.log(np.clip(probabilities, 1e-300, None))).sum(axis=2)
    return -float(logsumexp(per_node + _LOG_WEIGHTS[None, :], axis=1).sum())


_BOUNDS = [(0.0, 5.0), (-5.0, 2.5), (-8.0, 4.0)]


def fit_item_model(d: np.ndarray, counts: np.ndarray, start: np.ndarray | None = None) -> np.ndarray:
    """Maximum-likelihood (b, log s, log nu) of the random-effects Davidson model of the module's docstring."""
    start = np.array([1.0, np.log(0.5), 0.0]) if start is None else start
    result = optimize.minimize(_negative_log_likelihood, start, args=(d, counts), method="L-BFGS-B", bounds=_BOUNDS)
    return result.x


def _parameter_covariance(params: np.ndarray, d: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Inverse of the negative log-likelihood's Hessian at `params` (central differences), made positive
    definite: a parameter at its bound has no curvature to speak of, so its variance is floored, not infinite."""
    step = 1e-3
    k = len(params)
    hessian = np.empty((k, k))
    f = lambda x: _negative_log_likelihood(x, d, counts)  # noqa: E731
    for i in range(k):
        for j in range(i, k):
            e_i, e_j = np.eye(k)[i] * step, np.eye(k)[j] * step
            value = f(params + e_i + e_j) - f(params + e_i - e_j) - f(params - e_i + e_j) + f(params - e_i - e_j)
            hessian[i, j] = hessian[j, i] = value / (4 * step * step)
    values, vectors = np.linalg.eigh(hessian)
    values = np.maximum(values, 1.0)
    return (vectors / values) @ vectors.T


def model_ceilings(params: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """(E[max_k p_k], E[max(p_first, p_second)] / E[p_first + p_second]) over the items at these parameters."""
    b, log_s, log_nu = params
    x = b * d[:, None] + np.exp(log_s) * _NODES[None, :]
    probabilities = davidson_probabilities(x, np.exp(log_nu))
    weights = _WEIGHTS / _WEIGHTS.sum()
    top = (probabilities.max(axis=2) @ weights).mean()
    decisive = probabilities[..., :2]
    return float(top), float((decisive.max(axis=2) @ weights).sum() / (decisive.sum(axis=2) @ weights).sum())


def _agreements(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per item: agreement over all its votes, and over its decisive votes (NaN where fewer than two)."""
    return _collisions(counts), _collisions(counts[:, :2])


def reliability(
    d: np.ndarray,
    counts: np.ndarray,
    *,
    repeat_voters: np.ndarray | None = None,
    first: np.ndarray | None = None,
    second: np.ndarray | None = None,
    rounds: int = 200,
    rng: np.random.Generator | None = None,
) -> Reliability:
    """Everything the module describes.

    d: (items,) board log-odds of each item's first model over its second; counts: (items, 3) votes of distinct
    visitors per label. Items with one vote still inform the model's b and nu. repeat_voters, first, second: per
    repeat by the same visitor, the visitor's index and the two labels (the repeat's read in the first vote's
    orientation)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    d = np.asarray(d, dtype=float)
    counts = np.asarray(counts, dtype=float).reshape(-1, 3)
    if len(d) != len(counts):
        raise ValueError("d and counts must have one row per item")
    per_item, per_item_decisive = _agreements(counts)
    multi = np.isfinite(per_item)
    pairs = int((counts.sum(axis=1) * (counts.sum(axis=1) - 1) / 2)[multi].sum()) if multi.any() else 0

    agreement = agreement_decisive = ceiling = ceiling_decisive = Estimate(int(multi.sum()), None)
    bound = bound_decisive = Estimate(int(multi.sum()), None)
    model: dict = {}
    if multi.any():
        n_items, n_decisive = int(multi.sum()), int(np.isfinite(per_item_decisive).sum())
        idx = rng.integers(0, len(d), size=(rounds, len(d)))
        boot = np.array([_nanmean(per_item[row]) for row in idx])
        boot_decisive = np.array([_nanmean(per_item_decisive[row]) for row in idx])
        h, h2 = _nanmean(per_item), _nanmean(per_item_decisive)
        agreement = Estimate(n_items, h, _percentiles(boot))
        agreement_decisive = Estimate(n_decisive, h2, _percentiles(boot_decisive))
        bound = Estimate(n_items, ceiling_bound(h, 3), _percentiles(np.array([_bound(v, 3) for v in boot])))
        bound_decisive = Estimate(
            n_decisive, _bound(h2, 2), _percentiles(np.array([_bound(v, 2) for v in boot_decisive]))
        )
        params = fit_item_model(d, counts)
        top, top_decisive = model_ceilings(params, d)
        # Refitting the model per round costs seconds each: each round instead draws the parameters from their
        # large-sample normal (inverse observed information) and resamples the items they are averaged over.
        covariance = _parameter_covariance(params, d, counts)
        drawn = rng.multivariate_normal(params, covariance, size=rounds, method="eigh")
        drawn = np.clip(drawn, [low for low, _ in _BOUNDS], [high for _, high in _BOUNDS])
        draws = np.array([model_ceilings(theta, d[row]) for theta, row in zip(drawn, idx, strict=True)])
        ceiling = Estimate(n_items, top, _percentiles(draws[:, 0]))
        ceiling_decisive = Estimate(n_decisive, top_decisive, _percentiles(draws[:, 1]))
        model = {"scale": float(params[0]), "spread": float(np.exp(params[1])), "nu": float(np.exp(params[2]))}

    consistency, consistency_decisive, voters = _self_consistency(repeat_voters, first, second, rounds, rng)
    return Reliability(
        items=int(multi.sum()), pairs=pairs, agreement=agreement, agreement_decisive=agreement_decisive,
        ceiling=ceiling, ceiling_decisive=ceiling_decisive, ceiling_bound=bound,
        ceiling_bound_decisive=bound_decisive, self_consistency=consistency,
        self_consistency_decisive=consistency_decisive, voters=voters, model=model,
    )  # fmt: skip


def _nanmean(values: np.ndarray) -> float:
    values = values[np.isfinite(values)]
    return float(values.mean()) if len(values) else float("nan")


def _bound(agreement: float, categories: int) -> float:
    return float("nan") if not np.isfinite(agreement) else ceiling_bound(agreement, categories)


def _self_consistency(voters, first, second, rounds, rng):
    if voters is None or len(voters) == 0:
        return Estimate(0, None), Estimate(0, None), []
    voters, first, second = (np.asarray(v, dtype=np.int64) for v in (voters, first, second))
    same = (first == second).astype(float)
    decisive = (first != TIE) & (second != TIE)
    ids, index = np.unique(voters, return_inverse=True)
    agreed = np.bincount(index, weights=same, minlength=len(ids))
    total = np.bincount(index, minlength=len(ids)).astype(float)
    agreed_d = np.bincount(index, weights=same * decisive, minlength=len(ids))
    total_d = np.bincount(index, weights=decisive.astype(float), minlength=len(ids))
    # Resample whole visitors: one visitor's repeats are not independent of each other.
    picks = rng.integers(0, len(ids), size=(rounds, len(ids)))
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = agreed[picks].sum(axis=1) / total[picks].sum(axis=1)
        boot_d = agreed_d[picks].sum(axis=1) / total_d[picks].sum(axis=1)
    overall = Estimate(len(same), float(same.mean()), _percentiles(boot))
    n_decisive = int(decisive.sum())
    overall_d = Estimate(n_decisive, float(same[decisive].mean()) if n_decisive else None,
                         _percentiles(boot_d) if n_decisive else (None, None))  # fmt: skip
    rows = [VoterConsistency(int(n), int(k), float(k / n), wilson(k, n)) for k, n in zip(agreed, total, strict=True)]
    rows.sort(key=lambda v: (-v.repeats, v.rate))
    return overall, overall_d, rows


def as_dict(result: Reliability, *, max_voters: int = 200) -> dict:
    """Plain JSON: what the snapshot stores and /api/reliability serves (visitors listed without identity)."""
    return {
        "items": result.items,
        "pairs": result.pairs,
        "agreement": result.agreement.as_dict(),
        "agreement_decisive": result.agreement_decisive.as_dict(),
        "ceiling": result.ceiling.as_dict(),
        "ceiling_decisive": result.ceiling_decisive.as_dict(),
        "ceiling_bound": result.ceiling_bound.as_dict(),
        "ceiling_bound_decisive": result.ceiling_bound_decisive.as_dict(),
        "self_consistency": result.self_consistency.as_dict(),
        "self_consistency_decisive": result.self_consistency_decisive.as_dict(),
        "voters": [
            {
                "repeats": v.repeats,
                "agreed": v.agreed,
                "rate": round(v.rate, 4),
                "ci": [round(v.ci[0], 4), round(v.ci[1], 4)],
            }
            for v in result.voters[:max_voters]
        ],  # fmt: skip
        "voters_total": len(result.voters),
        "model": {k: round(v, 4) for k, v in result.model.items()},
    }
