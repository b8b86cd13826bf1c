"""One board from human votes and an LLM judge: a composite Bradley-Terry fit.

Every source is a set of pairwise observations (model i, model j, soft target y in [0, 1], count, cluster):
- human votes: y = 1, 0, or 1/2 for a tie (both-bad as the board reads it), clustered by voter;
- judge pairwise verdicts, each order of presentation one observation, clustered by the pair of replies (the two
  orders of one pair are not independent);
- judge scores of single replies, turned into soft pairwise targets y = sigmoid((s_i - s_j) / T) for every two
  replies of different models to the same message, clustered by message (a reply's score enters each of its pairs).
Source s enters the log-likelihood with weight w_s: sum_s w_s sum_k c_k [y_k log p_k + (1 - y_k) log(1 - p_k)],
p_k = sigmoid(theta_i - theta_j), plus the board's `alpha` virtual ties per pair. The objective is a weighted win
matrix, so the point estimate is the board's own solver (choix) on sum_s w_s W_s: with every judge weight at 0
it is the human board's fit, to the bit. A human vote has weight 1, so w_s is what one judge observation is worth
in human votes.

Uncertainty is the sandwich H^-1 B H^-1 across sources: H the Hessian of the whole weighted objective, B the sum
over independent clusters of every source of the outer product of their weighted scores (arena-rank's composite
formula). The judge's weight (and the score temperature T) is chosen by the held-out log-likelihood of human
votes, split by voter so that no voter is in two folds: the judge's weight is what best predicts people who were
not used to fit it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse import csr_array

from ratings import bradley_terry as bt
from ratings import components
from ratings.outcomes import Outcome

Z_95 = 1.959963984540054
# Candidate weights of one judge observation, in human votes; 0 keeps the human board.
WEIGHT_GRID = (0.0, 1 / 64, 1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1.0, 2.0)
# Judge scores become soft targets sigmoid((s_i - s_j) / T), T in points of the 0-10 scale. T only sets the judge's
# scale, which the fit estimates anyway (gamma per judge source), so one T does: choosing it by held-out votes
# picked flattened targets that predicted people well and placed models worse (README, Composite).
TEMPERATURE = 1.0
HUMAN, VERDICTS, SCORES = "human", "verdicts", "scores"


@dataclass(frozen=True)
class Source:
    """Pairwise observations of one source. `cluster`: observations sharing a value are one independent unit (a
    voter, a pair of replies, a message); -1 marks an observation that is its own unit, `count` times over."""

    name: str
    kind: str
    i: np.ndarray
    j: np.ndarray
    y: np.ndarray
    count: np.ndarray
    cluster: np.ndarray
    weight: float = 1.0
    temperature: float | None = None
    # Judge scores only: the score gap of each pair (s_i - s_j), from which y is redrawn at another temperature.
    gap: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.y)
        for name in ("i", "j", "count", "cluster"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{self.name}: {name} has {len(getattr(self, name))} entries, y has {n}")
        if n and (np.any(self.i == self.j) or np.any(self.y < 0) or np.any(self.y > 1) or np.any(self.count < 0)):
            raise ValueError(f"{self.name}: a self-comparison, a target outside [0, 1] or a negative count")
        if self.weight < 0:
            raise ValueError(f"{self.name}: a weight cannot be negative")

    def __len__(self) -> int:
        return len(self.y)

    def win_matrix(self, n: int) -> np.ndarray:
        w = np.zeros((n, n))
        np.add.at(w, (self.i, self.j), self.count * self.y)
        np.add.at(w, (self.j, self.i), self.count * (1 - self.y))
        return w

    def at_temperature(self, temperature: float) -> Source:
        if self.gap is None:
            raise ValueError(f"{self.name}: only judge scores have a temperature")
        return replace(self, y=_sigmoid(self.gap / temperature), temperature=temperature)

    def subset(self, keep: np.ndarray) -> Source:
        gap = None if self.gap is None else self.gap[keep]
        return replace(self, i=self.i[keep], j=self.j[keep], y=self.y[keep], count=self.count[keep],
                       cluster=self.cluster[keep], gap=gap)  # fmt: skip

    def aggregated(self) -> Source:
        """One row per ordered pair (i, j): the likelihood, its gradient and Hessian depend only on the counts and
        the count-weighted targets per pair, so the fits run on these (the sandwich's B needs the clusters)."""
        if not len(self):
            return self
        span = int(max(self.i.max(), self.j.max())) + 1
        keys, inverse = np.unique(self.i * span + self.j, return_inverse=True)
        count = np.bincount(inverse, self.count, len(keys))
        target = np.bincount(inverse, self.count * self.y, len(keys))
        y = np.divide(target, count, out=np.full(len(keys), 0.5), where=count > 0)
        return replace(self, i=keys // span, j=keys % span, y=np.clip(y, 0.0, 1.0), count=count,
                       cluster=np.full(len(keys), -1, dtype=np.int64), gap=None)  # fmt: skip

    @property
    def observations(self) -> float:
        return float(self.count.sum())


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, dtype=float)))


