"""From aggregated outcomes to a leaderboard: ratings, 95% intervals, rank(UB), battles and win rates."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ratings import bradley_terry as bt
from ratings import intervals
from ratings.outcomes import Outcome, PairOutcomes

CI_METHODS = ("bootstrap", "sandwich", "cluster")
Z_95 = 1.959963984540054


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

    def order(self) -> np.ndarray:
        """Model indices by rating, highest first."""
        return np.argsort(-self.rating, kind="stable")


def rank_upper_bound(ci_low: np.ndarray, ci_high: np.ndarray) -> np.ndarray:
    """1 + the number of models whose lower bound is above this model's upper bound."""
    return 1 + (ci_low[None, :] > ci_high[:, None]).sum(axis=1)


def model_totals(outcomes: PairOutcomes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Battles, wins and ties (both_bad included as ties) per model, all outcomes counted."""
    n, a, b, o, c = outcomes.n_models, outcomes.model_a, outcomes.model_b, outcomes.outcome, outcomes.count
    battles = np.bincount(a, c, n) + np.bincount(b, c, n)
    wins = np.bincount(a, c * (o == Outcome.A_WINS), n) + np.bincount(b, c * (o == Outcome.B_WINS), n)
    tied = c * ((o == Outcome.TIE) | (o == Outcome.BOTH_BAD))
    ties = np.bincount(a, tied, n) + np.bincount(b, tied, n)
    return battles, wins, ties


def rate(
    outcomes: PairOutcomes,
    params: RatingParams = RatingParams(),
    clustered: intervals.ClusteredOutcomes | None = None,
) -> Leaderboard:
    win_matrix = outcomes.win_matrix(params.both_bad)
    theta = bt.fit(win_matrix, params.alpha)
    rating = bt.to_elo(theta, params.anchor)
    rng = np.random.default_rng(params.seed)
    kwargs = dict(alpha=params.alpha, both_bad=params.both_bad, theta0=theta)
    if params.ci == "sandwich":
        cov = intervals.sandwich_covariance(outcomes, theta, alpha=params.alpha, both_bad=params.both_bad)
        if params.anchor is not None:
            # Pinning model k measures everyone relative to k: Var(theta_i - theta_k).
            k = params.anchor[0]
            se = np.sqrt(np.maximum(np.diag(cov) + cov[k, k] - 2 * cov[:, k], 0))
        else:
            se = np.sqrt(np.maximum(np.diag(cov), 0))
        half = Z_95 * bt.ELO_SCALE * se
        ci_low, ci_high = rating - half, rating + half
    else:
        if params.ci == "cluster":
            if clustered is None:
                raise ValueError("the voter-clustered bootstrap needs voter keys")
            draws = intervals.clustered_bootstrap(clustered, params.rounds, rng, **kwargs)
        else:
            draws = intervals.bootstrap(outcomes, params.rounds, rng, **kwargs)
        scores = bt.to_elo(draws, params.anchor)
        ci_low, ci_high = np.percentile(scores, [2.5, 97.5], axis=0)
    battles, wins, ties = model_totals(outcomes)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(battles > 0, (wins + 0.5 * ties) / battles, np.nan)
        pair_battles = outcomes.battle_matrix("tie")
        pair_win_rate = np.where(pair_battles > 0, outcomes.win_matrix("tie") / pair_battles, np.nan)
    return Leaderboard(
        rating=rating,
        ci_low=ci_low,
        ci_high=ci_high,
        rank_ub=rank_upper_bound(ci_low, ci_high),
        battles=battles,
        wins=wins,
        ties=ties,
        win_rate=win_rate,
        pair_battles=pair_battles,
        pair_win_rate=pair_win_rate,
        theta=theta,
        params=params,
    )
