"""The reasons voters gave (arena/voting/reasons.py), for the study: per model, the share of its sides tagged with
each reason, with 95% Wilson intervals (stored in each recompute's summary as `reasons`, served at /api/reasons),
and how much of the EQ effect runs through "felt heard" (the analysis's `mediation`, by ratings.mediation).

Only counted votes whose voter tapped at least one reason enter: a vote without any is a question not answered,
not seven answers of "no". Reasons never add battles and never touch a board."""

from __future__ import annotations

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from arena.models import VOTE_REASONS, Model, Vote, VoteReason
from ratings.covariates import POSITION, CovariateBattles
from ratings.mediation import difference_mediation
from ratings.ties import wilson

MEDIATOR = "felt_heard"
# Bootstrap rounds of the mediation (each refits two models) and the fewest battles it is tried on.
MEDIATION_ROUNDS = 200
MIN_MEDIATION_BATTLES = 50
DENOMINATOR = (
    "sides of the model in counted votes whose voter tapped at least one reason (for either reply); a vote "
    "without any reason is left out, not read as 'no'"
)


def _answered():
    return select(VoteReason.vote_id).distinct()


def rates(session: Session) -> dict | None:
    """The run summary's `reasons`: per model and reason, tagged sides over answered sides with a Wilson interval;
    None when no counted vote carries a reason. Three GROUP BY reads."""
    counted = Vote.counts_for_leaderboard.is_(True)
    answered = Vote.id.in_(_answered())
    sides: dict[int, int] = {}
    for column in (Vote.model_a_id, Vote.model_b_id):
        for model_id, n in session.execute(select(column, func.count()).where(counted, answered).group_by(column)):
            sides[model_id] = sides.get(model_id, 0) + n
    if not sides:
        return None
    votes = session.scalar(select(func.count()).select_from(Vote).where(counted, answered))
    side_model = case((VoteReason.side == "a", Vote.model_a_id), else_=Vote.model_b_id)
    tagged: dict[tuple[int, str], int] = {
        (model_id, reason): n
        for model_id, reason, n in session.execute(
            select(side_model, VoteReason.reason, func.count())
            .join(Vote, Vote.id == VoteReason.vote_id)
            .where(counted)
            .group_by(side_model, VoteReason.reason)
        )
    }
    slugs = dict(session.execute(select(Model.id, Model.slug).where(Model.id.in_(list(sides)))).all())
    models = []
    for model_id in sorted(sides, key=lambda m: slugs[m]):
        counts = np.array([tagged.get((model_id, r), 0) for r in VOTE_REASONS], dtype=np.float64)
        share, low, high = wilson(counts, np.full(len(VOTE_REASONS), float(sides[model_id])))
        models.append({
            "model": slugs[model_id],
            "sides": sides[model_id],
            "rates": {r: {"tagged": int(counts[k]), "share": round(float(share[k]), 6),
                          "ci_low": round(float(low[k]), 6), "ci_high": round(float(high[k]), 6)}
                      for k, r in enumerate(VOTE_REASONS)},
        })  # fmt: skip
    return {"votes_with_reasons": int(votes), "reasons": list(VOTE_REASONS), "denominator": DENOMINATOR,
            "models": models}  # fmt: skip


def mediator_by_battle(session: Session, reason: str = MEDIATOR) -> dict[int, float]:
    """Battle id -> the mediator's difference (1 if only A was tagged `reason`, -1 only B, 0 neither or both), for
    every counted vote with at least one reason."""
    out: dict[int, float] = {}
    rows = session.execute(
        select(Vote.battle_id, VoteReason.side, VoteReason.reason)
        .join(VoteReason, VoteReason.vote_id == Vote.id)
        .where(Vote.counts_for_leaderboard.is_(True))
    )
    for battle_id, side, tag in rows:
        out.setdefault(battle_id, 0.0)
        if tag == reason:
            out[battle_id] += 1.0 if side == "a" else -1.0
    return out


def mediation(table, n_models: int, mediator: dict[int, float], *, seed: int, rounds: int = MEDIATION_ROUNDS) -> dict:
    """How much of the EQ effect runs through "felt heard", on the battles with EQ scores on both sides and some
    reason: BT with the EQ difference and the side shown first, with and without the felt-heard difference.
    `table` is arena.jobs.analysis.BattleTable. Always a dict: the numbers, or `reason` why there are none."""
    ids = table.battle_id if table.battle_id is not None else np.zeros(0, dtype=np.int64)
    m = np.array([mediator.get(int(b), np.nan) for b in ids], dtype=np.float64)
    rows = np.isfinite(m) & np.isfinite(table.eq_a) & np.isfinite(table.eq_b)
    out = {"mediator": MEDIATOR, "exposure": "eq_overall", "n_battles": int(rows.sum()), "method": "difference",
           "covariates": ["eq_overall", POSITION]}  # fmt: skip
    if rows.sum() < MIN_MEDIATION_BATTLES:
        return {**out, "reason": f"needs {MIN_MEDIATION_BATTLES} counted votes with reasons and EQ scores on both "
                                 f"replies; there are {int(rows.sum())}"}  # fmt: skip
    if np.ptp(m[rows]) == 0:
        return {**out, "reason": "no voter said one reply made them feel heard and the other did not"}
    eq = (table.eq_a - table.eq_b)[rows]
    battles = CovariateBattles(n_models, table.model_a[rows], table.model_b[rows], table.score[rows],
                               np.column_stack([eq, np.ones(len(eq))]), ("eq_overall", POSITION))  # fmt: skip
    try:
        found = difference_mediation(battles, "eq_overall", m[rows], MEDIATOR, cluster=table.voter[rows],
                                     rounds=rounds, rng=np.random.default_rng(seed))  # fmt: skip
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as exc:
        return {**out, "reason": f"the fits failed: {exc}"}
    return {**out, **found.as_dict(), "reason": None}
