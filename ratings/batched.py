"""Many Bradley-Terry fits at once: a bootstrap's thousand refits as one vectorised Newton iteration.

A bootstrap refits the same models on a thousand resampled win matrices; choix fits them one at a time, and its
ILSR iteration crawls on sparse counts. Here every round is a row of one array, and each step is a handful of
numpy operations over all rounds together. The objective is exactly that of `ratings.bradley_terry.fit` (soft
ties, `alpha` virtual ties per pair), so a round fitted here and by choix agree.

Every resample's optimum lies near the point estimate, so the iteration starts there and first takes chord
steps: Newton steps with the Hessian of the point estimate, inverted once for all rounds. Each costs one
gradient, and on counts of a few dozen battles per pair they shrink the error some twentyfold per step. A round
whose chord steps do not shrink fast (sparse counts, where a resample can differ wildly from the data) goes on
with full Newton steps, its own Hessian and step halving.

Arrays are laid out per unordered pair (i < j): the wins both ways, the gaps theta_i - theta_j and their
probabilities; never a dense (rounds, n, n) array of sigmoids, which would do every pair twice.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.special import expit, log_expit

# A step this small in every coordinate (logits; 1e-7 is 0.00002 Elo points) ends a round.
DEFAULT_TOL = 1e-7
# A chord step must be at most this fraction of the one before, or the round goes on with Newton's method.
_CHORD_CONTRACTION = 0.5
_MAX_CHORD_STEPS = 12
# An accepted Newton step may raise the objective by rounding noise only.
_OBJECTIVE_SLACK = 1e-12
_MAX_HALVINGS = 40
# No step moves a strength by more than this (logits). Where a model is linked to the rest only by the prior's
# virtual ties its curvature is tiny, and a full Newton step would throw it so far that every probability
# saturates and the next Hessian is singular; capped steps still converge, the last ones being full Newton steps.
MAX_STEP = 2.0
_BLOCK_ELEMENTS = 1 << 19
# Strengths spread wider than this (logits) leave exp(theta - max) underflowing for the weakest; past it
# PairLayout.complement_t takes an exp per pair instead. No fit comes near it: 600 logits is 104,000 Elo points.
_RATIO_SPREAD = 600.0


class PairLayout:
    """The unordered pairs of n models (all of them, or the given ones), and the incidence matrix that turns
    per-pair terms into per-model sums."""

    def __init__(self, n: int, pairs: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        if n < 2:
            raise ValueError("need at least two models")
        self.n = n
        if pairs is None:
            self.i, self.j = np.triu_indices(n, 1)
        else:  # a subset of pairs i < j, say those a sparse board has votes on: the pairs missing add nothing
            self.i, self.j = (np.asarray(side, dtype=np.int64) for side in pairs)
        # incidence[p] = e_i - e_j for pair p = (i, j): gaps are theta @ incidence.T, per-model sums x @ incidence.
        # Sparse: products with it are single-threaded and skip the zeros, where a dense BLAS product spends n/2
        # times the work and competes for cores with the bootstrap's own threads.
        rows = np.repeat(np.arange(len(self.i)), 2)
        columns = np.column_stack([self.i, self.j]).ravel()
        values = np.tile([1.0, -1.0], len(self.i))
        self._sparse = sparse.csr_array((values, (rows, columns)), shape=(len(self.i), n))
        self._sparse_t = self._sparse.T.tocsr()
        self._flat_ij = self.i * n + self.j
        self._flat_ji = self.j * n + self.i
        self._diagonal = np.arange(n) * (n + 1)

    @property
    def n_pairs(self) -> int:
        return len(self.i)

    def split(self, wins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., n, n) win matrices -> wins of i over j and of j over i per pair, (..., pairs) each."""
        flat = wins.reshape(*wins.shape[:-2], self.n * self.n)
        return flat[..., self._flat_ij], flat[..., self._flat_ji]

    def gaps(self, theta: np.ndarray) -> np.ndarray:
        """theta_i - theta_j per pair, for every row of theta."""
        if theta.ndim == 1:
            return self._sparse @ theta
        return (self._sparse @ theta.T).T

    def per_model(self, per_pair: np.ndarray) -> np.ndarray:
        """sum over pairs of x_p (e_i - e_j)."""
        if per_pair.ndim == 1:
            return self._sparse_t @ per_pair
        return (self._sparse_t @ per_pair.T).T

    # Pair-major forms, (pairs, rows) and (n, rows): the sparse products read and write contiguous rows, and the
    # elementwise work between them needs no transposed copies (three times faster than the row-major forms on a
    # 200-model board).
    def gaps_t(self, theta_t: np.ndarray) -> np.ndarray:
        """(n, rows) strengths -> (pairs, rows) gaps."""
        return self._sparse @ theta_t

    def complement_t(self, theta_t: np.ndarray, total: np.ndarray, buffer: np.ndarray | None = None) -> np.ndarray:
        """(n, rows) strengths, (pairs, rows) totals -> total * (1 - sigmoid(theta_i - theta_j)) per pair, which is
        total * e_j / (e_i + e_j), e = exp(theta): n exps per row instead of one per pair (an exp costs ten times
        a gather, an add or a division). `buffer`: room for two (pairs, rows) arrays, reused across calls (fresh
        arrays this size cost their pages' faults every time); the result is written into it."""
        pairs, rows = self.n_pairs, theta_t.shape[1]
        top = theta_t.max(axis=0)
        if rows == 0 or np.max(top - theta_t.min(axis=0)) > _RATIO_SPREAD:  # e would underflow: an exp per pair
            return complement_into(self.gaps_t(theta_t), total)
        if buffer is None:
            buffer = np.empty(2 * pairs * rows)
        e = np.exp(theta_t - top)
        e_i = buffer[: pairs * rows].reshape(pairs, rows)
        e_j = buffer[pairs * rows : 2 * pairs * rows].reshape(pairs, rows)
        np.take(e, self.i, axis=0, out=e_i, mode="clip")  # "raise" would buffer the output
        np.take(e, self.j, axis=0, out=e_j, mode="clip")
        e_i += e_j
        np.divide(e_j, e_i, out=e_j)
        e_j *= total
        return e_j

    def per_model_t(self, per_pair_t: np.ndarray) -> np.ndarray:
        """(pairs, rows) terms -> (n, rows) sums over pairs of x_p (e_i - e_j)."""
        return self._sparse_t @ per_pair_t

    def laplacian(self, weight: np.ndarray) -> np.ndarray:
        """sum over pairs of weight_p (e_i - e_j)(e_i - e_j)^T, for every row of weight: (..., n, n)."""
        lead, n = weight.shape[:-1], self.n
        out = np.zeros((*lead, n * n))
        out[..., self._flat_ij] = -weight
        out[..., self._flat_ji] = -weight
        out[..., self._diagonal] = -out.reshape(*lead, n, n).sum(axis=-1)
        return out.reshape(*lead, n, n)


