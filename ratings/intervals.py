"""Uncertainty of Bradley-Terry ratings: bootstrap over battles, voter-clustered bootstrap, and the
sandwich (robust) covariance. All work from aggregated counts; none needs individual votes."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ratings import batched, resample
from ratings import bradley_terry as bt
from ratings.outcomes import OUTCOME_CODES, Outcome, PairOutcomes

# Rounds are resampled and fitted in chunks, so memory stays flat however many rounds are asked for, and two
# threads can share them (numpy's samplers and array operations release the GIL).
_CHUNK = 128
# Bootstrap refits need far less precision than the point estimate: 1e-6 logits is 0.0002 Elo points.
_BOOTSTRAP_TOL = 1e-6
_THREADS = 2


class _Resampling:
    """The cells that matter to the fit, merged: an ordered (winner, loser) cell per win and an unordered
    cell per tie, plus one bucket for battles the fit ignores. Resampling these is the same distribution as
    resampling the raw (model_a, model_b, outcome) cells, at well under half the cost."""

    def __init__(self, outcomes: PairOutcomes, both_bad: str, alpha: float) -> None:
        n = self.n = outcomes.n_models
        self.alpha = alpha
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
        self.layout = batched.PairLayout(n)
        # Each cell adds to the wins of the lower-indexed model of its pair ("forward") or of the higher one
        # ("backward"): a win fully, a tie half each way. One sparse product maps resampled cell counts to both.
        pair_index = np.full((n, n), -1)
        pair_index[self.layout.i, self.layout.j] = np.arange(self.layout.n_pairs)
        pair_index[self.layout.j, self.layout.i] = np.arange(self.layout.n_pairs)
        win = self.keys < n * n
        tie = (self.keys >= n * n) & (self.keys < 2 * n * n)
        win_first, win_second = self.keys[win] // n, self.keys[win] % n
        tie_pairs = self.keys[tie] - n * n
        tie_first, tie_second = tie_pairs // n, tie_pairs % n
        pairs = self.layout.n_pairs
        win_cols = pair_index[win_first, win_second] + np.where(win_first < win_second, 0, pairs)
        tie_cols = pair_index[tie_first, tie_second]
        self._to_pairs = sparse.csr_array(
            (
                np.concatenate([np.ones(win.sum()), np.full(tie.sum(), 0.5), np.full(tie.sum(), 0.5)]),
                (
                    np.concatenate([np.flatnonzero(win), np.flatnonzero(tie), np.flatnonzero(tie)]),
                    np.concatenate([win_cols, tie_cols, tie_cols + pairs]),
                ),
            ),
            shape=(len(self.keys), 2 * pairs),
        )
        self._from_cells = self._to_pairs.T.tocsr()

    def pair_wins(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(forward, backward) per-pair wins, the prior's virtual ties included, from (rounds, keys) counts."""
        forward, backward = self.pair_wins_t(counts)
        return forward.T, backward.T

    def pair_wins_t(self, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """pair_wins pair-major: (pairs, rounds) each."""
        both = self._from_cells @ np.ascontiguousarray(counts.T)
        both += self.alpha / 2
        pairs = self.layout.n_pairs
        return both[:pairs], both[pairs:]

    def chord_hessian(self, theta0: np.ndarray) -> np.ndarray:
        """The Hessian at the point estimate with the observed counts: the one every resample's chord steps use."""
        forward, backward = self.pair_wins(self.counts[None, :])
        return batched.point_hessian(forward[0], backward[0], theta0, self.layout)


def _resample_and_fit(
    rounds: int,
    rng: np.random.Generator,
    draw_counts: Callable[[np.random.Generator, int], np.ndarray],
    cells: _Resampling,
    theta0: np.ndarray,
) -> np.ndarray:
    """Run the rounds in chunks, each with its own generator spawned from `rng`, on two threads. The result
    depends on the seed only, not on the number of threads."""
    sizes = [min(_CHUNK, rounds - start) for start in range(0, rounds, _CHUNK)]
    if not sizes:
        return np.empty((0, cells.n))
    inverse = np.linalg.inv(batched.definite(cells.chord_hessian(theta0)))
    block = batched.block_rows(cells.layout.n_pairs)

    def chunk(job: tuple[np.random.Generator, int]) -> np.ndarray:
        generator, size = job
        counts = draw_counts(generator, size)
        # Pair-major wins a block of rounds at a time: a block's arrays stay in the cache through its refits.
        return np.concatenate([
            batched.fit_pairs_t(*cells.pair_wins_t(counts[first : first + block]), theta0, cells.layout,
                                chord_inverse=inverse, tol=_BOOTSTRAP_TOL)
            for first in range(0, size, block)
        ])  # fmt: skip

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
    cells = _Resampling(outcomes, both_bad, alpha)
    theta0 = bt.fit(outcomes.win_matrix(both_bad), alpha) if theta0 is None else theta0
    p = cells.counts / cells.counts.sum()

    def draw_counts(generator: np.random.Generator, size: int) -> np.ndarray:
        return resample.multinomial(generator, total, p, size)

    return _resample_and_fit(rounds, rng, draw_counts, cells, theta0)


@dataclass(frozen=True)
class ClusteredOutcomes:
    """Per-cluster counts: row k says cluster cluster[k] (a voter, an evaluation session) gave count[k] outcomes in
    cell cell[k] of `cells`. `singles`, if given, counts per cell of `cells` the votes that are each a cluster of
    their own (a vote with no session), kept as counts so that they never need one row per vote."""

    cells: PairOutcomes
    n_clusters: int
    cluster: np.ndarray
    cell: np.ndarray
    count: np.ndarray
    singles: np.ndarray | None = None

    @property
    def n_singles(self) -> int:
        return 0 if self.singles is None else int(round(self.singles.sum()))

    @classmethod
    def from_sessions(cls, cells: PairOutcomes, rows) -> ClusteredOutcomes:
        """Session clusters over the board `cells` (every counted vote of the board): `rows` are (session key,
        model a index, model b index, outcome code, count) for the votes that have a session; every other vote
        of `cells` is its own cluster. Sessions are numbered in sorted key order, so the result does not depend
        on row order."""
        rows = list(rows)
        n = cells.n_models
        board_keys = (cells.model_a * n + cells.model_b) * 4 + cells.outcome
        order = np.argsort(board_keys, kind="stable")
        keys = np.array([(a * n + b) * 4 + int(o) for _, a, b, o, _ in rows], dtype=np.int64)
        position = np.searchsorted(board_keys[order], keys)
        if len(keys) and (np.any(position >= len(order)) or np.any(board_keys[order][position] != keys)):
            raise ValueError("a session's votes fall outside the board's cells")
        cell = order[position] if len(keys) else np.zeros(0, dtype=np.int64)
        count = np.array([r[4] for r in rows], dtype=np.float64)
        singles = cells.count - np.bincount(cell, count, len(cells.count))
        if np.any(singles < -1e-9):
            raise ValueError("the sessions hold more votes than the board")
        names = {s: k for k, s in enumerate(sorted({r[0] for r in rows}))}
        cluster = np.array([names[r[0]] for r in rows], dtype=np.int64)
        return cls(cells, len(names), cluster, cell.astype(np.int64), count, np.maximum(singles, 0.0))

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
    so a voter who cast many correlated votes does not shrink the intervals.

    With `singles` (votes that are each their own cluster), the V = clusters + singles draws are one multinomial
    over the clusters (1/V each) and the singles' cells (their count/V each): picking a single vote uniformly and
    keeping only its cell is picking its cell with that probability, so the singles never need a row each."""
    outcomes, v, m = clustered.cells, clustered.n_clusters, clustered.n_singles
    if v + m == 0:
        raise ValueError("no voters to resample")
    cells = _Resampling(outcomes, both_bad, alpha)
    per_voter = sparse.csr_matrix(
        (clustered.count.astype(np.float64), (clustered.cluster, cells.cell_to_key[clustered.cell])),
        shape=(v, len(cells.keys)),
    )
    theta0 = bt.fit(outcomes.win_matrix(both_bad), alpha) if theta0 is None else theta0
    if m == 0:
        uniform = np.full(v, 1.0 / v)

        def draw_counts(generator: np.random.Generator, size: int) -> np.ndarray:
            weights = generator.multinomial(v, uniform, size=size).astype(np.float64)
            return np.asarray((per_voter.T @ weights.T).T)

        return _resample_and_fit(rounds, rng, draw_counts, cells, theta0)
    single_keys = np.bincount(cells.cell_to_key, clustered.singles, len(cells.keys))
    total = v + m
    p = np.concatenate([np.full(v, 1.0 / total), single_keys / total])

    def draw_counts(generator: np.random.Generator, size: int) -> np.ndarray:
        drawn = resample.multinomial(generator, total, p, size)
        return np.asarray((per_voter.T @ drawn[:, :v].T).T) + drawn[:, v:]

    return _resample_and_fit(rounds, rng, draw_counts, cells, theta0)


def sandwich_covariance(
    outcomes: PairOutcomes, theta: np.ndarray, *, alpha: float = bt.DEFAULT_ALPHA, both_bad: str = "tie"
) -> np.ndarray:
    """Robust covariance of the mean-zero theta: H+ J H+, with H the observed information (prior included)
    and J the sum of squared per-battle scores. Valid for the soft-tie quasi-likelihood, where the plain
    inverse information is not."""
    bread = _bread(outcomes, theta, alpha, both_bad)
    return bread @ _meat(outcomes, theta, both_bad) @ bread


def clustered_sandwich_covariance(
    clustered: ClusteredOutcomes, theta: np.ndarray, *, alpha: float = bt.DEFAULT_ALPHA, both_bad: str = "tie"
) -> np.ndarray:
    """The cluster-robust sandwich: the scores of a cluster's votes are summed before squaring, so a session's
    correlated votes weigh as what they are; each single vote (`singles`) keeps its own squared score."""
    outcomes, n = clustered.cells, clustered.cells.n_models
    singles = np.zeros(len(outcomes.count)) if clustered.singles is None else clustered.singles
    meat = _meat(PairOutcomes(n, outcomes.model_a, outcomes.model_b, outcomes.outcome, singles), theta, both_bad)
    o = outcomes.outcome
    y = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))
    residual = y - 1.0 / (1.0 + np.exp(-(theta[outcomes.model_a] - theta[outcomes.model_b])))
    if both_bad == "drop":
        residual = np.where(o == Outcome.BOTH_BAD, 0.0, residual)
    r = clustered.count * residual[clustered.cell]
    a, b, cluster = outcomes.model_a[clustered.cell], outcomes.model_b[clustered.cell], clustered.cluster
    scores = sparse.csr_array(
        (np.concatenate([r, -r]), (np.concatenate([cluster, cluster]), np.concatenate([a, b]))),
        shape=(max(clustered.n_clusters, 1), n),
    )
    meat = meat + (scores.T @ scores).toarray()
    bread = _bread(outcomes, theta, alpha, both_bad)
    return bread @ meat @ bread


def _kept(outcomes: PairOutcomes, both_bad: str):
    keep = outcomes.outcome != Outcome.BOTH_BAD if both_bad == "drop" else np.ones(len(outcomes.count), bool)
    a, b, o, c = outcomes.model_a[keep], outcomes.model_b[keep], outcomes.outcome[keep], outcomes.count[keep]
    y = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))
    return a, b, c, y


def _pair_sum(n: int, a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """sum over cells of weight * (e_a - e_b)(e_a - e_b)^T"""
    m = np.zeros((n, n))
    np.add.at(m, (a, a), weights)
    np.add.at(m, (b, b), weights)
    np.add.at(m, (a, b), -weights)
    np.add.at(m, (b, a), -weights)
    return m


def _meat(outcomes: PairOutcomes, theta: np.ndarray, both_bad: str) -> np.ndarray:
    """The sum of squared per-battle scores, every battle independent."""
    a, b, c, y = _kept(outcomes, both_bad)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    return _pair_sum(outcomes.n_models, a, b, c * (y - p) ** 2)


def _bread(outcomes: PairOutcomes, theta: np.ndarray, alpha: float, both_bad: str) -> np.ndarray:
    """The pseudo-inverse of the observed information, prior included."""
    a, b, c, _ = _kept(outcomes, both_bad)
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    information = _pair_sum(outcomes.n_models, a, b, c * p * (1 - p))
    # The virtual ties of the prior are part of the objective, so they are part of its curvature.
    pi = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    prior = alpha * pi * (1 - pi)
    np.fill_diagonal(prior, 0.0)
    information += np.diag(prior.sum(axis=1)) - prior
    return np.linalg.pinv(information, hermitian=True)