def human_source(i, j, y, count, voter) -> Source:
    """Human votes: y 1 (i won), 0 (j won) or 0.5 (a tie); `voter` a cluster id per row (-1: the row's votes are
    independent of each other)."""
    return Source(HUMAN, HUMAN, *(np.asarray(v) for v in (i, j)), np.asarray(y, float), np.asarray(count, float),
                  np.asarray(voter, dtype=np.int64))  # fmt: skip


def human_from_outcomes(outcomes, both_bad: str = "tie") -> Source:
    """Human votes from the board's counts (ratings.outcomes.PairOutcomes), read as the board reads them: a tie
    half a win each way, both-bad a tie or left out; every vote its own unit."""
    o = outcomes.outcome
    keep = (o != Outcome.BOTH_BAD) | (both_bad == "tie")
    y = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))[keep]
    a, b, c = outcomes.model_a[keep], outcomes.model_b[keep], outcomes.count[keep]
    return human_source(a, b, y, c, np.full(len(a), -1))


def verdict_source(name: str, i, j, y, pair) -> Source:
    """A judge's pairwise verdicts, one row per verdict (each order of a pair one verdict): y 1 when it preferred
    model i, 0 model j, 0.5 a tie; `pair` names the pair of replies (both orders share it)."""
    i, j = np.asarray(i), np.asarray(j)
    return Source(name, VERDICTS, i, j, np.asarray(y, float), np.ones(len(i)), np.asarray(pair, dtype=np.int64))


def score_source(
    name: str, model, message, score, temperature: float = TEMPERATURE, family=None, judge_family: str | None = None
) -> Source:
    """A judge's scores of single replies (one row per reply: its model index, its message id, its score) as soft
    targets for every two replies of different models to the same message, clustered by message. With
    `family` (per model index) and `judge_family`, replies of the judge's own family are left out: a judge never
    scores its own family."""
    model, message, score = np.asarray(model), np.asarray(message), np.asarray(score, dtype=float)
    if family is not None and judge_family is not None:
        own = np.array([family[m] == judge_family for m in model.tolist()], dtype=bool)
        model, message, score = model[~own], message[~own], score[~own]
    order = np.argsort(message, kind="stable")
    model, message, score = model[order], message[order], score[order]
    starts = np.flatnonzero(np.r_[True, message[1:] != message[:-1]])
    ends = np.r_[starts[1:], len(message)]
    first, second = [], []
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        k = np.arange(start, end)
        a, b = np.triu_indices(len(k), 1)
        first.append(k[a])
        second.append(k[b])
    a = np.concatenate(first) if first else np.zeros(0, dtype=np.int64)
    b = np.concatenate(second) if second else np.zeros(0, dtype=np.int64)
    keep = model[a] != model[b]
    a, b = a[keep], b[keep]
    gap = score[a] - score[b]
    return Source(name, SCORES, model[a], model[b], _sigmoid(gap / temperature), np.ones(len(a)),
                  message[a].astype(np.int64), temperature=temperature, gap=gap)  # fmt: skip


@dataclass(frozen=True)
class CompositeFit:
    theta: np.ndarray
    covariance: np.ndarray
    rating: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    weights: dict[str, float]
    temperatures: dict[str, float | None]
    component: np.ndarray
    # Per source: observations that entered (counts) and, when the weights were chosen, the held-out human
    # log-likelihood per vote at each weight tried ({source: [[weight, temperature, loglik], ...]}).
    observations: dict[str, float] = field(default_factory=dict)
    selection: dict[str, list] = field(default_factory=dict)
    folds: int = 0
    # Per judge source in play: its scale gamma (it sees gamma (theta_i - theta_j); 1 would be the human scale).
    scales: dict[str, float] = field(default_factory=dict)