def complement_into(gap: np.ndarray, total: np.ndarray) -> np.ndarray:
    """total * (1 - sigmoid(gap)) = total / (1 + exp(gap)), written over `gap`: one exp and one division per
    pair, where scipy's expit costs four times the exp (an overflow to inf gives 0, as it should)."""
    with np.errstate(over="ignore"):
        np.exp(gap, out=gap)
    gap += 1.0
    return np.divide(total, gap, out=gap)


def definite(hessian: np.ndarray) -> np.ndarray:
    """The BT objective is flat along the all-ones direction. Adding that direction with the size of a typical
    diagonal entry makes the Hessian invertible without changing a step, which is orthogonal to it."""
    n = hessian.shape[-1]
    scale = np.einsum("...ii->...", hessian) / n
    return hessian + np.asarray(scale)[..., None, None] / n


def _objective(forward: np.ndarray, backward: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Penalised negative log-likelihood per row: -sum over pairs of w_ij log p_ij + w_ji log(1 - p_ij)."""
    return -(forward * log_expit(gap) + backward * log_expit(-gap)).sum(axis=-1)


def block_rows(n_pairs: int) -> int:
    """Rows per block of pair-major chord steps: a block's (pairs, rows) arrays stay in the cache. On 200 models
    (19,900 pairs) that is 26 rows, whose steps take half the time of a few hundred rows at once."""
    return max(8, _BLOCK_ELEMENTS // max(n_pairs, 1))


def chord_steps(
    forward: np.ndarray, backward: np.ndarray, theta: np.ndarray, inverse: np.ndarray, layout: PairLayout, *,
    tol: float, max_steps: int, contraction: float, first: float = np.inf,
    prior: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Chord steps (Newton steps with one fixed inverse Hessian) on every row of theta ((rows, n), in place) for
    pair-major wins ((pairs, rows) each) and, if given, a Gaussian prior (centre, precision). A row takes steps
    while each is at most `contraction` times the one before (the first at most `first`) and at least `tol`.
    Returns per row whether it converged (its last step below tol) and whether it stalled (a step that did not
    contract, not taken)."""
    rows = theta.shape[0]
    converged, stalled = np.zeros(rows, dtype=bool), np.zeros(rows, dtype=bool)
    active = np.arange(rows)
    previous = np.full(rows, first)
    # The rows still stepping, kept compact. The gradient sum_p (t_p sigmoid(d_p) - f_p)(e_i - e_j) is written
    # lost - sum_p t_p (1 - sigmoid(d_p))(e_i - e_j), lost the per-model sums of the backward wins (fixed).
    total, lost, t = forward + backward, layout.per_model_t(backward), np.ascontiguousarray(theta.T)
    step_map = inverse.T
    buffer = np.empty(2 * layout.n_pairs * rows)
    for _ in range(max_steps):
        gradient = lost - layout.per_model_t(layout.complement_t(t, total, buffer))
        if prior is not None:
            gradient += prior[1].T @ (t - prior[0][:, None])
        step = -(step_map @ gradient)
        size = np.max(np.abs(step), axis=0)
        ok = size <= contraction * previous
        t[:, ok] += step[:, ok]
        theta[active[ok]] = t[:, ok].T
        stalled[active[~ok]] = True
        done = ok & (size < tol)
        converged[active[done]] = True
        keep = ok & ~done
        if not keep.all():
            total, lost, t = total[:, keep], lost[:, keep], t[:, keep]
        active, previous = active[keep], size[keep]
        if len(active) == 0:
            break
    return converged, stalled


def _newton(forward, backward, theta, rows, layout, tol, max_iter):
    """Newton's method with each row's own Hessian and step halving, on the given rows of theta (in place)."""
    total = forward + backward
    active = rows
    gap = layout.gaps(theta[active])
    value = _objective(forward[active], backward[active], gap)
    for _ in range(max_iter):
        if len(active) == 0:
            return
        f, b, t = forward[active], backward[active], total[active]
        p = expit(gap)
        gradient = layout.per_model(t * p - f)
        step = -np.linalg.solve(definite(layout.laplacian(t * p * (1 - p))), gradient[..., None])[..., 0]
        step *= np.minimum(1.0, MAX_STEP / np.maximum(np.max(np.abs(step), axis=1), 1e-300))[:, None]
        step_gap = layout.gaps(step)
        fraction = np.ones(len(active))
        pending = np.arange(len(active))
        accepted = np.empty(len(active))
        for _ in range(_MAX_HALVINGS):
            trial = _objective(f[pending], b[pending], gap[pending] + fraction[pending, None] * step_gap[pending])
            old = value[pending]
            ok = trial <= old + _OBJECTIVE_SLACK * np.maximum(1.0, np.abs(old))
            accepted[pending[ok]] = trial[ok]
            pending = pending[~ok]
            if len(pending) == 0:
                break
            fraction[pending] /= 2
        else:
            raise RuntimeError("step halving failed to decrease the objective")
        moved = fraction[:, None] * step
        theta[active] += moved
        keep = np.max(np.abs(moved), axis=1) >= tol
        active, gap, value = active[keep], (gap + fraction[:, None] * step_gap)[keep], accepted[keep]
    if len(active):
        raise RuntimeError(f"{len(active)} of {theta.shape[0]} fits did not converge in {max_iter} Newton steps")


def point_hessian(forward: np.ndarray, backward: np.ndarray, theta: np.ndarray, layout: PairLayout) -> np.ndarray:
    """The objective's Hessian at theta for per-pair wins (alpha included)."""
    p = expit(layout.gaps(theta))
    return layout.laplacian((forward + backward) * p * (1 - p))


def fit_pairs(
    forward: np.ndarray,
    backward: np.ndarray,
    start: np.ndarray,
    layout: PairLayout,
    *,
    chord_hessian: np.ndarray | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = 100,
) -> np.ndarray:
    """Mean-zero theta for each row of per-pair wins (forward: i over j, backward: j over i, prior included),
    from `start` ((n,) or (rows, n)). With `chord_hessian` (n, n), chord steps with it come first."""
    inverse = None if chord_hessian is None else np.linalg.inv(definite(chord_hessian))
    return fit_pairs_t(np.ascontiguousarray(forward.T), np.ascontiguousarray(backward.T), start, layout,
                       chord_inverse=inverse, tol=tol, max_iter=max_iter)  # fmt: skip


def fit_pairs_t(
    forward: np.ndarray,
    backward: np.ndarray,
    start: np.ndarray,
    layout: PairLayout,
    *,
    chord_inverse: np.ndarray | None = None,
    tol: float = DEFAULT_TOL,
    max_iter: int = 100,
) -> np.ndarray:
    """fit_pairs for pair-major wins ((pairs, rows) each), with the chord steps' inverse Hessian (of
    `definite`) given, if any: (rows, n) theta."""
    rows, n = forward.shape[1], layout.n
    theta = np.array(np.broadcast_to(start, (rows, n)), dtype=np.float64)
    theta -= theta.mean(axis=1, keepdims=True)
    if chord_inverse is not None:
        size = block_rows(layout.n_pairs)
        slow = []
        for first in range(0, rows, size):
            block = slice(first, first + size)
            f, b = forward, backward
            if rows > size:
                f, b = np.ascontiguousarray(forward[:, block]), np.ascontiguousarray(backward[:, block])
            converged, _ = chord_steps(f, b, theta[block], chord_inverse, layout, tol=tol,
                                       max_steps=_MAX_CHORD_STEPS, contraction=_CHORD_CONTRACTION,
                                       first=MAX_STEP / _CHORD_CONTRACTION)  # fmt: skip
            slow.append(first + np.flatnonzero(~converged))
        slow = np.concatenate(slow)
        if len(slow):
            # Start over from `start`: a diverging chord step may have gone far astray.
            theta[slow] = np.broadcast_to(start, (rows, n))[slow]
    else:
        slow = np.arange(rows)
    if len(slow):
        f, b = np.ascontiguousarray(forward[:, slow].T), np.ascontiguousarray(backward[:, slow].T)
        fitted = theta[slow]
        _newton(f, b, fitted, np.arange(len(slow)), layout, tol, max_iter)
        theta[slow] = fitted
    return theta - theta.mean(axis=1, keepdims=True)


def fit_many(
    wins: np.ndarray,
    alpha: float,
    start: np.ndarray,
    tol: float = DEFAULT_TOL,
    max_iter: int = 100,
) -> np.ndarray:
    """Mean-zero theta for each of the (rounds, n, n) win matrices, each the optimum `bradley_terry.fit` finds,
    by Newton's method from `start`. Raises RuntimeError if a round has not converged after `max_iter` steps."""
    wins = np.asarray(wins, dtype=np.float64)
    if wins.ndim != 3 or wins.shape[1] != wins.shape[2]:
        raise ValueError("wins must be a (rounds, n, n) stack of square matrices")
    if alpha <= 0:
        raise ValueError("alpha must be positive so that every model has a finite rating")
    layout = PairLayout(wins.shape[1])
    forward, backward = layout.split(wins)
    return fit_pairs(forward + alpha / 2, backward + alpha / 2, start, layout, tol=tol, max_iter=max_iter)
