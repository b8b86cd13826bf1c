"""Vote-quality tests per voter, under given Bradley-Terry strengths: pure statistics on per-voter counts.

A false flag takes an honest person's votes out of the count, so every rule is one-sided, distribution-free and
multiple-testing aware: a voter is flagged only when (a) a tail bound that needs no normal approximation
(Hoeffding-Chernoff for shares, Bernstein for the log-likelihood) puts the chance of their votes under the
ratings below `alpha / number of tests` (Bonferroni), and (b) the effect is large, not merely significant; the
outlier rule also spares a voter whose votes follow a consistent ranking of their own (a taste, not a script).

Each vote has a score y (1 when side A wins, 0 when B wins, 1/2 for a tie or both_bad) and, under the ratings,
E[y] = p = sigmoid(theta_a - theta_b). Whatever the tie rate, Var(y) <= p (1 - p), which the bounds use; an
overestimated variance only makes them more conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ratings import bradley_terry as bt
from ratings.intervals import ClusteredOutcomes
from ratings.outcomes import Outcome

# Bonferroni family-wise false-flag rate of each rule, if the ratings are right.
DEFAULT_ALPHA = 0.01
# Fewer votes than this and a voter is never tested: a handful of votes says nothing.
DEFAULT_MIN_VOTES = 30
# Outlier: flagged only if the voter agrees with the ratings at most this fraction as much as they predict.
DEFAULT_MAX_AGREEMENT = 0.5
# One-sided: flagged only if the voter's picks went to one side (or one model) at least this share of the time.
DEFAULT_MIN_SHARE = 0.95
# One-sided by model: a personal liking this large (logits; 1.5 is ~260 Elo points) is still deemed honest.
DEFAULT_TASTE = 1.5


def bernstein_tail(deviation: np.ndarray, variance: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """Upper bound on P(S >= t) for S a sum of independent zero-mean terms, each <= `bound` above its mean,
    with total variance at most `variance`: exp(-t^2 / (2 (V + M t / 3))); 1 for t <= 0."""
    t = np.maximum(np.asarray(deviation, dtype=np.float64), 0.0)
    denominator = 2.0 * (np.asarray(variance, dtype=np.float64) + np.asarray(bound, dtype=np.float64) * t / 3.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.where(t > 0, t * t / np.where(denominator > 0, denominator, np.inf), 0.0)
    return np.where(t > 0, np.exp(-exponent), 1.0)


def chernoff_tail(n: np.ndarray, observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Upper bound on P(mean >= observed) for the mean of n independent [0, 1] variables whose means average
    `expected` (Hoeffding 1963): exp(-n KL(observed || expected)); 1 when observed <= expected. Tight at the
    extremes, where it gives expected^n for a voter who picked the same way every time."""
    n = np.asarray(n, dtype=np.float64)
    q = np.clip(np.asarray(observed, dtype=np.float64), 0.0, 1.0)
    mu = np.clip(np.asarray(expected, dtype=np.float64), 1e-12, 1.0 - 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(q > 0, q * np.log(q / mu), 0.0) + np.where(q < 1, (1 - q) * np.log((1 - q) / (1 - mu)), 0.0)
    return np.where(q > mu, np.exp(-n * kl), 1.0)


@dataclass(frozen=True)
class VoteCells:
    """One row per (voter, model_a, model_b, outcome) cell with its count, y and p: what every test reads."""

    voter: np.ndarray
    model_a: np.ndarray
    model_b: np.ndarray
    score: np.ndarray
    margin: np.ndarray
    expected: np.ndarray
    count: np.ndarray
    n_voters: int
    n_models: int

    @classmethod
    def from_clustered(cls, clustered: ClusteredOutcomes, theta: np.ndarray) -> VoteCells:
        cells = clustered.cells
        theta = np.asarray(theta, dtype=np.float64)
        if theta.shape[-1] != cells.n_models or (theta.ndim == 2 and len(theta) != clustered.n_clusters):
            raise ValueError("theta must give one strength per model (per voter, if two-dimensional)")
        a, b, o = cells.model_a[clustered.cell], cells.model_b[clustered.cell], cells.outcome[clustered.cell]
        score = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))
        # One strength vector for everyone, or each voter's own: the ratings fitted without their votes.
        voter = np.asarray(clustered.cluster)
        margin = theta[a] - theta[b] if theta.ndim == 1 else theta[voter, a] - theta[voter, b]
        expected = 1.0 / (1.0 + np.exp(-margin))
        count = np.asarray(clustered.count, dtype=np.float64)
        return cls(voter, a, b, score, margin, expected, count, clustered.n_clusters, cells.n_models)

    def per_voter(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.voter, weights=values, minlength=self.n_voters)

    def votes(self) -> np.ndarray:
        return self.per_voter(self.count)


