"""Synthetic battles from known strengths, to check every rating method against the truth.

Outcomes follow the soft-tie model the fit assumes: the expected score of a battle (win 1, tie 1/2, loss 0)
is sigmoid(theta_a - theta_b). Ties take a share of the probability mass that is largest between close
models, as with human voters; a share of the ties is labelled both_bad.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings.intervals import ClusteredOutcomes
from ratings.outcomes import Outcome, PairOutcomes


@dataclass(frozen=True)
class SyntheticBattles:
    theta: np.ndarray
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    voter: np.ndarray

    @property
    def n_models(self) -> int:
        return len(self.theta)

    def _cell_keys(self) -> np.ndarray:
        return (self.model_a * self.n_models + self.model_b) * 4 + self.outcome

    def aggregate(self) -> PairOutcomes:
        """The counts the SQL GROUP BY would produce."""
        n = self.n_models
        cells, count = np.unique(self._cell_keys(), return_counts=True)
        return PairOutcomes(n, cells // 4 // n, cells // 4 % n, cells % 4, count.astype(np.float64))

    def aggregate_by_voter(self) -> ClusteredOutcomes:
        """The counts a GROUP BY voter, model_a, model_b, outcome would produce."""
        cells, cell = np.unique(self._cell_keys(), return_inverse=True)
        n = self.n_models
        outcomes = PairOutcomes(n, cells // 4 // n, cells // 4 % n, cells % 4, np.bincount(cell).astype(np.float64))
        (voter, cell_index), count = np.unique(np.stack([self.voter, cell]), axis=1, return_counts=True)
        return ClusteredOutcomes(outcomes, int(self.voter.max()) + 1, voter, cell_index, count.astype(np.float64))

    def repeated(self, times: int) -> SyntheticBattles:
        """Every battle cast `times` times by the same voter: correlated votes, as from a repeat voter or a
        script. Only a voter-clustered interval stays honest on these."""
        return SyntheticBattles(
            theta=self.theta,
            model_a=np.repeat(self.model_a, times),
            model_b=np.repeat(self.model_b, times),
            outcome=np.repeat(self.outcome, times),
            voter=np.repeat(self.voter, times),
        )


def true_strengths(n_models: int, rng: np.random.Generator, spread: float = 1.0) -> np.ndarray:
    theta = rng.normal(0.0, spread, n_models)
    return theta - theta.mean()


def simulate(
    theta: np.ndarray,
    n_battles: int,
    rng: np.random.Generator,
    *,
    tie_share: float = 0.4,
    both_bad_share: float = 0.2,
    n_voters: int = 1000,
) -> SyntheticBattles:
    """`n_battles` battles between uniformly drawn distinct pairs, sides random.

    tie_share: fraction of the tie-able mass 2*min(p, 1-p) that becomes a tie (0 = no ties).
    n_voters: voters are drawn uniformly for each battle (see `repeated` for correlated voters).
    """
    n = len(theta)
    if n < 2:
        raise ValueError("need at least two models")
    if not 0 <= tie_share <= 1 or not 0 <= both_bad_share <= 1:
        raise ValueError("tie_share and both_bad_share are fractions")
    a = rng.integers(0, n, n_battles)
    b = rng.integers(0, n - 1, n_battles)
    b = b + (b >= a)
    voter = rng.integers(0, n_voters, n_battles)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    tie_mass = tie_share * 2.0 * np.minimum(p, 1.0 - p)
    u = rng.random(n_battles)
    outcome = np.where(
        u < p - tie_mass / 2, Outcome.A_WINS, np.where(u < p + tie_mass / 2, Outcome.TIE, Outcome.B_WINS)
    ).astype(np.int64)
    relabel = (outcome == Outcome.TIE) & (rng.random(n_battles) < both_bad_share)
    outcome[relabel] = Outcome.BOTH_BAD
    return SyntheticBattles(theta=theta, model_a=a, model_b=b, outcome=outcome, voter=voter)
