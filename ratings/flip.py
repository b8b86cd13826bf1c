"""Votes to flip: for two neighbours on a board, the fewest votes whose removal would swap them.

Votes are removed by kind, never one by one: every vote between the same two models with the same result (the
first won, the second won, a tie) has the same effect on the fit, so a removal is a count per kind. A tie is
half a win each way and `both_bad` counts as a tie (with `both_bad="drop"` it is not in the fit, so removing it
changes nothing and it is never removed).

The approximation is the influence function of the fit's own objective (the penalised likelihood of
`ratings.bradley_terry`, or a pooled board's posterior with its prior held fixed): removing one vote of pair
(a, b) with score y for a moves theta by H^-1 g, g = (p_ab - y)(e_a - e_b), H the objective's exact Hessian, so
the gap theta_i - theta_j moves by (p_ab - y) (e_i - e_j)^T H^-1 (e_a - e_b). Taking the kinds with the largest
gap reduction per vote first, as many votes of each as it holds, until the predicted reductions add up to the
gap gives the approximate k.

Then every k is confirmed by refits: the fit is redone without the chosen votes; if the pair has not swapped the
influences are recomputed at the refitted ratings (re-linearised) and more votes are chosen the same way, and
once it has swapped the removal is stepped back along the same sequence of votes (secant guesses, then the count
just below) until removing k votes swaps the pair and removing the first k - 1 of them does not. The influences
taken at a refit use its probabilities with the Hessian of the board's own fit (a few votes removed barely move
the curvature, and the plan is only a proposal the refits confirm). The number
published is that confirmed k. All the pairs of a board run in lock-step: each round is one vectorised refit
whose rows are every pair's trial removals, fitted to convergence by chord steps with the Hessian of the board's
own fit (removing a few votes of thousands barely changes it, so a step is one gradient and one product), with
Newton's method for rows where those stall. A pooled board's prior (its centre, the fit of every vote outside
the board, and tau) is held fixed: removing a board's vote leaves the votes outside it unchanged.

`greedy_refits` is the slow reference the tests compare with: one vote at a time, the one whose removal (by an
actual refit) shrinks the gap most.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import choix
import numpy as np
from scipy import sparse
from scipy.special import expit

from ratings import batched, components, pooling
from ratings.outcomes import Outcome, PairOutcomes

# Chord steps per refit at most, and how much each must shrink against the one before.
_MAX_CHORD = 30
_CHORD_CONTRACTION = 0.7
# Rounds of re-linearisation before a pair is given up as not swappable (it then has no number).
_MAX_EXTEND = 30
_MAX_NARROW = 40
# A bracket with this many counts inside or fewer is settled in one round, every count refitted.
_FEW = 3
# Rounds a bracket is narrowed by the secant's guess and the count below it alone.
_SECANT_ROUNDS = 2
# A pair counts as swapped when the lower model ends at least this far ahead (logits; 0.0002 Elo points): two models
# left level, say by removing every vote between them, are not swapped, whatever the fit's last digits say.
SWAP_MARGIN = 1e-6


@lru_cache(maxsize=8)
def _layout(n: int) -> batched.PairLayout:
    """The pair layout of n models, shared by every board of a run (building it is most of a small board's cost)."""
    return batched.PairLayout(n)


@dataclass(frozen=True)
class VoteKinds:
    """Removable votes by kind: pair (i < j) and the score y of i (1: i won, 0: j won, 1/2: a tie)."""

    i: np.ndarray
    j: np.ndarray
    y: np.ndarray
    count: np.ndarray

    @classmethod
    def from_outcomes(cls, outcomes: PairOutcomes, both_bad: str = "tie") -> VoteKinds:
        a, b, o, c = outcomes.model_a, outcomes.model_b, outcomes.outcome, outcomes.count
        keep = (c > 0) & ((o != Outcome.BOTH_BAD) | (both_bad == "tie"))
        a, b, o, c = a[keep], b[keep], o[keep], c[keep]
        score_a = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))
        low, high = np.minimum(a, b), np.maximum(a, b)
        y = np.where(a == low, score_a, 1.0 - score_a)
        n = outcomes.n_models
        keys, index = np.unique((low * n + high) * 3 + (2 * y).astype(np.int64), return_inverse=True)
        count = np.bincount(index, c, len(keys))
        pair, code = np.divmod(keys, 3)
        return cls(pair // n, pair % n, code / 2.0, count)

    def __len__(self) -> int:
        return len(self.count)

    @property
    def total(self) -> float:
        return float(self.count.sum())


class Problem:
    """One board's objective over n models: per-pair wins (virtual ties included) and, for a pooled board, a
    Gaussian prior (centre, precision). Refits and influences of removals of `kinds`."""

    def __init__(self, kinds: VoteKinds, forward: np.ndarray, backward: np.ndarray, n: int,
                 prior: tuple[np.ndarray, np.ndarray] | None = None,
                 start: np.ndarray | None = None, steps: int | None = None,
                 layout: batched.PairLayout | None = None) -> None:  # fmt: skip
        self.kinds = kinds
        # Every pair (the plain objective's virtual ties reach them all), or the pairs `forward` and `backward` are
        # given for (a pooled board's: those with votes; the rest add nothing to its objective).
        self.layout = _layout(n) if layout is None else layout
        self.forward, self.backward = forward, backward
        self.prior = prior
        lookup = np.full((n, n), -1)
        lookup[self.layout.i, self.layout.j] = np.arange(self.layout.n_pairs)
        self.pair = lookup[kinds.i, kinds.j]  # each kind's pair index
        # Dense removals ((rows, kinds), as the reference and the tests give them) -> wins removed per pair, each
        # way: (pairs, kinds) sparse times (kinds, rows) dense. The refits' own removals come sparse (see data).
        shape = (self.layout.n_pairs, len(kinds))
        columns = np.arange(len(kinds))
        self._from_forward = sparse.csr_array((kinds.y, (self.pair, columns)), shape=shape)
        self._from_backward = sparse.csr_array((1.0 - kinds.y, (self.pair, columns)), shape=shape)
        # The fit itself, from `start` (say the published ratings) when given; then the Hessian there, whose
        # inverse every refit's chord steps use.
        self.base, self._chord, self.tol, self.steps = None, None, batched.DEFAULT_TOL, None
        if start is not None:  # chord steps from there (the published ratings are at or next to the optimum)
            self._chord = self._inverse_hessian(np.asarray(start, dtype=np.float64))
        self.base = self.fit(np.zeros((1, len(kinds))), start)[0]
        self._chord = self._inverse_hessian(self.base)
        # Refits to convergence (None), or this many chord steps from each refit's warm start (see board_flips).
        self.steps = steps

    def touching(self) -> list[np.ndarray]:
        """Per model, the kinds of votes it took part in."""
        if getattr(self, "_touching", None) is None:
            model = np.concatenate([self.kinds.i, self.kinds.j])
            kind = np.tile(np.arange(len(self.kinds)), 2)
            order = np.argsort(model, kind="stable")
            bounds = np.searchsorted(model[order], np.arange(self.layout.n + 1))
            self._touching = [kind[order[bounds[m] : bounds[m + 1]]] for m in range(self.layout.n)]
        return self._touching

    def _inverse_hessian(self, theta: np.ndarray) -> np.ndarray:
        p = expit(self.layout.gaps(theta))
        hessian = self.layout.laplacian((self.forward + self.backward) * p * (1 - p))
        return np.linalg.inv(batched.definite(hessian) if self.prior is None else hessian + self.prior[1])

    @classmethod
    def plain(cls, outcomes: PairOutcomes, alpha: float, both_bad: str = "tie",
              start: np.ndarray | None = None, steps: int | None = None) -> Problem:  # fmt: skip
        """The penalised likelihood of ratings.bradley_terry.fit (alpha virtual ties per pair)."""
        layout = _layout(outcomes.n_models)
        forward, backward = layout.split(outcomes.win_matrix(both_bad))
        return cls(VoteKinds.from_outcomes(outcomes, both_bad), forward + alpha / 2, backward + alpha / 2,
                   outcomes.n_models, start=start, steps=steps)  # fmt: skip

    @classmethod
    def pooled(cls, outcomes: PairOutcomes, centre: np.ndarray, precision: np.ndarray, both_bad: str = "tie",
               start: np.ndarray | None = None, steps: int | None = None):  # fmt: skip
        """A pooled board's posterior (ratings.pooling) with its prior, and so tau, held fixed."""
        n = outcomes.n_models
        every = _layout(n)
        forward, backward = every.split(outcomes.win_matrix(both_bad))
        # Only the pairs with votes on the board: a sparse emotion board has votes on a few thousand of 200 models'
        # 19,900 pairs, and the others add nothing to the posterior (no virtual ties: the prior keeps it finite).
        voted = (forward + backward) > 0
        layout = batched.PairLayout(n, (every.i[voted], every.j[voted])) if voted.any() else every
        if voted.any():
            forward, backward = forward[voted], backward[voted]
        return cls(VoteKinds.from_outcomes(outcomes, both_bad), forward, backward, n,
                   (np.asarray(centre, float), np.asarray(precision, float)), start, steps, layout)  # fmt: skip

    def data(self, removed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-pair wins with `removed` ((rows, kinds) counts) taken out, pair-major: (pairs, rows) each."""
        if sparse.issparse(removed):  # a few kinds per row: summed per (pair, row) straight into pair-major arrays
            entries = sparse.coo_array(removed)
            rows = removed.shape[0]
            cells, index = np.unique(self.pair[entries.col] * rows + entries.row, return_inverse=True)
            y = self.kinds.y[entries.col]
            forward = np.repeat(self.forward[:, None], rows, axis=1)
            backward = np.repeat(self.backward[:, None], rows, axis=1)
            forward.ravel()[cells] -= np.bincount(index, entries.data * y, len(cells))
            backward.ravel()[cells] -= np.bincount(index, entries.data * (1 - y), len(cells))
        else:
            removed = np.asarray(removed, dtype=np.float64).T
            forward = self.forward[:, None] - self._from_forward @ removed
            backward = self.backward[:, None] - self._from_backward @ removed
        return np.maximum(forward, 0.0, out=forward), np.maximum(backward, 0.0, out=backward)

    def fit(self, removed: np.ndarray, start: np.ndarray | None = None, step: np.ndarray | None = None) -> np.ndarray:
        """theta for each row of removals ((rows, kinds), dense or sparse), fitted to convergence from `start`
        (default: the base fit): chord steps with the base fit's Hessian first (a removal of a few votes barely
        changes it, so each step costs one gradient and one product), Newton's method for the rows where they do
        not contract. The chord steps go a block of rows at a time, each block's wins built pair-major on its own
        (batched.block_rows). `step` ((rows, n), zero rows for none): a first chord step already worked out (see
        linear_steps), taken before the others, which must shrink against it; Newton's method, where needed,
        starts from `start` itself."""
        rows, n = removed.shape[0], self.layout.n
        if start is None:
            start = self.base
        if start is None:
            start = np.zeros(n) if self.prior is None else self.prior[0]
        theta = np.array(np.broadcast_to(start, (rows, n)), dtype=np.float64)
        taken = np.full(rows, np.inf)  # the size of the step before each row's first chord step: none yet
        if step is not None and self._chord is not None:
            theta += step
            size = np.max(np.abs(step), axis=1)
            taken[size > 0] = size[size > 0]
        if self._chord is None:
            slow = np.arange(rows)
        else:
            size, slow = batched.block_rows(self.layout.n_pairs), []
            for first in range(0, rows, size):
                block = slice(first, first + size)
                forward, backward = self.data(removed[block])
                converged, stalled = batched.chord_steps(
                    forward, backward, theta[block], self._chord, self.layout, tol=self.tol,
                    max_steps=self.steps or _MAX_CHORD, contraction=_CHORD_CONTRACTION, first=taken[block],
                    prior=self.prior,
                )  # fmt: skip
                # To convergence (steps None): the rows not there yet go on with Newton's method.
                slow.append(first + np.flatnonzero(stalled | (~converged if self.steps is None else False)))
            slow = np.concatenate(slow)
            theta[slow] = np.broadcast_to(start, (rows, n))[slow]
        if len(slow) == 0:
            return theta
        forward, backward = self.data(removed[slow])
        f, b, t = np.ascontiguousarray(forward.T), np.ascontiguousarray(backward.T), theta[slow]
        if self.prior is None:
            try:
                theta[slow] = batched.fit_pairs(f, b, t, self.layout, max_iter=200)
            except RuntimeError:  # a removal left a nearly separable, very flat fit: choix's ILSR, row by row
                theta[slow] = np.array([self._choix(*row) for row in zip(f, b, t, strict=True)])
            return theta
        centre, precision = self.prior
        k = len(slow)
        theta[slow], _, _ = pooling.posterior_mode(f, b, np.broadcast_to(centre, (k, n)),
                                                   np.broadcast_to(precision, (k, n, n)), self.layout, t)  # fmt: skip
        return theta

    def _choix(self, forward: np.ndarray, backward: np.ndarray, start: np.ndarray) -> np.ndarray:
        """One plain fit by choix (the engine's own), the per-pair wins already holding the virtual ties."""
        n = self.layout.n
        wins = np.zeros((n, n))
        wins[self.layout.i, self.layout.j] = forward
        wins[self.layout.j, self.layout.i] = backward
        theta = choix.ilsr_pairwise_dense(wins, alpha=0.0, initial_params=start - start.mean(), tol=1e-10,
                                          max_iter=100_000)  # fmt: skip
        return theta - theta.mean()

    def linear_steps(self, theta: np.ndarray, removed: sparse.csr_array) -> np.ndarray:
        """The first chord step of a refit from theta ((rows, n), each the converged fit of some removal) to that
        removal and `removed` ((rows, kinds) more votes) taken out: the gradient at theta of the data less both is
        the removed votes' terms alone, sum of r (p - y)(e_i - e_j), so the step costs a few products per removed
        kind instead of a pass over every pair."""
        entries = sparse.coo_array(removed)
        i, j = self.kinds.i[entries.col], self.kinds.j[entries.col]
        row = entries.row
        weight = entries.data * (expit(theta[row, i] - theta[row, j]) - self.kinds.y[entries.col])
        rows, n = theta.shape
        terms = np.bincount(row * n + i, weight, rows * n) - np.bincount(row * n + j, weight, rows * n)
        return terms.reshape(rows, n) @ self._chord

    def gap_change(self, theta: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """Per row: the predicted change of theta[upper] - theta[lower] per vote of each kind removed, at the fit
        theta (of the data less some removal): (rows, kinds)."""
        p = expit(self.layout.gaps_t(np.ascontiguousarray(theta.T))[self.pair])
        # H^-1 (e_i - e_j) with the Hessian of the board's own fit (the chord steps' inverse): the probabilities
        # are those at the refit, the curvature barely moves with a few votes, and the plan is only a proposal
        # that the refits confirm. A Hessian per row and its solve cost as much as the refits themselves.
        u = self._chord[upper] - self._chord[lower]
        s = self.layout.gaps_t(np.ascontiguousarray(u.T))[self.pair]
        return np.ascontiguousarray(((p - self.kinds.y[:, None]) * s).T)


@dataclass(frozen=True)
class Flips:
    """Per asked pair (upper, lower): the confirmed votes to flip (-1: not swappable by removing votes), the first
    linear estimate, the gap before, and the removal sequence as (kinds, counts) chunks."""

    votes: np.ndarray
    linear: np.ndarray
    gap: np.ndarray
    sequences: list[tuple[np.ndarray, np.ndarray]]  # per pair: kinds and counts, in removal order

    def removal(self, q: int, m: int, n_kinds: int) -> np.ndarray:
        return _prefix(self.sequences[q], m, n_kinds)


def _prefix(sequence: tuple[np.ndarray, np.ndarray], m: int, n_kinds: int) -> np.ndarray:
    """The removal counts per kind of the first m votes of a sequence."""
    kinds, counts = sequence
    before = np.cumsum(counts) - counts
    return np.bincount(kinds, np.clip(m - before, 0, counts), n_kinds).astype(np.float64)


def _prefixes(sequences, owners: list[int], counts: list[int], n_kinds: int,
              below: list[int] | None = None) -> sparse.csr_array:  # fmt: skip
    """The removals of the first counts[r] votes of sequences[owners[r]], one sparse row each: a row names a few
    dozen kinds of tens of thousands on a dense board, where dense rows cost more to build and read than the
    refits they fed. `below`: less the first below[r] votes (the votes from below[r] + 1 to counts[r]). Built
    straight from each row's entries, in sequence order and a kind possibly twice (a later chunk taking more of
    it): every reader sums them, and sorting them cost more than the rest."""
    kinds, taken, sizes = [], [], []
    for row, (q, m) in enumerate(zip(owners, counts, strict=True)):
        sequence, held = sequences[q]
        before = np.cumsum(held) - held
        take = np.clip(m - before, 0, held)
        if below is not None:
            take -= np.clip(below[row] - before, 0, held)
        used = take > 0
        kinds.append(sequence[used])
        taken.append(take[used])
        sizes.append(len(kinds[-1]))
    shape = (len(owners), n_kinds)
    if not owners or sum(sizes) == 0:
        return sparse.csr_array(shape)
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    return sparse.csr_array((np.concatenate(taken).astype(np.float64), np.concatenate(kinds), indptr),
                            shape=shape)  # fmt: skip


_SHORTLIST = 256


def _shortlist(change: np.ndarray, available: np.ndarray) -> np.ndarray | list:
    """Per row, the kinds with the largest predicted reduction that are left (a partition, not a sort)."""
    if change.shape[1] <= _SHORTLIST:
        return [None] * change.shape[0]
    score = np.where((change < 0) & (available > 0), change, 0.0)
    return np.argpartition(score, _SHORTLIST - 1, axis=1)[:, :_SHORTLIST]


def _plan(change: np.ndarray, available: np.ndarray, gap: float, shortlist=None) -> tuple[np.ndarray, np.ndarray]:
    """Kinds by largest predicted reduction per vote, as many votes of each as needed (or held) until the
    predicted reductions reach the gap; everything that reduces it if they never do. `shortlist`: the kinds to
    look at first (all of them if those do not reach the gap)."""
    target = max(gap, 0.0) + SWAP_MARGIN
    if shortlist is not None:
        helps = shortlist[(change[shortlist] < 0) & (available[shortlist] > 0)]
        if -(change[helps] * available[helps]).sum() <= target:
            shortlist = None
    if shortlist is None:
        helps = np.flatnonzero((change < 0) & (available > 0))
    order = helps[np.argsort(change[helps], kind="stable")]
    per_vote = -change[order]
    held = available[order]
    reached = np.cumsum(per_vote * held)
    last = int(np.searchsorted(reached, target, side="right"))  # the first kind whose votes cross the target
    if last >= len(order):  # never reached: every vote that narrows the gap
        return order, held.copy()
    before = reached[last - 1] if last else 0.0
    counts = held[: last + 1].copy()
    counts[last] = min(held[last], np.floor((target - before) / per_vote[last]) + 1)
    return order[: last + 1], counts


def _taken(candidates: np.ndarray, kinds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Votes of each of the (sorted) candidate kinds that a removal sequence (kinds, counts) takes."""
    taken = np.zeros(len(candidates))
    if len(kinds) and len(candidates):
        position = np.minimum(np.searchsorted(candidates, kinds), len(candidates) - 1)
        hit = candidates[position] == kinds
        np.add.at(taken, position[hit], counts[hit])
    return taken


def _direct_plans(problem: Problem, theta: np.ndarray, upper: np.ndarray, lower: np.ndarray, removed: list,
                  gap: np.ndarray) -> list:  # fmt: skip
    """_plan for each row, over the kinds of votes of its two models only (a few hundred of tens of thousands on a
    dense board), where that is provably the plan over every kind: a vote between two other models a and b moves
    the gap by at most max|p - y| |u_a - u_b| <= max(u) - min(u) over the other models (u = H^-1 (e_upper -
    e_lower)), and when every kind the plan takes narrows the gap by more than that per vote, no other kind comes
    before them in its order. None where that does not hold (the caller plans over every kind). `removed`: per row,
    the votes its pair's sequence has taken so far, (kinds, counts)."""
    kinds = problem.kinds
    touching = problem.touching()
    u = problem._chord[upper] - problem._chord[lower]
    plans: list = []
    for row, (a, b) in enumerate(zip(upper.tolist(), lower.tolist(), strict=True)):
        candidates = np.union1d(touching[a], touching[b])
        others = np.ones(u.shape[1], dtype=bool)
        others[[a, b]] = False
        bound = u[row, others].max() - u[row, others].min() if others.any() else 0.0
        i, j = kinds.i[candidates], kinds.j[candidates]
        p = expit(theta[row, i] - theta[row, j])
        change = (p - kinds.y[candidates]) * (u[row, i] - u[row, j])
        available = kinds.count[candidates] - _taken(candidates, *removed[row])
        chosen, take = _plan(change, available, gap[row])
        helpful = (change < 0) & (available > 0)
        reached = -(change[helpful] * available[helpful]).sum() > max(gap[row], 0.0) + SWAP_MARGIN
        if len(chosen) and reached and -change[chosen].max() > bound:
            plans.append((candidates[chosen], take, -change[chosen]))
        else:
            plans.append(None)
    return plans


@dataclass(frozen=True)
class _Predicted:
    """The gap reduction the plans predicted for the first m votes of a pair's sequence: piecewise linear in m,
    knots at the ends of its chunks (votes, cumulative reduction). The refits' gaps are close to linear in it even
    where they are far from linear in m (the sequence takes the votes that narrow the gap most first), so a
    bracket is narrowed by a secant in it."""

    votes: np.ndarray
    reduction: np.ndarray

    @classmethod
    def extended(cls, before: _Predicted, take: np.ndarray, per_vote: np.ndarray) -> _Predicted:
        votes = before.votes[-1] + np.cumsum(take)
        reduction = before.reduction[-1] + np.cumsum(take * per_vote)
        return cls(np.concatenate([before.votes, votes]), np.concatenate([before.reduction, reduction]))

    def at(self, m) -> np.ndarray:
        return np.interp(m, self.votes, self.reduction)

    def votes_at(self, reduction: float) -> float:
        return float(np.interp(reduction, self.reduction, self.votes))


_Predicted.EMPTY = _Predicted(np.zeros(1), np.zeros(1))


def _narrowing_probes(lo: int, hi: int, gap_lo: float, gap_hi: float, predicted: _Predicted,
                      rounds: int) -> tuple[list[int], list[float]]:  # fmt: skip
    """The counts to refit inside a bracket (lo not swapped, hi swapped, hi - lo > 1), and each one's place
    between the two ends (0 at lo, 1 at hi) in predicted reduction, where the refitted theta moves almost
    linearly: the secant's crossing of -SWAP_MARGIN in predicted reduction, and the count below it (the two a
    right guess needs). From the third round on, the neighbours of the guess and the bracket's middle too, so that
    a poor secant still ends."""
    x_lo, x_hi = predicted.at(lo), predicted.at(hi)
    if not x_hi > x_lo:  # no predicted reduction between them to go by: counts of votes instead
        predicted = _Predicted(np.array([lo, hi], dtype=np.float64), np.array([lo, hi], dtype=np.float64))
        x_lo, x_hi = float(lo), float(hi)
    share = (gap_lo + SWAP_MARGIN) / (gap_lo - gap_hi)
    crossing = predicted.votes_at(x_lo + share * (x_hi - x_lo))
    guess = int(min(max(int(np.ceil(crossing - 1e-9)), lo + 1), hi - 1))
    span = hi - lo
    if span <= _FEW:  # every count inside the bracket at once: decided this round
        probes = set(range(lo + 1, hi))
    elif rounds < _SECANT_ROUNDS:
        probes = {g for g in (guess - 1, guess) if lo < g < hi}
    else:
        probes = {g for g in (guess - 1, guess, guess + 1, lo + span // 2) if lo < g < hi}
    probes = sorted(probes)
    return probes, ((predicted.at(probes) - x_lo) / (x_hi - x_lo)).tolist()


def votes_to_flip(problem: Problem, upper: np.ndarray, lower: np.ndarray, gap: np.ndarray | None = None) -> Flips:
    """Confirmed votes to flip for each pair (upper[q] above lower[q]). `gap`: the published gaps in logits
    (default: the problem's own fit); a removal's effect is the change the problem's refit gives, added to it."""
    upper, lower = np.asarray(upper, dtype=np.int64), np.asarray(lower, dtype=np.int64)
    pairs, n_kinds = len(upper), len(problem.kinds)
    base_gap = problem.base[upper] - problem.base[lower]
    gap = base_gap.copy() if gap is None else np.asarray(gap, dtype=float)
    votes = np.full(pairs, -1, dtype=np.int64)
    linear = np.full(pairs, -1, dtype=np.int64)
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0))
    sequences: list[tuple[np.ndarray, np.ndarray]] = [empty] * pairs
    if pairs == 0:
        return Flips(votes, linear, gap, sequences)
    theta = np.repeat(problem.base[None], pairs, axis=0)
    lo = np.zeros(pairs, dtype=np.int64)
    hi = np.full(pairs, -1, dtype=np.int64)
    gap_lo, gap_hi = gap.copy(), np.zeros(pairs)
    theta_lo, theta_hi = theta.copy(), theta.copy()
    extending = gap > 0  # a pair level or reversed already has nothing to remove (no number; -1)
    predicted = [_Predicted.EMPTY] * pairs  # per pair, the plans' predicted reduction along its sequence
    narrowed = np.zeros(pairs, dtype=np.int64)  # rounds each pair has spent narrowing its bracket
    # Each round fits, as rows of one vectorised refit: for a pair not yet swapped, the votes the influences at its
    # last refit say should swap it (and one fewer); for a bracketed pair, secant guesses inside its bracket.
    for _ in range(_MAX_EXTEND + _MAX_NARROW):
        owners, counts, starts = [], [], []
        grow = np.flatnonzero(extending)
        if len(grow):
            # Each pair's removals so far as its sequence (kinds, counts): a (pairs, kinds) array of them would be
            # ~100 MB on a dense board (60,000 kinds), most of its pages touched by a few entries each.
            removed = [sequences[q] for q in grow.tolist()]
            plans = _direct_plans(problem, theta_lo[grow], upper[grow], lower[grow], removed, gap_lo[grow])
            full = [row for row, plan in enumerate(plans) if plan is None]
            if full:  # the plans that votes between other models could change: over every kind, as before
                rows = grow[full]
                change = problem.gap_change(theta_lo[rows], upper[rows], lower[rows])
                available = problem.kinds.count[None] - np.array([np.bincount(*removed[row], n_kinds) for row in full])
                shortlist = _shortlist(change, available)
                for k, row in enumerate(full):
                    kinds, take = _plan(change[k], available[k], gap_lo[grow[row]], shortlist[k])
                    plans[row] = (kinds, take, -change[k, kinds])
            for row, q in enumerate(grow.tolist()):
                kinds, take, per_vote = plans[row]
                if len(kinds) == 0:  # nothing left that would narrow the gap: never swapped
                    extending[q] = False
                    continue
                if len(sequences[q][0]) == 0:
                    linear[q] = int(take.sum())
                sequences[q] = (np.concatenate([sequences[q][0], kinds]), np.concatenate([sequences[q][1], take]))
                predicted[q] = _Predicted.extended(predicted[q], take, per_vote)
                total = int(round(sequences[q][1].sum()))
                owners += [q] if total - 1 <= lo[q] else [q, q]
                counts += [total] if total - 1 <= lo[q] else [total, total - 1]
                starts += [theta_lo[q]] if total - 1 <= lo[q] else [theta_lo[q], theta_lo[q]]
        extended = len(owners)  # these rows start from the converged fit at lo: their first step is cheap
        for q in np.flatnonzero((hi > 0) & (hi - lo > 1)).tolist():
            probes, fractions = _narrowing_probes(lo[q], hi[q], gap_lo[q], gap_hi[q], predicted[q], narrowed[q])
            narrowed[q] += 1
            owners += [q] * len(probes)
            counts += probes
            # Each probe starts where the fits at the bracket's ends say it lies: within a few votes of either end
            # the refit moves theta almost linearly, so the chord steps start next to the answer.
            starts += [theta_lo[q] + f * (theta_hi[q] - theta_lo[q]) for f in fractions]
        if not owners:
            break
        owner = np.array(owners)
        removals, starts = _prefixes(sequences, owners, counts, n_kinds), np.array(starts)
        step = None
        if extended and problem._chord is not None:
            more = _prefixes(sequences, owners[:extended], counts[:extended], n_kinds, lo[owner[:extended]].tolist())
            step = np.zeros_like(starts)
            step[:extended] = problem.linear_steps(starts[:extended], more)
        fitted = problem.fit(removals, starts, step)
        k = np.arange(len(owners))
        new_gap = gap[owner] + fitted[k, upper[owner]] - fitted[k, lower[owner]] - base_gap[owner]
        for row, (q, m, g) in enumerate(zip(owners, counts, new_gap.tolist(), strict=True)):
            # Only counts inside the bracket move its ends: where a vote late in the sequence widens the gap a
            # little (its effect at the refit the opposite of the plan's), the gap crosses more than once, and a
            # count swapped below one not swapped must not cross the ends over (any crossing is a right answer).
            inside = m > lo[q] and (hi[q] < 0 or m < hi[q])
            if g < -SWAP_MARGIN:
                if inside:
                    hi[q], gap_hi[q], theta_hi[q] = m, g, fitted[row]
                    extending[q] = False
            elif inside:
                lo[q], gap_lo[q], theta_lo[q] = m, g, fitted[row]
    done = (hi > 0) & (hi - lo == 1)
    votes[done] = hi[done]
    return Flips(votes, linear, gap, sequences)


def greedy_refits(problem: Problem, upper: int, lower: int, gap: float | None = None, *,
                  candidates: int | None = None, max_votes: int = 10_000) -> int:  # fmt: skip
    """The slow reference: remove one vote at a time, each time the one (among the kinds left) whose removal
    shrinks the gap most by an actual refit, until the pair swaps; returns the votes removed (-1: never).
    `candidates`: refit only that many kinds per step, those with the largest predicted reduction (all kinds if
    None)."""
    base_gap = problem.base[upper] - problem.base[lower]
    gap = base_gap if gap is None else gap
    n_kinds = len(problem.kinds)
    removed = np.zeros(n_kinds)
    theta = problem.base
    for step in range(1, max_votes + 1):
        available = np.flatnonzero(problem.kinds.count - removed > 0)
        if len(available) == 0:
            return -1
        if candidates is not None and len(available) > candidates:
            change = problem.gap_change(theta[None], np.array([upper]), np.array([lower]))[0]
            available = available[np.argsort(change[available], kind="stable")[:candidates]]
        rows = np.repeat(removed[None], len(available), axis=0)
        rows[np.arange(len(available)), available] += 1
        fitted = problem.fit(rows, theta)
        gaps = gap + fitted[:, upper] - fitted[:, lower] - base_gap
        best = int(np.argmin(gaps))
        removed, theta = rows[best], fitted[best]
        if gaps[best] < -SWAP_MARGIN:
            return step
    return -1


def neighbours(rating: np.ndarray, present: np.ndarray, labels: np.ndarray | None = None, top: int | None = None):
    """(upper, lower) model indices of consecutive rows of a board listing `present` models by rating, highest
    first (ties by index, as the board lists them by slug); pairs in different components are left out. `top`:
    only the first that many pairs (1: #1 and #2)."""
    order = present[np.argsort(-rating[present], kind="stable")]
    upper, lower = order[:-1], order[1:]
    if top is not None:
        upper, lower = upper[:top], lower[:top]
    if labels is not None:
        same = labels[upper] == labels[lower]
        upper, lower = upper[same], lower[same]
    return upper, lower


def _present(outcomes: PairOutcomes) -> np.ndarray:
    """The models with battles: those a board lists."""
    n, c = outcomes.n_models, outcomes.count
    return np.flatnonzero(np.bincount(outcomes.model_a, c, n) + np.bincount(outcomes.model_b, c, n) > 0)


def board_flips(outcomes: PairOutcomes, rating: np.ndarray, theta: np.ndarray, alpha: float, both_bad: str = "tie",
                labels: np.ndarray | None = None, steps: int | None = None,
                top: int | None = None) -> np.ndarray:  # fmt: skip
    """A board fitted by ratings.leaderboard.rate (each component on its own), listed by `rating`: per model, the
    confirmed votes to flip it with its neighbour above among the models with battles (nan for the top, across
    components, and where no removal swaps them)."""
    n = outcomes.n_models
    labels = components.label(outcomes) if labels is None else labels
    upper, lower = neighbours(rating, _present(outcomes), labels, top)
    out = np.full(n, np.nan)
    for models in components.members(labels):
        inside = np.isin(upper, models)
        if not inside.any() or len(models) < 2:
            continue
        sub, _ = components.restrict(outcomes, models)
        if sub.total == 0:
            continue
        position = np.full(n, -1)
        position[models] = np.arange(len(models))
        u, v = position[upper[inside]], position[lower[inside]]
        try:
            problem = Problem.plain(sub, alpha, both_bad, theta[models], steps)
            flips = votes_to_flip(problem, u, v, theta[upper[inside]] - theta[lower[inside]])
        except (RuntimeError, np.linalg.LinAlgError):  # a fit that does not converge: no number, never a wrong one
            continue
        found = flips.votes > 0
        out[lower[inside][found]] = flips.votes[found]
    return out


def pooled_board_flips(outcomes: PairOutcomes, rating: np.ndarray, theta: np.ndarray, centre: np.ndarray,
                       precision: np.ndarray, labels: np.ndarray, both_bad: str = "tie",
                       steps: int | None = None, top: int | None = None) -> np.ndarray:  # fmt: skip
    """A pooled board (ratings.pooling, over the overall board's models; `theta` its published posterior mean),
    listed by `rating`: per model, the confirmed votes to flip it with its neighbour above among the models with
    battles on the board, with the board's prior (so tau) held fixed; nan for the top, across components, and where
    no removal of the board's votes swaps them (the prior, the rest of the votes, holds them apart)."""
    n = outcomes.n_models
    upper, lower = neighbours(rating, _present(outcomes), labels, top)
    out = np.full(n, np.nan)
    if len(upper) == 0:
        return out
    try:
        problem = Problem.pooled(outcomes, centre, precision, both_bad, theta, steps)
        flips = votes_to_flip(problem, upper, lower, theta[upper] - theta[lower])
    except (RuntimeError, np.linalg.LinAlgError):  # a fit that does not converge: no number, never a wrong one
        return out
    found = flips.votes > 0
    out[lower[found]] = flips.votes[found]
    return out