def _labels(w: np.ndarray) -> np.ndarray:
    """Components of the graph of pairs with any weight, numbered as ratings.components does (0: the largest)."""
    return components.of_graph(csr_array(((w + w.T) > 0).astype(float)))


def _design(n: int, sources: list[Source]):
    """The sources that enter (weight > 0), and the index of each judge source's scale among the parameters."""
    active = [s for s in sources if s.weight > 0 and len(s)]
    scale = {}
    for s in active:
        if s.kind != HUMAN:
            scale[s.name] = n + len(scale)
    return active, scale


def _derivatives(theta_gamma: np.ndarray, n: int, active: list[Source], scale: dict[str, int], alpha: float,
                 clusters: bool = False):  # fmt: skip
    """Objective (weighted log-likelihood plus the alpha virtual ties), gradient, Hessian; with `clusters` also the
    meat B of the sandwich (the prior is a penalty, not data: it is in H, never in B)."""
    k = len(theta_gamma)
    theta = theta_gamma[:n]
    value, grad, hess = 0.0, np.zeros(k), np.zeros((k, k))
    meat = np.zeros((k, k)) if clusters else None
    for s in active:
        g_index = scale.get(s.name)
        gamma = theta_gamma[g_index] if g_index is not None else 1.0
        d = theta[s.i] - theta[s.j]
        p = _sigmoid(gamma * d)
        pc = np.clip(p, 1e-300, 1.0)
        qc = np.clip(1 - p, 1e-300, 1.0)
        r = s.y - p
        wc = s.weight * s.count
        value += float(np.sum(wc * (s.y * np.log(pc) + (1 - s.y) * np.log(qc))))
        v = p * (1 - p)
        np.add.at(grad, s.i, wc * gamma * r)
        np.add.at(grad, s.j, -wc * gamma * r)
        curv = wc * gamma * gamma * v
        np.add.at(hess, (s.i, s.i), -curv)
        np.add.at(hess, (s.j, s.j), -curv)
        np.add.at(hess, (s.i, s.j), curv)
        np.add.at(hess, (s.j, s.i), curv)
        if g_index is not None:
            grad[g_index] += float(np.sum(wc * r * d))
            hess[g_index, g_index] -= float(np.sum(wc * v * d * d))
            cross = wc * (r - gamma * v * d)
            np.add.at(hess[g_index], s.i, cross)
            np.add.at(hess[g_index], s.j, -cross)
            hess[:n, g_index] = hess[g_index, :n]
        if clusters:
            unit = np.zeros((len(s), k))
            unit[np.arange(len(s)), s.i] = s.weight * gamma * r
            unit[np.arange(len(s)), s.j] = -s.weight * gamma * r
            if g_index is not None:
                unit[:, g_index] = s.weight * r * d
            alone = s.cluster < 0
            meat += (unit[alone] * s.count[alone, None]).T @ unit[alone]
            if (~alone).any():
                ids, cluster = np.unique(s.cluster[~alone], return_inverse=True)
                g = np.zeros((len(ids), k))
                np.add.at(g, cluster, unit[~alone] * s.count[~alone, None])
                meat += g.T @ g
    rows, cols = np.triu_indices(n, 1)
    d = theta[rows] - theta[cols]
    p = _sigmoid(d)
    value += float(np.sum(alpha / 2 * (np.log(np.clip(p, 1e-300, 1)) + np.log(np.clip(1 - p, 1e-300, 1)))))
    prior_r = alpha * (0.5 - p)
    np.add.at(grad, rows, prior_r)
    np.add.at(grad, cols, -prior_r)
    curv = alpha * p * (1 - p)
    np.add.at(hess, (rows, rows), -curv)
    np.add.at(hess, (cols, cols), -curv)
    np.add.at(hess, (rows, cols), curv)
    np.add.at(hess, (cols, rows), curv)
    return value, grad, hess, meat


