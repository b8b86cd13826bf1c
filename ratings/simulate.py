"""Synthetic battles from known strengths, to check every rating method against the truth.

Outcomes follow the soft-tie model the fit assumes: the expected score of a battle (win 1, tie 1/2, loss 0)
is sigmoid(theta_a - theta_b). Ties take a share of the probability mass that is largest between close
models, as with human voters; a share of the ties is labelled both_bad.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings import bradley_terry as bt
from ratings import sampling
from ratings.covariates import CovariateBattles
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
    position_edge: float = 0.0,
) -> SyntheticBattles:
    """`n_battles` battles between uniformly drawn distinct pairs, sides random.

    tie_share: fraction of the tie-able mass 2*min(p, 1-p) that becomes a tie (0 = no ties).
    n_voters: voters are drawn uniformly for each battle (see `repeated` for correlated voters).
    position_edge: logits added to side A's margin in every battle (voters who favour the first reply).
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
    outcome = _draw_outcomes(theta[a] - theta[b] + position_edge, rng, tie_share, both_bad_share)
    return SyntheticBattles(theta=theta, model_a=a, model_b=b, outcome=outcome, voter=voter)


def _draw_outcomes(margin: np.ndarray, rng: np.random.Generator, tie_share: float, both_bad_share: float):
    n_battles = len(margin)
    p = 1.0 / (1.0 + np.exp(-margin))
    tie_mass = tie_share * 2.0 * np.minimum(p, 1.0 - p)
    u = rng.random(n_battles)
    outcome = np.where(
        u < p - tie_mass / 2, Outcome.A_WINS, np.where(u < p + tie_mass / 2, Outcome.TIE, Outcome.B_WINS)
    ).astype(np.int64)
    relabel = (outcome == Outcome.TIE) & (rng.random(n_battles) < both_bad_share)
    outcome[relabel] = Outcome.BOTH_BAD
    return outcome


def simulate_voters(
    theta: np.ndarray,
    votes_per_voter: np.ndarray,
    rng: np.random.Generator,
    *,
    taste_sd: float = 0.0,
    favourite_boost: float = 0.0,
    tie_share: float = 0.4,
    both_bad_share: float = 0.2,
) -> SyntheticBattles:
    """Honest voters with tastes of their own: voter v casts votes_per_voter[v] votes (uniform distinct pairs,
    sides random) by the soft-tie model on theta + their own taste, which is normal(0, taste_sd) per model
    plus `favourite_boost` for one favourite model drawn per voter. The crowd's strengths stay `theta`; a
    voter's taste is consistent across all their votes (what a quality filter must not mistake for abuse)."""
    theta = np.asarray(theta, dtype=np.float64)
    n = len(theta)
    if n < 2:
        raise ValueError("need at least two models")
    counts = np.asarray(votes_per_voter, dtype=np.int64)
    taste = rng.normal(0.0, taste_sd, (len(counts), n)) if taste_sd > 0 else np.zeros((len(counts), n))
    taste[np.arange(len(counts)), rng.integers(0, n, len(counts))] += favourite_boost
    voter = np.repeat(np.arange(len(counts)), counts)
    a = rng.integers(0, n, len(voter))
    b = rng.integers(0, n - 1, len(voter))
    b = b + (b >= a)
    own = theta[None, :] + taste
    outcome = _draw_outcomes(own[voter, a] - own[voter, b], rng, tie_share, both_bad_share)
    return SyntheticBattles(theta=theta, model_a=a, model_b=b, outcome=outcome, voter=voter)


def simulate_sessions(
    theta: np.ndarray,
    n_sessions: int,
    votes_per_session: int,
    rng: np.random.Generator,
    *,
    session_sd: float = 1.0,
    single_votes: int = 0,
    tie_share: float = 0.4,
    both_bad_share: float = 0.2,
) -> SyntheticBattles:
    """Evaluation sessions that share a session effect: each session perceives the models' strengths shifted by
    its own normal(0, session_sd) per model (a mood, a conversation that suits some models) and casts
    `votes_per_session` votes with it (uniform distinct pairs, sides random); `single_votes` more votes each have
    a shift of their own. `voter` is the session (-1 for a vote without one)."""
    counts = np.concatenate([np.full(n_sessions, votes_per_session), np.ones(single_votes, dtype=np.int64)])
    battles = simulate_voters(theta, counts, rng, taste_sd=session_sd, tie_share=tie_share,
                              both_bad_share=both_bad_share)  # fmt: skip
    voter = np.where(battles.voter < n_sessions, battles.voter, -1)
    return SyntheticBattles(battles.theta, battles.model_a, battles.model_b, battles.outcome, voter)


