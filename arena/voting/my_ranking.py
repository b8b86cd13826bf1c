"""A visitor's own leaderboard: a Bradley-Terry fit on their votes alone, shrunk toward the crowd's ratings.

Computed from the visitor's votes on every request and never stored, so deleting their votes (privacy) deletes it
too. Pure Python on purpose: it runs on the web path, which never imports numpy, scipy or choix, and it fits at
most a few dozen models, where a handful of Newton steps on a small dense system cost well under a millisecond.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from arena.models import Battle, Model, Vote

# The ranking appears after this many votes; fewer than that and it would mostly repeat the crowd's.
MIN_VOTES = 10
# The prior's standard deviation, in logits (1 logit = 174 Elo points). Wide enough that a visitor whose taste
# really differs can move a model by a couple of logits (a 50% winning chance becoming 88%) once their votes
# say so consistently; narrow enough that one vote (worth 0.25 of a logit^-2 of information at even odds)
# cannot flip two models the crowd tells clearly apart. Ten votes spread over six models give each model
# about as much information from the visitor as from the prior, so the order is half theirs, half the crowd's.
PRIOR_SD = 1.0
ELO_BASE = 1000.0
ELO_PER_LOGIT = 400 / math.log(10)
# Newton stops when no rating moves by more than this (logits): far below what the page shows (1 point).
TOLERANCE = 1e-9
MAX_STEPS = 50

# Half a win each way, like the engine: a tie says the two are equally good; so does "both bad".
_SCORE_A = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "both_bad": 0.5}


@dataclass(frozen=True)
class CrowdRating:
    slug: str
    name: str
    rating: float  # Elo scale, as the leaderboard shows it


@dataclass(frozen=True)
class PersonalRow:
    slug: str
    name: str
    rating: float  # Elo scale
    battles: int  # this visitor's votes on battles with this model


@dataclass(frozen=True)
class Agreement:
    """Kendall's tau between the visitor's order and the crowd's, over the models both rank and the visitor has
    judged (models only the prior placed would agree by construction)."""

    models: int
    pairs: int
    same: int  # pairs ordered the same way
    opposite: int  # pairs ordered the other way (ties in either order are neither)

    @property
    def tau(self) -> float | None:
        return (self.same - self.opposite) / self.pairs if self.pairs else None


@dataclass(frozen=True)
class PersonalRanking:
    votes: int
    rows: list[PersonalRow]  # best first
    agreement: Agreement | None


# Built once, its key bound per call: the reveal counts on every vote, and building and compiling the statement
# cost more than SQLite took to run it.
_COUNT_OWN = (
    select(func.count(Vote.id))
    .join(Battle, Battle.id == Vote.battle_id)
    .where(Battle.judge_key == bindparam("key"), Vote.voter_key == bindparam("key"))
)


def count_own_votes(session: Session, visitor_key: str) -> int:
    """The visitor's votes: `_own_votes`, counted."""
    return session.connection().execute(_COUNT_OWN, {"key": visitor_key}).scalar_one()


def has_enough_votes(session: Session, visitor_key: str) -> bool:
    """Whether the visitor has MIN_VOTES votes, counting no further than that (the reveal asks on every vote)."""
    first = _own_votes(visitor_key, Vote.id).limit(MIN_VOTES).subquery()
    return session.scalar(select(func.count()).select_from(first)) >= MIN_VOTES


def _own_votes(visitor_key: str, *columns):
    # Both keys, so the ranking reads exactly what privacy deletion removes (the votes on battles shown to the key).
    return (
        select(*columns)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Battle.judge_key == visitor_key, Vote.voter_key == visitor_key)
    )


@dataclass
class _OwnGames:
    games: dict[tuple[str, str], list[float]]  # (slug_i, slug_j) -> [wins of i, wins of j], ties half
    battles: dict[str, int]
    names: dict[str, str]
    votes: int = 0


