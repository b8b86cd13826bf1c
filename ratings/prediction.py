"""Which explanation predicts new votes: rating models scored on votes they were not fitted on, split by voter.

A model that explains the votes it was fitted on may only have memorised them; one that predicts the votes of
people it has never seen has learnt something about people. So the votes are split into K folds by voter (all of
a voter's votes in one fold, never in two), each explanation is fitted on K - 1 folds and scored on the held-out
one, and the scores are pooled over every held-out vote.

Every explanation predicts the three outcomes a vote can have: A better, B better, or neither (a tie or "both
bad"). Those without a tie model give a tie the training folds' tie share and split the rest by their P(A beats B);
Davidson's model makes ties likelier between close models. The scores:
  - log-loss: mean -log P(what the voter chose), over all held-out votes (lower is better; log 3 = 1.099 is a
    uniform guess over the three outcomes);
  - accuracy, Brier score and calibration on the decisive votes, from P(A wins | one side won): the share called
    right, the mean squared error, and the mean gap between predicted and observed win rates over ten bins
    (weighted by votes), with the bins themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from ratings import bradley_terry as bt
from ratings.covariates import CovariateBattles, fit_covariates
from ratings.outcomes import Outcome, PairOutcomes
from ratings.pooling import pool
from ratings.ties import fit_ties

A, B, TIE = 0, 1, 2
_FLOOR = 1e-12
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Votes:
    """One row per vote; models 0..n_models-1, outcome 0 (A), 1 (B) or 2 (tie or both bad), voter an id per row.
    `features` (rows, k) are covariate differences A minus B named by `names`; `boards` lists each vote's emotion
    boards (indices into `n_boards`), empty for a vote on none."""

    n_models: int
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    voter: np.ndarray
    features: np.ndarray
    names: tuple[str, ...]
    boards: Sequence[Sequence[int]] = ()
    n_boards: int = 0

    def __post_init__(self) -> None:
        n = len(self.outcome)
        if not (len(self.model_a) == len(self.model_b) == len(self.voter) == n):
            raise ValueError("model_a, model_b, outcome and voter must have one value per vote")
        if self.features.shape != (n, len(self.names)):
            raise ValueError("features must be (votes, len(names))")
        if not np.all(np.isin(self.outcome, (A, B, TIE))):
            raise ValueError("outcome must be 0 (A), 1 (B) or 2 (tie)")
        if self.boards and len(self.boards) != n:
            raise ValueError("boards must list each vote's boards")

    @property
    def n(self) -> int:
        return len(self.outcome)


@dataclass(frozen=True)
class Explanation:
    """What an explanation uses: covariate columns (by name), Davidson ties, pooled emotion boards."""

    key: str
    label: str
    columns: tuple[str, ...] = ()
    davidson: bool = False
    pooled: bool = False


def voter_folds(voter: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """The fold (0..k-1) of each vote: each voter in exactly one fold, folds about equal in votes (voters in a
    random order, the busiest first, each to the fold with the fewest votes so far)."""
    if k < 2:
        raise ValueError("need at least 2 folds")
    unique, inverse, counts = np.unique(np.asarray(voter), return_inverse=True, return_counts=True)
    if len(unique) < k:
        raise ValueError(f"{k} folds need at least {k} voters; the votes name {len(unique)}")
    order = rng.permutation(len(unique))
    order = order[np.argsort(-counts[order], kind="stable")]
    fold_of_voter = np.empty(len(unique), dtype=np.int64)
    load = np.zeros(k)
    for v in order:
        f = int(np.argmin(load))
        fold_of_voter[v] = f
        load[f] += counts[v]
    return fold_of_voter[inverse]


def _soft(outcome: np.ndarray) -> np.ndarray:
    return np.where(outcome == A, 1.0, np.where(outcome == B, 0.0, 0.5))


def _tie_share(outcome: np.ndarray) -> float:
    # Half a tie and half a decisive vote added: a training set without ties still gives a tie some chance.
    return (float(np.sum(outcome == TIE)) + 0.5) / (len(outcome) + 1.0)


def _three_way(p_a_decisive: np.ndarray, tie: float) -> np.ndarray:
    return np.column_stack([(1 - tie) * p_a_decisive, (1 - tie) * (1 - p_a_decisive), np.full(len(p_a_decisive), tie)])


def _pair_outcomes(votes: Votes, rows: np.ndarray) -> PairOutcomes:
    codes = np.array([Outcome.A_WINS, Outcome.B_WINS, Outcome.TIE])[votes.outcome[rows]]
    return PairOutcomes(votes.n_models, votes.model_a[rows], votes.model_b[rows], codes, np.ones(len(rows)))


def _predict(votes: Votes, explanation: Explanation, train: np.ndarray, test: np.ndarray, alpha: float,
             beta_prior: float) -> np.ndarray:  # fmt: skip
    """(len(test), 3) probabilities of A, B, tie for the test votes, fitted on the train votes."""
    a, b = votes.model_a[test], votes.model_b[test]
    # A training set without a tie has nothing for Davidson's tie parameter: it falls back to the plain model.
    if explanation.davidson and np.any(votes.outcome[train] == TIE):
        model = fit_ties(_pair_outcomes(votes, train), alpha)
        pi_a, pi_b = np.exp(model.theta[a]), np.exp(model.theta[b])
        tie = np.exp(model.log_nu) * np.sqrt(pi_a * pi_b)
        total = pi_a + pi_b + tie
        return np.column_stack([pi_a / total, pi_b / total, tie / total])
    tie = _tie_share(votes.outcome[train])
    if explanation.pooled:
        theta = _pooled_theta(votes, train, test, alpha)
        return _three_way(expit(theta[:, 0] - theta[:, 1]), tie)
    columns = [votes.names.index(c) for c in explanation.columns]
    fit = fit_covariates(
        CovariateBattles(
            votes.n_models,
            votes.model_a[train],
            votes.model_b[train],
            _soft(votes.outcome[train]),
            votes.features[np.ix_(train, columns)],
            explanation.columns,
        ),  # fmt: skip
        alpha=alpha,
        beta_prior=beta_prior if columns else 0.0,
    )
    eta = fit.theta[a] - fit.theta[b]
    if columns:
        eta = eta + votes.features[np.ix_(test, columns)] @ fit.beta
    return _three_way(expit(eta), tie)


def _pooled_theta(votes: Votes, train: np.ndarray, test: np.ndarray, alpha: float) -> np.ndarray:
    """(len(test), 2) strengths of A and B: the mean of the pooled boards a test vote is on, else the overall."""
    n = votes.n_models
    overall = _pair_outcomes(votes, train).win_matrix()
    board_wins = np.zeros((votes.n_boards, n, n))
    soft = _soft(votes.outcome)
    for row in train:
        for g in votes.boards[row]:
            board_wins[g, votes.model_a[row], votes.model_b[row]] += soft[row]
            board_wins[g, votes.model_b[row], votes.model_a[row]] += 1 - soft[row]
    overall_theta = bt.fit(overall, alpha)
    pooled = pool(board_wins, overall, alpha).theta if votes.n_boards else np.zeros((0, n))
    out = np.empty((len(test), 2))
    for i, row in enumerate(test):
        theta = pooled[list(votes.boards[row])].mean(axis=0) if len(votes.boards[row]) else overall_theta
        out[i] = theta[votes.model_a[row]], theta[votes.model_b[row]]
    return out


@dataclass(frozen=True)
class Scores:
    log_loss: float
    accuracy: float | None
    brier: float | None
    calibration_error: float | None
    votes: int
    decisive: int
    # Per bin of P(A wins | decisive): (mean predicted, observed share of A wins, votes).
    calibration: list[tuple[float, float, int]] = field(default_factory=list)
    # Per held-out vote, for paired comparisons between explanations.
    losses: np.ndarray | None = None


def score(probabilities: np.ndarray, outcome: np.ndarray) -> Scores:
    p = np.clip(probabilities, _FLOOR, 1.0)
    losses = -np.log(p[np.arange(len(outcome)), outcome])
    decisive = outcome != TIE
    q = probabilities[decisive, A] / np.maximum(probabilities[decisive, A] + probabilities[decisive, B], _FLOOR)
    won = (outcome[decisive] == A).astype(float)
    if not decisive.any():
        return Scores(float(losses.mean()), None, None, None, len(outcome), 0, [], losses)
    right = np.where(q == 0.5, 0.5, (q > 0.5) == (won == 1))
    bins = np.minimum((q * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    calibration, gap = [], 0.0
    for k in range(CALIBRATION_BINS):
        inside = bins == k
        if inside.any():
            predicted, observed, count = float(q[inside].mean()), float(won[inside].mean()), int(inside.sum())
            calibration.append((predicted, observed, count))
            gap += count * abs(predicted - observed)
    return Scores(
        log_loss=float(losses.mean()),
        accuracy=float(np.mean(right)),
        brier=float(np.mean((q - won) ** 2)),
        calibration_error=gap / len(q),
        votes=len(outcome),
        decisive=int(decisive.sum()),
        calibration=calibration,
        losses=losses,
    )


def cross_validate(
    votes: Votes,
    explanations: Sequence[Explanation],
    folds: np.ndarray,
    alpha: float = bt.DEFAULT_ALPHA,
    beta_prior: float = 1.0,
) -> dict[str, Scores]:
    """Each explanation's scores over every held-out vote: fitted on the other folds, predicted on each fold."""
    k = int(folds.max()) + 1
    out = {}
    for explanation in explanations:
        probabilities = np.empty((votes.n, 3))
        for f in range(k):
            test, train = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
            probabilities[test] = _predict(votes, explanation, train, test, alpha, beta_prior)
        out[explanation.key] = score(probabilities, votes.outcome)
    return out


def paired_difference(losses: np.ndarray, baseline: np.ndarray, voter: np.ndarray) -> tuple[float, float]:
    """Mean per-vote log-loss difference (losses - baseline) and its standard error, clustered by voter (a voter's
    votes are not independent of one another)."""
    diff = losses - baseline
    _, inverse = np.unique(voter, return_inverse=True)
    sums = np.bincount(inverse, diff - diff.mean())
    n = len(diff)
    return float(diff.mean()), float(np.sqrt(np.sum(sums**2)) / n)