def session_rows(battles: SyntheticBattles) -> list[tuple[int, int, int, int, int]]:
    """(session, model a, model b, outcome, count) for the votes that have a session (voter >= 0): the rows a
    GROUP BY session would give, for `ClusteredOutcomes.from_sessions`."""
    has = battles.voter >= 0
    stacked = np.stack([battles.voter[has], battles.model_a[has], battles.model_b[has], battles.outcome[has]])
    (s, a, b, o), count = np.unique(stacked, axis=1, return_counts=True)
    return list(zip(s.tolist(), a.tolist(), b.tolist(), o.tolist(), count.tolist(), strict=True))


def population_strengths(theta: np.ndarray, shift_sd: float, nodes: int = 64) -> np.ndarray:
    """The strengths a Bradley-Terry fit of infinitely many votes converges to when each vote's perceived
    strengths are theta plus independent normal(0, shift_sd) per model and pairs are drawn uniformly: the truth
    an interval should cover. Averaging the sigmoid over the shifts flattens it, so these are theta shrunk a
    little toward zero (the same as theta for shift_sd = 0). Gauss-Hermite over the shift of the difference."""
    theta = np.asarray(theta, dtype=np.float64)
    x, w = np.polynomial.hermite_e.hermegauss(nodes)
    spread = np.sqrt(2.0) * shift_sd
    gap = theta[:, None] - theta[None, :]
    expected = (w[None, None, :] * _sigmoid(gap[..., None] + spread * x[None, None, :])).sum(-1) / w.sum()
    np.fill_diagonal(expected, 0.0)
    # Wins of i over j in a million battles per pair: the prior's virtual ties are negligible beside them.
    return bt.fit(1e6 * expected, bt.DEFAULT_ALPHA)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class SyntheticCovariateBattles:
    theta: np.ndarray
    beta: np.ndarray
    battles: CovariateBattles


def simulate_covariates(
    theta: np.ndarray,
    beta: np.ndarray,
    n_battles: int,
    rng: np.random.Generator,
    *,
    names: tuple[str, ...] | None = None,
    feature_sd: np.ndarray | None = None,
    tie_share: float = 0.4,
    style: np.ndarray | None = None,
) -> SyntheticCovariateBattles:
    """`n_battles` battles (uniform distinct pairs, sides random) whose expected score is
    sigmoid(theta_a - theta_b + beta . x), with ties drawn as in `simulate` (scores 1, 0.5, 0).

    Features: x = style[a] - style[b] + normal(0, feature_sd) per row and column. `style` (n_models, k) is each
    model's habit, e.g. how much longer than average its replies run: it makes the features of a battle depend
    on who fought it, which is what confounds a plain BT fit. With style None (the default) the features are
    pure per-battle noise, independent of the models.
    """
    theta = np.asarray(theta, dtype=np.float64)
    beta = np.asarray(beta, dtype=np.float64)
    n, k = len(theta), len(beta)
    if n < 2:
        raise ValueError("need at least two models")
    if not 0 <= tie_share <= 1:
        raise ValueError("tie_share is a fraction")
    names = tuple(f"x{j}" for j in range(k)) if names is None else tuple(names)
    sd = np.ones(k) if feature_sd is None else np.broadcast_to(np.asarray(feature_sd, dtype=np.float64), (k,))
    style = np.zeros((n, k)) if style is None else np.asarray(style, dtype=np.float64)
    if style.shape != (n, k):
        raise ValueError("style must be (n_models, k)")
    a = rng.integers(0, n, n_battles)
    b = rng.integers(0, n - 1, n_battles)
    b = b + (b >= a)
    features = style[a] - style[b] + rng.normal(0.0, 1.0, (n_battles, k)) * sd
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b] + features @ beta)))
    tie_mass = tie_share * 2.0 * np.minimum(p, 1.0 - p)
    u = rng.random(n_battles)
    score = np.where(u < p - tie_mass / 2, 1.0, np.where(u < p + tie_mass / 2, 0.5, 0.0))
    battles = CovariateBattles(n, a, b, score, features, names)
    return SyntheticCovariateBattles(theta=theta, beta=beta, battles=battles)