def _own_games(session: Session, visitor_key: str) -> _OwnGames:
    counts = session.execute(
        _own_votes(visitor_key, Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count())
        # A reply against its own edit (one model on both sides) says nothing of the visitor's taste in models.
        .where(Vote.model_a_id != Vote.model_b_id)
        .group_by(Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    ).all()
    ids = {m for a, b, _, _ in counts for m in (a, b)}
    models = session.execute(select(Model.id, Model.slug, Model.display_name).where(Model.id.in_(ids))) if ids else []
    slugs, names = {}, {}
    for model_id, slug, name in models:
        slugs[model_id], names[slug] = slug, name
    own = _OwnGames(games=defaultdict(lambda: [0.0, 0.0]), battles=defaultdict(int), names=names)
    for a, b, outcome, n in counts:
        pair = own.games[(slugs[a], slugs[b])]
        pair[0] += n * _SCORE_A[outcome]
        pair[1] += n * (1 - _SCORE_A[outcome])
        own.battles[slugs[a]] += n
        own.battles[slugs[b]] += n
        own.votes += n
    return own


def personal_ranking(session: Session, visitor_key: str, crowd: list[CrowdRating]) -> PersonalRanking:
    """The visitor's ranking of every model on the crowd's board plus any other model they voted on."""
    own = _own_games(session, visitor_key)
    names = {c.slug: c.name for c in crowd} | own.names
    crowd_theta = {c.slug: (c.rating - ELO_BASE) / ELO_PER_LOGIT for c in crowd}
    # A model the crowd has not rated yet starts level with the crowd's average model.
    centre = sum(crowd_theta.values()) / len(crowd_theta) if crowd_theta else 0.0
    prior = {slug: crowd_theta.get(slug, centre) for slug in names}
    theta = map_bradley_terry(prior, {pair: (wins[0], wins[1]) for pair, wins in own.games.items()})
    ranked = sorted(names, key=lambda slug: (-theta[slug], slug))
    return PersonalRanking(
        votes=own.votes,
        rows=[PersonalRow(s, names[s], ELO_BASE + ELO_PER_LOGIT * theta[s], own.battles.get(s, 0)) for s in ranked],
        agreement=agreement(theta, crowd_theta, judged=set(own.battles)) if crowd_theta else None,
    )


def map_bradley_terry(
    prior: dict[str, float], games: dict[tuple[str, str], tuple[float, float]], sd: float = PRIOR_SD
) -> dict[str, float]:
    """The posterior mode of Bradley-Terry strengths (logits) under independent Gaussian priors N(prior[m], sd^2).

    `games[(i, j)] = (wins of i, wins of j)` (ties counted half each way). The log posterior is strictly concave,
    so Newton's method with step halving converges to the single maximum. Models in no game keep their prior."""
    played = sorted({m for pair in games for m in pair})
    theta = dict(prior)
    if not played:
        return theta
    index = {m: k for k, m in enumerate(played)}
    precision = 1 / sd**2
    pairs = [(index[i], index[j], wi, wj) for (i, j), (wi, wj) in games.items() if wi + wj > 0]
    mean = [prior[m] for m in played]
    x = list(mean)
    current = _log_posterior(x, mean, pairs, precision)
    for _ in range(MAX_STEPS):
        gradient = [-(x[k] - mean[k]) * precision for k in range(len(x))]
        # The negative Hessian: the prior's precision on the diagonal plus the games' weighted graph Laplacian.
        hessian = [[precision if r == c else 0.0 for c in range(len(x))] for r in range(len(x))]
        for i, j, wi, wj in pairs:
            p = _sigmoid(x[i] - x[j])
            g = wi - (wi + wj) * p
            gradient[i] += g
            gradient[j] -= g
            w = (wi + wj) * p * (1 - p)
            hessian[i][i] += w
            hessian[j][j] += w
            hessian[i][j] -= w
            hessian[j][i] -= w
        step = _solve_positive_definite(hessian, gradient)
        # Halve the step until it does not lower the posterior (a full step can overshoot far from the mode);
        # none that helps means rounding error at the mode itself.
        scale = 1.0
        while scale > 1e-6:
            trial = [x[k] + scale * step[k] for k in range(len(x))]
            value = _log_posterior(trial, mean, pairs, precision)
            if value >= current:
                x, current = trial, value
                break
            scale /= 2
        if scale <= 1e-6 or max(abs(scale * s) for s in step) < TOLERANCE:
            break
    theta.update(zip(played, x, strict=True))
    return theta


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def _log_sigmoid(z: float) -> float:
    return -math.log1p(math.exp(-z)) if z >= 0 else z - math.log1p(math.exp(z))


def _log_posterior(x, mean, pairs, precision) -> float:
    value = -0.5 * precision * sum((a - m) ** 2 for a, m in zip(x, mean, strict=True))
    for i, j, wi, wj in pairs:
        value += wi * _log_sigmoid(x[i] - x[j]) + wj * _log_sigmoid(x[j] - x[i])
    return value


def _solve_positive_definite(matrix: list[list[float]], rhs: list[float]) -> list[float]:
    """Cholesky: the matrix is the prior's precision plus a Laplacian, so symmetric positive definite."""
    n = len(rhs)
    lower = [[0.0] * n for _ in range(n)]
    for r in range(n):
        for c in range(r + 1):
            s = matrix[r][c] - sum(lower[r][k] * lower[c][k] for k in range(c))
            lower[r][c] = math.sqrt(s) if r == c else s / lower[c][c]
    y = [0.0] * n
    for r in range(n):
        y[r] = (rhs[r] - sum(lower[r][k] * y[k] for k in range(r))) / lower[r][r]
    x = [0.0] * n
    for r in reversed(range(n)):
        x[r] = (y[r] - sum(lower[k][r] * x[k] for k in range(r + 1, n))) / lower[r][r]
    return x


def agreement(yours: dict[str, float], crowd: dict[str, float], judged: set[str]) -> Agreement:
    models = sorted(m for m in judged if m in crowd)
    same = opposite = pairs = 0
    for k, a in enumerate(models):
        for b in models[k + 1 :]:
            pairs += 1
            product = (yours[a] - yours[b]) * (crowd[a] - crowd[b])
            same += product > 0
            opposite += product < 0
    return Agreement(models=len(models), pairs=pairs, same=same, opposite=opposite)
