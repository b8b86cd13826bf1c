"""From aggregated outcomes to a leaderboard: ratings, 95% intervals, rank(UB), battles and win rates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ratings import bradley_terry as bt
from ratings import components, intervals
from ratings.outcomes import Outcome, PairOutcomes

CI_METHODS = ("bootstrap", "sandwich", "cluster")
Z_95 = 1.959963984540054
# Fewer clusters than this (voters or sessions, single votes counted as their own) and a clustered interval is
# not trusted: one placeholder voter makes every resample the same data, a zero-width interval. The component
# falls back to intervals over independent votes, and the board says so (Leaderboard.fallback).
MIN_CLUSTERS = 20
# Draws from a normal approximation when the interval method has no resamples of its own (sandwich, posterior).
RANK_DRAWS = 400


@dataclass(frozen=True)
class RatingParams:
    ci: str = "bootstrap"
    rounds: int = 1000
    seed: int = 0
    alpha: float = bt.DEFAULT_ALPHA
    both_bad: str = "tie"
    # (model index, score) to pin one model's score; None: mean-centred on 1000.
    anchor: tuple[int, float] | None = None

    def __post_init__(self) -> None:
        if self.ci not in CI_METHODS:
            raise ValueError(f"ci must be one of {', '.join(CI_METHODS)}")
        if self.ci != "sandwich" and self.rounds < 2:
            raise ValueError("a bootstrap needs at least 2 rounds")
        if self.both_bad not in ("tie", "drop"):
            raise ValueError("both_bad must be 'tie' or 'drop'")


@dataclass(frozen=True)
class Leaderboard:
    """Per-model arrays, in model-index order."""

    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    rank_ub: np.ndarray
    battles: np.ndarray
    wins: np.ndarray
    ties: np.ndarray
    win_rate: np.ndarray
    # Pairwise matrices for the charts: battles[i, j] and i's win rate against j (ties half).
    pair_battles: np.ndarray
    pair_win_rate: np.ndarray
    theta: np.ndarray
    params: RatingParams = field(default_factory=RatingParams)
    # Connected component of the comparison graph per model (0: the largest); ratings compare within one only.
    component: np.ndarray | None = None
    # 95% interval of each model's rank within its component (1: best), from the same draws as the intervals.
    rank_low: np.ndarray | None = None
    rank_high: np.ndarray | None = None
    # Why clustered intervals were not used, when they were asked for but had too few clusters; None otherwise.
    fallback: str | None = None

    def order(self) -> np.ndarray:
        """Model indices by rating, highest first."""
        return np.argsort(-self.rating, kind="stable")


SEPARATION_TOLERANCE = 1e-6  # rating points


def rank_upper_bound(ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """1 + the number of models whose lower bound is above this model's upper bound. Bounds within a millionth of a
    point touch: identical votes (all ties, say) give equal strengths up to rounding, never separate ranks."""
    return 1 + (ci_low[None, :] > ci_high[:, None] + SEPARATION_TOLERANCE).sum(axis=1)


def rank_interval(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each model's 2.5% and 97.5% rank over draws of its strengths (rows: draws); rank 1 is the best. Ranks come
    from one sort per draw (ties between continuous draws do not occur)."""
    ranks = np.empty(draws.shape, dtype=np.int64)
    order = np.argsort(-draws, axis=1, kind="stable")
    np.put_along_axis(ranks, order, np.arange(1, draws.shape[1] + 1)[None, :], axis=1)
    low = np.floor(np.percentile(ranks, 2.5, axis=0)).astype(np.int64)
    high = np.ceil(np.percentile(ranks, 97.5, axis=0)).astype(np.int64)
    return low, high


def normal_draws(theta: np.ndarray, cov: np.ndarray, rng: np.random.Generator, rounds: int = RANK_DRAWS):
    """Draws of theta from N(theta, cov), for rank intervals where there are no resamples (a singular covariance,
    as a centred fit's, is fine: its square root comes from its eigendecomposition)."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root = vectors * np.sqrt(np.maximum(values, 0.0))
    return theta + rng.standard_normal((rounds, len(theta))) @ root.T


def n_clusters(clustered: intervals.ClusteredOutcomes) -> int:
    """Clusters with a battle in `clustered` (single votes each one)."""
    return len(np.unique(clustered.cluster)) + clustered.n_singles


def model_totals(outcomes: PairOutcomes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Battles, wins and ties (both_bad included as ties) per model, all outcomes counted."""
    n, a, b, o, c = outcomes.n_models, outcomes.model_a, outcomes.model_b, outcomes.outcome, outcomes.count
    battles = np.bincount(a, c, n) + np.bincount(b, c, n)
    wins = np.bincount(a, c * (o == Outcome.A_WINS), n) + np.bincount(b, c * (o == Outcome.B_WINS), n)
    tied = c * ((o == Outcome.TIE) | (o == Outcome.BOTH_BAD))
    ties = np.bincount(a, tied, n) + np.bincount(b, tied, n)
    return battles, wins, ties