@dataclass(frozen=True)
class SyntheticBoards:
    """Votes on several boards (emotion groups) whose strengths differ: board g has theta + delta_g."""

    theta: np.ndarray  # (n,) the shared strengths
    board_theta: np.ndarray  # (boards, n) each board's true strengths, mean zero
    boards: tuple[SyntheticBattles, ...]

    def aggregate(self) -> tuple[PairOutcomes, list[PairOutcomes]]:
        """The overall counts (every board's battles) and each board's."""
        per_board = [b.aggregate() for b in self.boards]
        n = len(self.theta)
        overall = PairOutcomes(
            n,
            np.concatenate([o.model_a for o in per_board]),
            np.concatenate([o.model_b for o in per_board]),
            np.concatenate([o.outcome for o in per_board]),
            np.concatenate([o.count for o in per_board]),
        )
        return overall, per_board


def simulate_boards(
    theta: np.ndarray, tau: float, battles_per_board, rng: np.random.Generator, **kwargs
) -> SyntheticBoards:
    """One board per entry of battles_per_board, board g's strengths theta + normal(0, tau) per model (centred),
    its battles drawn by `simulate` on them."""
    theta = np.asarray(theta, dtype=np.float64)
    deltas = rng.normal(0.0, tau, (len(battles_per_board), len(theta)))
    board_theta = theta + deltas
    board_theta -= board_theta.mean(axis=1, keepdims=True)
    boards = tuple(simulate(t, int(k), rng, **kwargs) for t, k in zip(board_theta, battles_per_board, strict=True))
    return SyntheticBoards(theta=theta, board_theta=board_theta, boards=boards)


def simulate_davidson(theta: np.ndarray, nu: float, n_battles: int, rng: np.random.Generator) -> SyntheticBattles:
    """Battles (uniform distinct pairs, sides random) from Davidson's tie model: P(a wins) : P(tie) : P(b wins)
    = pi_a : nu sqrt(pi_a pi_b) : pi_b, with pi = exp(theta)."""
    theta = np.asarray(theta, dtype=np.float64)
    n = len(theta)
    a = rng.integers(0, n, n_battles)
    b = rng.integers(0, n - 1, n_battles)
    b = b + (b >= a)
    half = 0.5 * (theta[a] - theta[b])
    weights = np.stack([np.exp(half), np.full(n_battles, nu), np.exp(-half)], axis=1)
    cumulative = np.cumsum(weights / weights.sum(axis=1, keepdims=True), axis=1)
    pick = (rng.random(n_battles)[:, None] > cumulative[:, :2]).sum(axis=1)
    outcome = np.array([Outcome.A_WINS, Outcome.TIE, Outcome.B_WINS], dtype=np.int64)[pick]
    return SyntheticBattles(theta=theta, model_a=a, model_b=b, outcome=outcome, voter=rng.integers(0, 1000, n_battles))


@dataclass(frozen=True)
class SamplingRun:
    """A simulated arena run under one pairing policy, stopped when the intervals were narrow enough."""

    votes: int
    mean_half_width: float  # Elo points, 95%
    covered: float  # share of models whose interval holds the truth
    theta: np.ndarray  # fitted
    probability: np.ndarray  # per battle, the probability its pair was drawn with
    battles: SyntheticBattles


