"""Uncertainty of Bradley-Terry ratings: bootstrap over battles, voter-clustered bootstrap, and the
sandwich (robust) covariance. All work from aggregated counts; none needs individual votes."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg import LinAlgWarning

from ratings import bradley_terry as bt
from ratings.outcomes import OUTCOME_CODES, Outcome, PairOutcomes

# choix finds the stationary distribution of a generator matrix that is singular by construction and silences
# scipy's warning about it with catch_warnings, which is not thread-safe: from our two fitting threads the warning
# can escape. It says nothing about the fit.
warnings.filterwarnings("ignore", message=r"Diagonal number \d+ is exactly zero", category=LinAlgWarning)

# Rounds are resampled in chunks so memory stays flat however many rounds are asked for.
_CHUNK = 128
# Bootstrap refits start at the full-data estimate and need far less precision than the point estimate.
_BOOTSTRAP_TOL = 1e-8
_THREADS = 2


class _Resampling:
    """The cells that matter to the fit, merged: an ordered (winner, loser) cell per win and an unordered
    cell per tie, plus one bucket for battles the fit ignores. Resampling these is the same distribution as
    resampling the raw (model_a, model_b, outcome) cells, at well under half the cost."""

    def __init__(self, outcomes: PairOutcomes, both_bad: str) -> None:
        n = self.n = outcomes.n_models
        a, b, o = outcomes.model_a, outcomes.model_b, outcomes.outcome
        winner = np.where(o == Outcome.B_WINS, b, a)
        loser = np.where(o == Outcome.B_WINS, a, b)
        is_win = (o == Outcome.A_WINS) | (o == Outcome.B_WINS)
        is_tie = (o == Outcome.TIE) | ((o == Outcome.BOTH_BAD) & (both_bad == "tie"))
        low, high = np.minimum(a, b), np.maximum(a, b)
        # Keys: wins 0..n*n-1 (winner*n+loser), ties n*n..2n*n-1, ignored 2*n*n.
        key = np.where(is_win, winner * n + loser, np.where(is_tie, n * n + low * n + high, 2 * n * n))
        self.keys, self.cell_to_key = np.unique(key, return_inverse=True)
        self.counts = np.bincount(self.cell_to_key, outcomes.count, len(self.keys))
        win = self.keys < n * n
        tie = (self.keys >= n * n) & (self.keys < 2 * n * n)
        self._win_cols, self._win_targets = np.flatnonzero(win), self.keys[win]
        tie_pairs = self.keys[tie] - n * n
        self._tie_cols = np.flatnonzero(tie)
        self._tie_ij, self._tie_ji = tie_pairs, (tie_pairs % n) * n + tie_pairs // n

    def win_matrices(self, counts: np.ndarray) -> np.ndarray:
        """(rounds, n, n) win matrices from (rounds, keys) resampled counts."""
        wins = np.zeros((counts.shape[0], self.n * self.n))
        wins[:, self._win_targets] = counts[:, self._win_cols]
        half_ties = 0.5 * counts[:, self._tie_cols]
        wins[:, self._tie_ij] += half_ties
        wins[:, self._tie_ji] += half_ties
        return wins.reshape(-1, self.n, self.n)


def _fit_all(win_matrices: np.ndarray, alpha: float, theta0: np.ndarray) -> np.ndarray:
    return np.stack([bt.fit(w, alpha, initial=theta0, tol=_BOOTSTRAP_TOL) for w in win_matrices])


def _resample_and_fit(
    rounds: int,
    rng: np.random.Generator,
    draw_counts: Callable[[np.random.Generator, int], np.ndarray],
    cells: _Resampling,
    alpha: float,
    theta0: np.ndarray,
) -> np.ndarray:
    """Run the rounds in chunks, each with its own generator spawned from `rng`, on two threads (numpy's
    samplers release the GIL). The result depends on the seed only, not on the number of threads."""
    sizes = [min(_CHUNK, rounds - start) for start in range(0, rounds, _CHUNK)]
    if not sizes:
        return np.empty((0, cells.n))

    def chunk(job: tuple[np.random.Generator, int]) -> np.ndarray:
        generator, size = job
        return _fit_all(cells.win_matrices(draw_counts(generator, size)), alpha, theta0)

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        return np.concatenate(list(pool.map(chunk, zip(rng.spawn(len(sizes)), sizes, strict=True))))


def bootstrap(
    outcomes: PairOutcomes,
    rounds: int,
    rng: np.random.Generator,
    *,
    alpha: float = bt.DEFAULT_ALPHA,
    both_bad: str = "tie",
    theta0: np.ndarray | None = None,
) -> np.ndarray:
    """Theta for `rounds` resamples of the battles: multinomial draws of the same total over the cells."""
    total = int(round(outcomes.total))
    if total == 0:
        raise ValueError("no battles to resample")
    cells = _Resampling(outcomes, both_bad)
    theta0 = bt.fit(outcomes.win_matrix(both_bad), alpha) if theta0 is None else theta0
    p = cells.counts / cells.counts.sum()

    def draw_counts(generator: np.random.Generator, size: int) -> np.ndarray:
        return generator.multinomial(total, p, size=size).astype(np.float64)

    return _resample_and_fit(rounds, rng, draw_counts, cells, alpha, theta0)


@dataclass(frozen=True)
class ClusteredOutcomes:
    """Per-voter counts: row k says voter cluster[k] gave count[k] outcomes in cell cell[k] of `cells`."""

    cells: PairOutcomes
    n_clusters: int
    cluster: np.ndarray
    cell: np.ndarray
    count: np.ndarray

    @classmethod
    def from_rows(cls, rows, index: dict[int, int]) -> ClusteredOutcomes:
        """From aggregated rows (voter, model a, model b, outcome name, count); `index` maps each model to its
        position. Voters are numbered in sorted order, so the result does not depend on row order."""
        n = len(index)
        voters = {v: k for k, v in enumerate(sorted({r[0] for r in rows}))}
        keys = np.array([(index[a] * n + index[b]) * 4 + OUTCOME_CODES[o] for _, a, b, o, _ in rows], dtype=np.int64)
        counts = np.array([r[4] for r in rows], dtype=np.float64)
        cells, cell = np.unique(keys, return_inverse=True)
        outcomes = PairOutcomes(n, cells // 4 // n, cells // 4 % n, cells % 4, np.bincount(cell, counts))
        return cls(outcomes, len(voters), np.array([voters[r[0]] for r in rows]), cell, counts)


def clustered_bootstrap(
    clustered: ClusteredOutcomes,
    rounds: int,
    rng: np.random.Generator,
    *,
    alpha: float = bt.DEFAULT_ALPHA,
    both_bad: str = "tie",
    theta0: np.ndarray | None = None,
) -> np.ndarray:
    """Theta for `rounds` resamples of whole voters (with replacement), keeping each voter's battles together,
    so a voter who cast many correlated votes does not shrink the intervals."""
    outcomes, v = clustered.cells, clustered.n_clusters
    if v == 0:
        raise ValueError("no voters to resample")
    cells = _Resampling(outcomes, both_bad)
    per_voter = sparse.csr_matrix(
        (clustered.count.astype(np.float64), (clustered.cluster, cells.cell_to_key[clustered.cell])),
        shape=(v, len(cells.keys)),
    )
    theta0 = bt.fit(outcomes.win_matrix(both_bad), alpha) if theta0 is None else theta0
    uniform = np.full(v, 1.0 / v)

    def draw_counts(generator: np.random.Generator, size: int) -> np.ndarray:
        weights = generator.multinomial(v, uniform, size=size).astype(np.float64)
        return np.asarray((per_voter.T @ weights.T).T)

    return _resample_and_fit(rounds, rng, draw_counts, cells, alpha, theta0)


def sandwich_covariance(
    outcomes: PairOutcomes, theta: np.ndarray, *, alpha: float = bt.DEFAULT_ALPHA, both_bad: str = "tie"
) -> np.ndarray:
    """Robust covariance of the mean-zero theta: H+ J H+, with H the observed information (prior included)
    and J the sum of squared per-battle scores. Valid for the soft-tie quasi-likelihood, where the plain
    inverse information is not."""
    n = outcomes.n_models
    keep = outcomes.outcome != Outcome.BOTH_BAD if both_bad == "drop" else np.ones(len(outcomes.count), bool)
    a, b, o, c = outcomes.model_a[keep], outcomes.model_b[keep], outcomes.outcome[keep], outcomes.count[keep]
    y = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))

    def pair_sum(weights: np.ndarray) -> np.ndarray:
        # sum over cells of weight * (e_a - e_b)(e_a - e_b)^T
        m = np.zeros((n, n))
        np.add.at(m, (a, a), weights)
        np.add.at(m, (b, b), weights)
        np.add.at(m, (a, b), -weights)
        np.add.at(m, (b, a), -weights)
        return m

    information = pair_sum(c * p * (1 - p))
    # The virtual ties of the prior are part of the objective, so they are part of its curvature.
    pi = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    prior = alpha * pi * (1 - pi)
    np.fill_diagonal(prior, 0.0)
    information += np.diag(prior.sum(axis=1)) - prior
    meat = pair_sum(c * (y - p) ** 2)
    bread = np.linalg.pinv(information, hermitian=True)
    return bread @ meat @ bread