def _interval(
    outcomes: PairOutcomes,
    params: RatingParams,
    clustered: intervals.ClusteredOutcomes | None,
    rng: np.random.Generator,
    anchor: tuple[int, float] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """theta, rating, ci_low, ci_high of one connected set of models, and draws of theta for its rank interval."""
    theta = bt.fit(outcomes.win_matrix(params.both_bad), params.alpha)
    rating = bt.to_elo(theta, anchor)
    kwargs = dict(alpha=params.alpha, both_bad=params.both_bad, theta0=theta)
    if params.ci == "sandwich":
        if clustered is None:
            cov = intervals.sandwich_covariance(outcomes, theta, alpha=params.alpha, both_bad=params.both_bad)
        else:
            cov = intervals.clustered_sandwich_covariance(
                clustered, theta, alpha=params.alpha, both_bad=params.both_bad
            )  # fmt: skip
        if anchor is not None:
            # Pinning model k measures everyone relative to k: Var(theta_i - theta_k).
            k = anchor[0]
            se = np.sqrt(np.maximum(np.diag(cov) + cov[k, k] - 2 * cov[:, k], 0))
        else:
            se = np.sqrt(np.maximum(np.diag(cov), 0))
        half = Z_95 * bt.ELO_SCALE * se
        # A generator of its own: the rank draws must not shift anything else the seed decides.
        draws = normal_draws(theta, cov, np.random.default_rng(params.seed))
        return theta, rating, rating - half, rating + half, draws
    if clustered is not None:
        draws = intervals.clustered_bootstrap(clustered, params.rounds, rng, **kwargs)
    elif params.ci == "cluster":
        raise ValueError("the voter-clustered bootstrap needs voter keys")
    else:
        draws = intervals.bootstrap(outcomes, params.rounds, rng, **kwargs)
    ci_low, ci_high = np.percentile(bt.to_elo(draws, anchor), [2.5, 97.5], axis=0)
    return theta, rating, ci_low, ci_high, draws


def rate(
    outcomes: PairOutcomes,
    params: RatingParams = RatingParams(),
    clustered: intervals.ClusteredOutcomes | None = None,
) -> Leaderboard:
    """Each connected component of the comparison graph is fitted, resampled and centred on its own (see
    ratings.components); an anchor pins its own component only. Rank (UB) counts models of the same component.
    With `clustered` (voters, or evaluation sessions with single votes apart), the bootstrap resamples whole
    clusters and the sandwich sums each cluster's scores; without, every battle is independent."""
    if params.ci == "cluster" and clustered is None:
        raise ValueError("the voter-clustered bootstrap needs voter keys")
    n = outcomes.n_models
    labels = components.label(outcomes)
    groups = components.members(labels)
    rng = np.random.default_rng(params.seed)
    # One component (the usual case) draws from the seed's own generator, as before components were split.
    generators = [rng] if len(groups) == 1 else rng.spawn(len(groups))
    theta, rating, ci_low, ci_high = (np.zeros(n) for _ in range(4))
    rank_ub = np.ones(n, dtype=np.int64)
    rank_low, rank_high = np.ones(n, dtype=np.int64), np.ones(n, dtype=np.int64)
    fallback = None
    for models, generator in zip(groups, generators, strict=True):
        sub, _ = components.restrict(outcomes, models)
        sub_clustered = components.restrict_clustered(clustered, models) if clustered is not None else None
        local = params
        if sub_clustered is not None and (found := n_clusters(sub_clustered)) < MIN_CLUSTERS:
            fallback = (f"{found} cluster{'' if found == 1 else 's'}, fewer than the {MIN_CLUSTERS} a clustered "
                        "interval needs: intervals treat every vote as independent")  # fmt: skip
            sub_clustered = None
            if params.ci == "cluster":
                local = RatingParams(ci="bootstrap", rounds=params.rounds, seed=params.seed, alpha=params.alpha,
                                     both_bad=params.both_bad, anchor=params.anchor)  # fmt: skip
        anchor = None
        if params.anchor is not None and params.anchor[0] in models:
            anchor = (int(np.searchsorted(models, params.anchor[0])), params.anchor[1])
        if len(models) < 2:  # cannot happen with battles; kept so a lone model still gets a row
            rating[models] = bt.ELO_CENTRE if anchor is None else anchor[1]
            ci_low[models] = ci_high[models] = rating[models]
            continue
        *parts, draws = _interval(sub, local, sub_clustered, generator, anchor)
        theta[models], rating[models], ci_low[models], ci_high[models] = parts
        rank_ub[models] = rank_upper_bound(parts[2], parts[3])
        rank_low[models], rank_high[models] = rank_interval(draws)
    battles, wins, ties = model_totals(outcomes)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(battles > 0, (wins + 0.5 * ties) / battles, np.nan)
        pair_battles = outcomes.battle_matrix("tie")
        pair_win_rate = np.where(pair_battles > 0, outcomes.win_matrix("tie") / pair_battles, np.nan)
    return Leaderboard(
        rating=rating,
        ci_low=ci_low,
        ci_high=ci_high,
        rank_ub=rank_ub,
        battles=battles,
        wins=wins,
        ties=ties,
        win_rate=win_rate,
        pair_battles=pair_battles,
        pair_win_rate=pair_win_rate,
        theta=theta,
        params=params,
        component=labels,
        rank_low=rank_low,
        rank_high=rank_high,
        fallback=fallback,
    )


def to_elo_by_component(theta: np.ndarray, labels: np.ndarray, anchor: tuple[int, float] | None) -> np.ndarray:
    """Elo scores centred on 1000 within each component; the anchor, if any, pins its own component."""
    scores = np.empty(len(theta))
    for models in components.members(labels):
        local = None
        if anchor is not None and anchor[0] in models:
            local = (int(np.searchsorted(models, anchor[0])), anchor[1])
        scores[models] = bt.to_elo(theta[models], local)
    return scores


def from_posterior(
    outcomes: PairOutcomes,
    theta: np.ndarray,
    covariance: np.ndarray,
    labels: np.ndarray,
    params: RatingParams = RatingParams(),
) -> Leaderboard:
    """A board from a posterior (a pooled board): normal 95% intervals from `covariance`; `labels` are the
    components of the overall board, whose centring and anchor this board shares."""
    rating = to_elo_by_component(theta, labels, params.anchor)
    variance = np.diag(covariance).copy()
    if params.anchor is not None:
        # Pinning model k measures everyone in k's component relative to k: Var(theta_i - theta_k).
        k = params.anchor[0]
        same = labels == labels[k]
        variance[same] = variance[same] + covariance[k, k] - 2 * covariance[same, k]
    half = Z_95 * bt.ELO_SCALE * np.sqrt(np.maximum(variance, 0.0))
    ci_low, ci_high = rating - half, rating + half
    battles, wins, ties = model_totals(outcomes)
    rank_ub = np.ones(len(theta), dtype=np.int64)
    rank_low, rank_high = np.ones(len(theta), dtype=np.int64), np.ones(len(theta), dtype=np.int64)
    draws = normal_draws(theta, covariance, np.random.default_rng(params.seed))
    for models in components.members(labels):
        present = models[battles[models] > 0]
        if len(present):
            rank_ub[present] = rank_upper_bound(ci_low[present], ci_high[present])
            rank_low[present], rank_high[present] = rank_interval(draws[:, present])
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(battles > 0, (wins + 0.5 * ties) / battles, np.nan)
        pair_battles = outcomes.battle_matrix("tie")
        pair_win_rate = np.where(pair_battles > 0, outcomes.win_matrix("tie") / pair_battles, np.nan)
    return Leaderboard(
        rating=rating, ci_low=ci_low, ci_high=ci_high, rank_ub=rank_ub, battles=battles, wins=wins, ties=ties,
        win_rate=win_rate, pair_battles=pair_battles, pair_win_rate=pair_win_rate, theta=theta, params=params,
        component=labels, rank_low=rank_low, rank_high=rank_high,
    )  # fmt: skip