@dataclass(frozen=True)
class VoterFlags:
    """A rule's verdict per voter: `flagged` plus what it was decided on, so every flag can be explained."""

    flagged: np.ndarray
    n_votes: np.ndarray
    tested: np.ndarray
    p_bound: np.ndarray
    effect: np.ndarray
    threshold: float

    @property
    def n_tests(self) -> int:
        return int(self.tested.sum())


def _threshold(alpha: float, n_tests: int) -> float:
    return alpha / max(n_tests, 1)


def outlier_voters(
    cells: VoteCells,
    *,
    min_votes: int = DEFAULT_MIN_VOTES,
    alpha: float = DEFAULT_ALPHA,
    max_agreement: float = DEFAULT_MAX_AGREEMENT,
) -> VoterFlags:
    """Voters whose votes are improbable under the ratings (Chatbot Arena's anomalous users): the voter's
    log-likelihood falls below its expectation by more than chance allows, and their agreement with the
    ratings (observed over expected, 1 for a typical voter, 0 for a coin, < 0 for a contrarian) is at most
    `max_agreement`. `effect` is that agreement.

    The log-likelihood of a vote is y logit(p) + log(1 - p), linear in y, so its deviation from expectation is
    (y - p) logit(p), whatever the tie rate; each term is at most max(p, 1 - p) |logit(p)| below its mean.
    """
    logit = cells.margin  # logit(p) is the rating margin itself
    c = cells.count
    deficit = -cells.per_voter(c * (cells.score - cells.expected) * logit)
    variance = cells.per_voter(c * cells.expected * (1.0 - cells.expected) * logit**2)
    bound = np.zeros(cells.n_voters)
    np.maximum.at(bound, cells.voter, np.maximum(cells.expected, 1.0 - cells.expected) * np.abs(logit))
    observed = cells.per_voter(c * (cells.score - 0.5) * logit)
    predicted = cells.per_voter(c * (cells.expected - 0.5) * logit)
    with np.errstate(divide="ignore", invalid="ignore"):
        agreement = np.where(predicted > 0, observed / predicted, 1.0)
    n_votes = cells.votes()
    tested = n_votes >= min_votes
    p_bound = bernstein_tail(deficit, variance, bound)
    threshold = _threshold(alpha, int(tested.sum()))
    flagged = tested & (p_bound < threshold) & (agreement <= max_agreement)
    for voter in np.flatnonzero(flagged):
        flagged[voter] = not has_own_taste(cells, voter, alpha)
    return VoterFlags(flagged, n_votes, tested, p_bound, agreement, threshold)


def has_own_taste(cells: VoteCells, voter: int, alpha: float = DEFAULT_ALPHA) -> bool:
    """Whether a voter's votes follow a consistent ranking of their own: Bradley-Terry fitted to their votes
    alone beats a coin by a likelihood-ratio test at level `alpha` (chi-squared, one degree of freedom per
    model they saw but one). A voter who disagrees with the crowd but agrees with themselves has a taste, not
    a script; ties make the soft-outcome likelihood under-dispersed, so the ratio is scaled by the dispersion
    (never above 1), which only ever favours the voter."""
    rows = cells.voter == voter
    a, b, y, c = cells.model_a[rows], cells.model_b[rows], cells.score[rows], cells.count[rows]
    seen = np.unique(np.concatenate([a, b]))
    if len(seen) < 2:
        return False
    index = np.searchsorted(seen, a), np.searchsorted(seen, b)
    wins = np.zeros((len(seen), len(seen)))
    np.add.at(wins, index, c * y)
    np.add.at(wins, index[::-1], c * (1.0 - y))
    # One virtual tie per pair keeps a perfectly consistent voter's fit finite and a sparse one modest.
    theta = bt.fit(wins, alpha=1.0)
    p = np.clip(1.0 / (1.0 + np.exp(-(theta[index[0]] - theta[index[1]]))), 1e-12, 1 - 1e-12)
    gain = np.sum(c * (y * np.log(p) + (1.0 - y) * np.log1p(-p) - np.log(0.5)))
    dispersion = min(1.0, float(np.sum(c * (y - p) ** 2) / max(np.sum(c * p * (1.0 - p)), 1e-12)))
    return bool(2.0 * gain / max(dispersion, 1e-3) > stats.chi2.isf(alpha, len(seen) - 1))