def simulate_sampling(
    theta: np.ndarray,
    policy: str,
    rng: np.random.Generator,
    *,
    batch: int = 250,
    target_half_width: float = 25.0,
    max_votes: int = 500_000,
    alpha: float = 0.01,
    floor: float = sampling.DEFAULT_FLOOR,
    tie_share: float = 0.4,
    earlier: SyntheticBattles | None = None,
) -> SamplingRun:
    """Votes in batches; after each, refit and (for policy "active") recompute the pair weights from the fit, as
    the recompute job does from each snapshot (same plan horizon, `sampling.planned_votes`); stop once the mean 95%
    half-width is at most the target.
    `earlier`: votes already cast before the run (e.g. on the models an arena had before new ones arrived); they
    count toward the intervals, not toward the run's votes."""
    if policy not in ("uniform", "active"):
        raise ValueError("policy must be uniform or active")
    theta = np.asarray(theta, dtype=np.float64)
    n = len(theta)
    i_all, j_all = np.triu_indices(n, 1)
    weights = np.full(len(i_all), 1.0 / len(i_all))
    parts: list[tuple[np.ndarray, ...]] = []
    if earlier is not None:
        parts.append((earlier.model_a, earlier.model_b, earlier.outcome, np.full(len(earlier.outcome), np.nan)))
    votes = 0
    if earlier is not None and len(earlier.outcome):
        outcomes = SyntheticBattles(theta, earlier.model_a, earlier.model_b, earlier.outcome, earlier.voter).aggregate()
        fitted = bt.fit(outcomes.win_matrix(), alpha)
        if policy == "active":
            known = sampling.information(fitted, outcomes.battle_matrix(), alpha)
            ahead = sampling.planned_votes(outcomes.total)
            weights = sampling.pair_weights(fitted, known, ahead, floor=floor).probability
    while True:
        pick = rng.choice(len(i_all), size=batch, p=weights)
        swap = rng.random(batch) < 0.5
        a = np.where(swap, j_all[pick], i_all[pick])
        b = np.where(swap, i_all[pick], j_all[pick])
        outcome = _draw_outcomes(theta[a] - theta[b], rng, tie_share, 0.2)
        parts.append((a, b, outcome, weights[pick]))
        votes += batch
        model_a = np.concatenate([p[0] for p in parts])
        battles = SyntheticBattles(
            theta=theta,
            model_a=model_a,
            model_b=np.concatenate([p[1] for p in parts]),
            outcome=np.concatenate([p[2] for p in parts]),
            voter=np.zeros(len(model_a), dtype=np.int64),
        )
        outcomes = battles.aggregate()
        fitted = bt.fit(outcomes.win_matrix(), alpha)
        known = sampling.information(fitted, outcomes.battle_matrix(), alpha)
        covariance = sampling.covariance(known)
        half = bt.ELO_SCALE * 1.959963984540054 * np.sqrt(np.maximum(np.diag(covariance), 0.0))
        if half.mean() <= target_half_width or votes >= max_votes:
            error = np.abs(bt.to_elo(fitted) - bt.to_elo(theta))
            return SamplingRun(
                votes=votes,
                mean_half_width=float(half.mean()),
                covered=float(np.mean(error <= half)),
                theta=fitted,
                probability=np.concatenate([p[3] for p in parts])[-votes:],
                battles=battles,
            )
        if policy == "active":
            ahead = sampling.planned_votes(outcomes.total)
            weights = sampling.pair_weights(fitted, known, ahead, floor=floor).probability


@dataclass(frozen=True)
class MediatedArena:
    """Battles where EQ acts on the vote partly through whether each reply made the voter feel heard."""

    battles: CovariateBattles  # features: eq difference (A - B) and the side shown first
    heard_a: np.ndarray  # 0/1 per battle: the voter tagged A "felt heard"
    heard_b: np.ndarray
    eq_a: np.ndarray
    eq_b: np.ndarray
    voter: np.ndarray


def simulate_mediation(
    n_battles: int,
    rng: np.random.Generator,
    *,
    n_models: int = 6,
    direct: float = 0.15,
    heard_effect: float = 1.2,
    heard_slope: float = 1.0,
    battles_per_voter: int = 10,
) -> MediatedArena:
    """A side feels heard with chance sigmoid(heard_slope * (eq - 6) - 0.5); A wins (no ties) with chance
    sigmoid(theta_a - theta_b + direct * (eq_a - eq_b) + heard_effect * (heard_a - heard_b) + 0.1). The models'
    replies differ in EQ on average (offsets of +-1), as real models do."""
    theta = true_strengths(n_models, rng, spread=0.5)
    offset = np.linspace(-1.0, 1.0, n_models)
    a = rng.integers(0, n_models, n_battles)
    b = (a + rng.integers(1, n_models, n_battles)) % n_models
    eq_a, eq_b = 6 + offset[a] + rng.normal(0, 1.5, n_battles), 6 + offset[b] + rng.normal(0, 1.5, n_battles)
    heard_a = (rng.random(n_battles) < _sigmoid(heard_slope * (eq_a - 6) - 0.5)).astype(np.float64)
    heard_b = (rng.random(n_battles) < _sigmoid(heard_slope * (eq_b - 6) - 0.5)).astype(np.float64)
    margin = theta[a] - theta[b] + direct * (eq_a - eq_b) + heard_effect * (heard_a - heard_b) + 0.1
    score = (rng.random(n_battles) < _sigmoid(margin)).astype(np.float64)
    features = np.column_stack([eq_a - eq_b, np.ones(n_battles)])
    battles = CovariateBattles(n_models, a, b, score, features, ("eq_overall", "position_a"))
    voter = np.arange(n_battles) // battles_per_voter
    return MediatedArena(battles, heard_a, heard_b, eq_a, eq_b, voter)