def _solve(n: int, sources: list[Source], alpha: float, tol: float = 1e-11, max_iter: int = 200) -> np.ndarray:
    """Theta (mean zero) and each judge source's scale gamma (the judge sees gamma (theta_i - theta_j)): choix on
    the weighted win matrix as the start, then Newton with step halving. Without a judge in play the start is
    already the optimum (the human board's own fit)."""
    active, scale = _design(n, sources)
    w = sum((s.weight * s.win_matrix(n) for s in active), np.zeros((n, n)))
    theta = bt.fit(w, alpha)
    if not scale:
        return theta
    active = [s.aggregated() for s in active]
    x = np.r_[theta, np.ones(len(scale))]
    value, grad, hess, _ = _derivatives(x, n, active, scale, alpha)
    for _ in range(max_iter):
        # Theta is identified up to a shift: fix it by the mean (a Lagrange row), solve for the Newton step.
        k = len(x)
        system = np.zeros((k + 1, k + 1))
        system[:k, :k] = -hess
        system[:n, k] = system[k, :n] = 1.0
        step = np.linalg.lstsq(system, np.r_[grad, 0.0], rcond=None)[0][:k]
        if not np.all(np.isfinite(step)) or float(grad @ step) <= 0:
            step = grad / max(1.0, float(np.max(np.abs(np.diag(hess)))))  # not ascent: a damped gradient step
        t = 1.0
        while t > 1e-8:
            trial = x + t * step
            if np.all(trial[n:] > 0):
                trial_value = _derivatives(trial, n, active, scale, alpha)[0]
                if trial_value >= value - 1e-12 * abs(value):
                    break
            t /= 2
        x = x + t * step
        x[:n] -= x[:n].mean()
        value, grad, hess, _ = _derivatives(x, n, active, scale, alpha)
        if float(np.max(np.abs(t * step))) < tol:
            break
    return x


def _theta(n: int, sources: list[Source], alpha: float, labels: np.ndarray) -> np.ndarray:
    """Theta per component (the judge scales of each component's fit are dropped)."""
    theta = np.zeros(n)
    for c in range(int(labels.max()) + 1):
        models = np.flatnonzero(labels == c)
        if len(models) > 1:
            local = {k: m for m, k in enumerate(models.tolist())}
            theta[models] = _solve(len(models), [_restrict(s, local) for s in sources], alpha)[: len(models)]
    return theta


def _covariance(n: int, sources: list[Source], alpha: float) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Theta, its sandwich covariance H^-1 B H^-1 (centred) and the judge scales, of one connected set."""
    active, scale = _design(n, sources)
    x = _solve(n, sources, alpha)
    _, _, hess, meat = _derivatives(x, n, active, scale, alpha, clusters=True)
    k = len(x)
    # The shift of theta is fixed by centring: invert H on the centred subspace (bordered system).
    bordered = np.zeros((k + 1, k + 1))
    bordered[:k, :k] = -hess
    bordered[:n, k] = bordered[k, :n] = 1.0
    inverse = np.linalg.pinv(bordered)[:k, :k]
    cov = inverse @ meat @ inverse
    centre = np.eye(n) - 1.0 / n
    return x[:n], centre @ cov[:n, :n] @ centre, {name: float(x[i]) for name, i in scale.items()}


def fit(
    n: int, sources: list[Source], alpha: float = bt.DEFAULT_ALPHA, anchor: tuple[int, float] | None = None
) -> CompositeFit:
    """The composite board at the sources' own weights."""
    w = sum((s.win_matrix(n) * (s.weight > 0) for s in sources), np.zeros((n, n)))
    labels = _labels(w)
    theta, covariance, scales = np.zeros(n), np.zeros((n, n)), {}
    for c in range(int(labels.max()) + 1):
        models = np.flatnonzero(labels == c)
        if len(models) > 1:
            local = {k: m for m, k in enumerate(models.tolist())}
            inside = [_restrict(s, local) for s in sources]
            theta[models], covariance[np.ix_(models, models)], found = _covariance(len(models), inside, alpha)
            if c == 0:
                scales = found
    rating = np.empty(n)
    for c in range(int(labels.max()) + 1):
        models = np.flatnonzero(labels == c)
        local = None
        if anchor is not None and anchor[0] in models:
            local = (int(np.searchsorted(models, anchor[0])), anchor[1])
        rating[models] = bt.to_elo(theta[models], local)
    variance = np.diag(covariance).copy()
    if anchor is not None:
        k = anchor[0]
        same = labels == labels[k]
        variance[same] = variance[same] + covariance[k, k] - 2 * covariance[same, k]
    half = Z_95 * bt.ELO_SCALE * np.sqrt(np.maximum(variance, 0.0))
    return CompositeFit(
        theta=theta, covariance=covariance, rating=rating, ci_low=rating - half, ci_high=rating + half,
        weights={s.name: s.weight for s in sources}, temperatures={s.name: s.temperature for s in sources},
        component=labels, observations={s.name: s.observations for s in sources}, scales=scales,
    )  # fmt: skip