def one_sided_by_position(
    cells: VoteCells, *, min_votes: int = DEFAULT_MIN_VOTES, alpha: float = DEFAULT_ALPHA,
    min_share: float = DEFAULT_MIN_SHARE,
) -> VoterFlags:  # fmt: skip
    """Voters who (nearly) always pick the same side: their share of picks for A (a tie half) is at least
    `min_share`, or at most 1 - `min_share`, and improbable under the ratings. Sides are randomised, so no
    taste makes an honest voter lopsided. `effect` is the share for side A. Two tests per voter."""
    c = cells.count
    n_votes = cells.votes()
    with np.errstate(divide="ignore", invalid="ignore"):
        share_a = np.where(n_votes > 0, cells.per_voter(c * cells.score) / n_votes, 0.5)
        expected_a = np.where(n_votes > 0, cells.per_voter(c * cells.expected) / n_votes, 0.5)
    tested = n_votes >= min_votes
    p_bound = np.minimum(
        chernoff_tail(n_votes, share_a, expected_a), chernoff_tail(n_votes, 1 - share_a, 1 - expected_a)
    )
    threshold = _threshold(alpha, 2 * int(tested.sum()))
    lopsided = (share_a >= min_share) | (share_a <= 1.0 - min_share)
    flagged = tested & (p_bound < threshold) & lopsided
    return VoterFlags(flagged, n_votes, tested, p_bound, share_a, threshold)


@dataclass(frozen=True)
class ModelFlags(VoterFlags):
    """As VoterFlags; `model` is, per voter, the model tested (the one a flag is about, else the most
    improbable)."""

    model: np.ndarray


def one_sided_by_model(
    cells: VoteCells, n_models: int, *, min_votes: int = DEFAULT_MIN_VOTES, alpha: float = DEFAULT_ALPHA,
    min_share: float = DEFAULT_MIN_SHARE, taste: float = DEFAULT_TASTE,
) -> ModelFlags:  # fmt: skip
    """Voters who (nearly) always pick the same model: in at least `min_votes` of their battles with one model,
    that model won at least `min_share` of the time (a tie half), which is improbable even for a voter who
    likes it `taste` logits more than the crowd does. So picking a strong model often is never flagged, nor
    is a strong liking; a script that always picks one model is. `n_votes` and `effect` are the battles with,
    and the win share of, that model. One test per voter and model with enough battles."""
    k = cells.voter * n_models
    shape = cells.n_voters * n_models
    c = cells.count
    liked_a = 1.0 / (1.0 + np.exp(-(cells.margin + taste)))
    liked_b = 1.0 / (1.0 + np.exp(-(-cells.margin + taste)))

    def per_pair(from_a: np.ndarray, from_b: np.ndarray) -> np.ndarray:
        # Each vote seen from model a (score y) and from model b (score 1 - y).
        return np.bincount(k + cells.model_a, from_a, minlength=shape) + np.bincount(
            k + cells.model_b, from_b, minlength=shape
        )

    battles = per_pair(c, c)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(battles > 0, per_pair(c * cells.score, c * (1.0 - cells.score)) / battles, 0.0)
        expected = np.where(battles > 0, per_pair(c * liked_a, c * liked_b) / battles, 0.5)
    tested = battles >= min_votes
    p_bound = np.where(tested, chernoff_tail(battles, share, expected), 1.0)
    threshold = _threshold(alpha, int(tested.sum()))
    pair_flagged = tested & (p_bound < threshold) & (share >= min_share)
    grid = (cells.n_voters, n_models)
    model = np.argmin(np.where(pair_flagged, p_bound - 2.0, p_bound).reshape(grid), axis=1)
    rows = np.arange(cells.n_voters)

    def pick(values: np.ndarray) -> np.ndarray:
        return values.reshape(grid)[rows, model]

    return ModelFlags(
        flagged=pair_flagged.reshape(grid).any(axis=1),
        n_votes=pick(battles),
        tested=tested.reshape(grid).any(axis=1),
        p_bound=pick(p_bound),
        effect=pick(share),
        threshold=threshold,
        model=model,
    )
