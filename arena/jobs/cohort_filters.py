"""Vote-quality filters that judge groups, not single identities: run by vote_filters inside its plan and apply.

A new identity costs little, so a script spreads its votes over many young identities, each too young for the
per-voter rules (which start at `min_votes`). Two rules look at networks (the keyed hash of the voter's /24 or
/48 that each vote row keeps) instead; the statistics are in ratings/cohort_quality.py:

- network_one_sided: a network whose votes, taken together, favour one model far beyond what the ratings or
  even a strong shared liking make probable. Its votes in battles with that model are excluded.
- young_cohort: the identities of a network too young for the per-voter rules that vote when a given model is
  on screen and leave the other battles (selective voting: possible only for someone who can tell the models
  apart before the vote, as a fixed reply bank allows). Their votes in battles with that model are excluded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Connection, case, func, or_, select
from sqlalchemy.orm import Session

from arena.models import Battle, Vote
from arena.voting.moderation import NETWORK_ONE_SIDED, YOUNG_COHORT
from ratings import cohort_quality as cq
from ratings import voter_quality as vq
from ratings.intervals import ClusteredOutcomes

COHORT_REASONS = (NETWORK_ONE_SIDED, YOUNG_COHORT)
_KEYS_PER_STATEMENT = 500


@dataclass(frozen=True)
class Cohort:
    """A group whose votes in battles with `model_id` are to be excluded: a whole network, or (`voters`) the
    young identities of one."""

    reason: str
    network: str
    model_id: int
    voters: tuple[str, ...] = ()


@dataclass
class CohortPlan:
    cohorts: list[Cohort] = field(default_factory=list)
    tests: dict[str, int] = field(default_factory=dict)
    details: list[dict] = field(default_factory=list)


def plan(connection: Connection, sized, *, min_votes: int, alpha: float, model_ids: list[int],
         theta: dict[str, np.ndarray]) -> CohortPlan:  # fmt: skip
    """`sized`: the judged votes that count after the daily cap, with `network`, `voter` and `voter_votes` (the
    voter's number of such votes) columns; `theta`: per network, the strengths fitted without its votes, in
    `model_ids` order."""
    result = CohortPlan()
    index = {m: k for k, m in enumerate(model_ids)}
    young = case((sized.c.voter_votes < min_votes, True), else_=False)
    cell = (sized.c.model_a_id, sized.c.model_b_id)
    # One pass over the votes for both rules: per network, young or not, model pair and outcome.
    rows = connection.execute(
        select(sized.c.network, young, *cell, sized.c.outcome, func.count())
        .where(sized.c.network.is_not(None))
        .group_by(sized.c.network, young, *cell, sized.c.outcome)
    ).all()
    rows = [r for r in rows if r[2] in index and r[3] in index]
    if rows:
        networks = [(network, a, b, outcome, n) for network, _, a, b, outcome, n in rows]
        _favouring(result, networks, index, model_ids, theta, min_votes=min_votes, alpha=alpha)
    young_votes = [(network, a, b, n) for network, is_young, a, b, _, n in rows if is_young]
    _selective(result, connection, sized, young_votes, index, model_ids, min_votes=min_votes, alpha=alpha)
    return result


def _favouring(result: CohortPlan, rows, index, model_ids, theta, *, min_votes: int, alpha: float) -> None:
    networks = sorted({r[0] for r in rows})
    own = np.stack([theta[network] for network in networks])
    cells = vq.VoteCells.from_clustered(ClusteredOutcomes.from_rows(rows, index), own)
    flags = vq.one_sided_by_model(cells, len(model_ids), min_votes=min_votes, alpha=alpha)
    result.tests["network_one_sided"] = flags.n_tests
    for k in np.flatnonzero(flags.flagged):
        model_id = model_ids[flags.model[k]]
        result.cohorts.append(Cohort(NETWORK_ONE_SIDED, networks[k], model_id))
        result.details.append({
            "network": networks[k], "reason": NETWORK_ONE_SIDED, "rule": "network_same_model", "model_id": model_id,
            "votes": int(flags.n_votes[k]), "p_bound": float(f"{flags.p_bound[k]:.3g}"),
            "share": round(float(flags.effect[k]), 4),
        })  # fmt: skip


def _selective(result: CohortPlan, connection, sized, voted_rows, index, model_ids, *, min_votes: int,
               alpha: float) -> None:  # fmt: skip
    young = sized.c.network.is_not(None) & (sized.c.voter_votes < min_votes)
    if not voted_rows:
        result.tests["young_cohort"] = 0
        return
    members = select(sized.c.network, sized.c.voter).where(young).distinct().subquery()
    shown_rows = connection.execute(
        select(members.c.network, Battle.model_a_id, Battle.model_b_id, func.count())
        .join(members, members.c.voter == Battle.judge_key)
        # Edit battles (a reply against its edit) never carry a counted vote: shown ones would look like skipped.
        .where(Battle.source.not_in(("import", "edit")))
        .group_by(members.c.network, Battle.model_a_id, Battle.model_b_id)
    ).all()
    networks = sorted({r[0] for r in voted_rows})
    row_of = {n: k for k, n in enumerate(networks)}
    shape = (len(networks), len(model_ids))
    voted, shown = np.zeros(len(networks)), np.zeros(len(networks))
    voted_with, shown_with = np.zeros(shape), np.zeros(shape)
    for rows, totals, per_model in ((voted_rows, voted, voted_with), (shown_rows, shown, shown_with)):
        for network, a, b, n in rows:
            if network not in row_of:
                continue
            totals[row_of[network]] += n
            for m in (a, b):
                if m in index:
                    per_model[row_of[network], index[m]] += n
    flags = cq.selective_voting(voted, voted_with, shown, shown_with, min_votes=min_votes, alpha=alpha)
    result.tests["young_cohort"] = flags.n_tests
    for k, m in zip(*np.nonzero(flags.flagged), strict=True):
        voters = connection.execute(
            select(members.c.voter).where(members.c.network == networks[k]).order_by(members.c.voter)
        ).scalars()
        cohort = Cohort(YOUNG_COHORT, networks[k], model_ids[m], tuple(voters))
        result.cohorts.append(cohort)
        result.details.append({
            "network": cohort.network, "reason": YOUNG_COHORT, "rule": "votes_when_on_screen",
            "model_id": cohort.model_id, "votes": int(voted[k]), "identities": len(cohort.voters),
            "p_bound": float(f"{flags.p_bound[k, m]:.3g}"), "share_voted": round(float(flags.share_voted[k, m]), 4),
            "share_shown": round(float(flags.share_shown[k, m]), 4),
        })  # fmt: skip


def exclude(session: Session, cohorts: list[Cohort], set_votes) -> dict[str, int]:
    """Write step: one UPDATE per cohort (and per chunk of its identities), through `set_votes(session, which,
    reason)`, which only ever takes votes that count and were never re-included."""
    excluded = dict.fromkeys(COHORT_REASONS, 0)
    for cohort in cohorts:
        which = [Vote.network_hash == cohort.network,
                 or_(Vote.model_a_id == cohort.model_id, Vote.model_b_id == cohort.model_id)]  # fmt: skip
        if not cohort.voters:
            excluded[cohort.reason] += set_votes(session, which, cohort.reason)
            continue
        for start in range(0, len(cohort.voters), _KEYS_PER_STATEMENT):
            chunk = cohort.voters[start : start + _KEYS_PER_STATEMENT]
            excluded[cohort.reason] += set_votes(session, [*which, Vote.voter_key.in_(chunk)], cohort.reason)
    return excluded