def _restrict(source: Source, local: dict[int, int]) -> Source:
    """The source's observations between the models of `local`, renumbered by it."""
    if not len(source):
        return source
    span = int(max(source.i.max(), source.j.max(), max(local))) + 1
    lookup = np.full(span, -1, dtype=np.int64)
    lookup[list(local)] = list(local.values())
    i, j = lookup[source.i], lookup[source.j]
    inside = (i >= 0) & (j >= 0)
    if inside.all() and np.array_equal(i, source.i) and np.array_equal(j, source.j):
        return source
    return replace(source.subset(inside), i=i[inside], j=j[inside])


def folds_by_voter(human: Source, k: int, seed: int = 0) -> np.ndarray:
    """Fold per human row: every voter's rows in one fold (a row without a voter is a voter of its own)."""
    rng = np.random.default_rng(seed)
    voters = np.where(human.cluster >= 0, human.cluster, -1 - np.arange(len(human)))
    ids, inverse = np.unique(voters, return_inverse=True)
    fold_of_voter = rng.permutation(len(ids)) % k
    return fold_of_voter[inverse]


def heldout_loglik(n: int, human: Source, judges: list[Source], folds: np.ndarray, alpha: float) -> float:
    """Mean log-likelihood per held-out human vote, each fold predicted from the others and every judge source."""
    total, votes = 0.0, 0.0
    for f in np.unique(folds).tolist():
        test = folds == f
        train = human.subset(~test)
        held = human.subset(test)
        sources = [train, *judges]
        w = sum((s.win_matrix(n) * (s.weight > 0) for s in sources), np.zeros((n, n)))
        theta = _theta(n, sources, alpha, _labels(w))
        p = np.clip(_sigmoid(theta[held.i] - theta[held.j]), 1e-12, 1 - 1e-12)
        total += float(np.sum(held.count * (held.y * np.log(p) + (1 - held.y) * np.log(1 - p))))
        votes += held.observations
    return total / votes if votes else float("nan")


def choose_weights(
    n: int,
    human: Source,
    judges: list[Source],
    alpha: float = bt.DEFAULT_ALPHA,
    k: int = 5,
    seed: int = 0,
    weights: tuple[float, ...] = WEIGHT_GRID,
    temperatures: tuple[float, ...] = (1.0,),
    passes: int = 2,
) -> tuple[list[Source], dict[str, list], int]:
    """Each judge source's weight (and a score source's temperature) by K-fold held-out human log-likelihood,
    folds split by voter; coordinate search over the sources, `passes` times. Fewer voters than folds: as many
    folds as voters; a single voter: the judges keep weight 0 (nothing to hold out)."""
    folds = folds_by_voter(human, k, seed)
    k = len(np.unique(folds))
    chosen = [replace(s, weight=0.0) for s in judges]
    selection: dict[str, list] = {s.name: [] for s in judges}
    if k < 2 or not judges:
        return chosen, selection, k
    for _ in range(passes):
        for index, source in enumerate(chosen):
            best, best_ll, tried = source, -np.inf, []
            temps = temperatures if source.gap is not None else (source.temperature,)
            for temperature in temps:
                candidate = source.at_temperature(temperature) if source.gap is not None else source
                for weight in weights:
                    trial = replace(candidate, weight=weight)
                    others = [trial if m == index else s for m, s in enumerate(chosen)]
                    ll = heldout_loglik(n, human, others, folds, alpha)
                    tried.append([weight, temperature, round(ll, 6)])
                    # Ties go to the smaller weight: a judge earns its place by predicting people better.
                    if ll > best_ll + 1e-12:
                        best, best_ll = trial, ll
            chosen[index] = best
            selection[source.name] = tried
    return chosen, selection, k


def composite(
    n: int,
    human: Source,
    judges: list[Source],
    alpha: float = bt.DEFAULT_ALPHA,
    k: int = 5,
    seed: int = 0,
    anchor: tuple[int, float] | None = None,
) -> CompositeFit:
    """Weights chosen by held-out human log-likelihood, then the composite board at those weights."""
    chosen, selection, folds = choose_weights(n, human, judges, alpha, k, seed)
    result = fit(n, [replace(human, weight=1.0), *chosen], alpha, anchor)
    return replace(result, selection=selection, folds=folds)
