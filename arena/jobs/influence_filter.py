"""The influence rule and the leave-one-out ratings every vote filter judges against (ratings/influence.py has the
statistics). Run by vote_filters inside its plan and apply.

The counted votes cast here are read once per (voter, network, cell) and grouped three ways: by voter, by
network (the keyed /24 or /48), and the young identities of each network (fewer votes than the per-voter rules
need). For each group:

- its leave-one-out ratings: what the other votes say, which the per-voter and network rules test it against,
  so an attack never sets its own expectation;
- its influence: how far its votes move each model's rating beyond what votes like the others' would by chance,
  on the overall board. A group whose influence is improbable (a test whose power grows with its volume, whether
  or not its votes touch the model they help) and larger than the cap has its most pushing votes set aside,
  latest first, until it is within the cap: the reason `influence`, which the admin page explains and can undo.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.models import Battle, Vote
from arena.voting.moderation import INFLUENCE, reincluded_by_admin
from ratings import influence
from ratings.outcomes import OUTCOME_CODES, Outcome

FAMILIES = ("network", "young_cohort", "voter")
MAX_DETAILS = 200


@dataclass(frozen=True)
class SetAside:
    """`count` of a voter's latest counted votes from `network` in one cell, to set aside."""

    voter: str
    network: str | None
    model_a_id: int
    model_b_id: int
    outcome: str
    count: int


@dataclass
class CountedRows:
    """The counted votes as rows per (voter, network, cell); unjudged votes (imported) as rows with no voter,
    which count toward every fit and belong to no group."""

    model_ids: list[int]
    voters: list[str]
    networks: list[str]
    voter: np.ndarray  # row -> index into voters, -1 for none
    network: np.ndarray  # row -> index into networks, -1 for none
    young: np.ndarray  # row's voter has fewer votes than the per-voter rules need
    keys: list[tuple]  # (voter, network, model_a_id, model_b_id, outcome) per row
    votes: influence.GroupedVotes

    @classmethod
    def build(cls, judged_rows, unjudged_rows, model_ids: list[int], *, min_votes: int, both_bad: str):
        """judged_rows: (voter, network, model_a_id, model_b_id, outcome, count); unjudged_rows: the same without
        voter and network."""
        index = {m: k for k, m in enumerate(model_ids)}
        judged = [r for r in judged_rows if r[2] in index and r[3] in index]
        rows = judged + [(None, None, *r) for r in unjudged_rows if r[0] in index and r[1] in index]
        voters = sorted({r[0] for r in judged})
        networks = sorted({r[1] for r in judged if r[1] is not None})
        voter_of, network_of = {v: k for k, v in enumerate(voters)}, {n: k for k, n in enumerate(networks)}
        voter = np.array([voter_of.get(r[0], -1) for r in rows], dtype=np.int64)
        network = np.array([network_of.get(r[1], -1) for r in rows], dtype=np.int64)
        count = np.array([r[5] for r in rows], dtype=np.float64)
        per_voter = np.bincount(voter[voter >= 0], weights=count[voter >= 0], minlength=len(voters))
        young = (voter >= 0) & (per_voter[np.maximum(voter, 0)] < min_votes)
        outcome = np.array([OUTCOME_CODES[r[4]] for r in rows], dtype=np.int64)
        score = np.where(outcome == Outcome.A_WINS, 1.0, np.where(outcome == Outcome.B_WINS, 0.0, 0.5))
        fit = ~((outcome == Outcome.BOTH_BAD) & (both_bad == "drop"))
        grouped = influence.GroupedVotes(
            len(model_ids),
            np.array([index[r[2]] for r in rows], dtype=np.int64),
            np.array([index[r[3]] for r in rows], dtype=np.int64),
            score, count, fit, voter,
        )  # fmt: skip
        keys = [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
        return cls(model_ids, voters, networks, voter, network, young, keys, grouped)

    def family(self, name: str) -> influence.GroupFamily:
        if name == "voter":
            return influence.GroupFamily(name, self.voter, len(self.voters))
        if name == "network":
            return influence.GroupFamily(name, self.network, len(self.networks))
        return influence.GroupFamily(name, np.where(self.young, self.network, -1), len(self.networks))

    def group_name(self, family: str, group: int) -> str:
        return self.voters[group] if family == "voter" else self.networks[group]

    def without(self, drop: np.ndarray) -> CountedRows:
        """The same rows with the `drop` ones counted as zero (excluded by an earlier rule)."""
        v = self.votes
        kept = influence.GroupedVotes(v.n_models, v.model_a, v.model_b, v.score, np.where(drop, 0.0, v.count), v.fit,
                                      v.voter)  # fmt: skip
        return CountedRows(self.model_ids, self.voters, self.networks, self.voter, self.network, self.young,
                           self.keys, kept)  # fmt: skip


def leave_out_strengths(counted: CountedRows, family: str, *, prior: float) -> dict[str, np.ndarray]:
    """Per voter or network, the strengths (in `model_ids` order) fitted without its votes."""
    groups = counted.voters if family == "voter" else counted.networks
    if not groups:
        return {}
    fits = influence.leave_out_fits(counted.votes, counted.family(family), prior=prior)
    return dict(zip(groups, fits, strict=True))


@dataclass
class InfluencePlan:
    set_aside: list[SetAside] = field(default_factory=list)
    tests: dict[str, int] = field(default_factory=dict)
    details: list[dict] = field(default_factory=list)
    groups: int = 0
    # Per family, the largest influence any group had on a model, before and after the bounds.
    measured: dict[str, dict] = field(default_factory=dict)


def plan(counted: CountedRows, *, prior: float, alpha: float) -> InfluencePlan:
    """Which votes to set aside so that no voter, young cohort or network moves the overall board beyond the cap."""
    result = InfluencePlan()
    if not counted.voters or counted.votes.n_models < 2:
        return result
    families = [counted.family(name) for name in FAMILIES]
    bounded = influence.bound_influence(counted.votes, families, prior=prior, alpha=alpha)
    result.tests = {f"influence_{name}": n for name, n in bounded.tests.items()}
    result.groups = len(bounded.verdicts)
    for name, largest in bounded.largest_before.items():
        after = bounded.largest_after[name]
        result.measured[name] = {
            "before": _largest(counted, name, largest), "after": _largest(counted, name, after),
        }  # fmt: skip
    for row in np.flatnonzero(bounded.removed > 0):
        voter, network, a, b, outcome = counted.keys[row]
        result.set_aside.append(SetAside(voter, network, a, b, outcome, int(round(bounded.removed[row]))))
    for verdict in bounded.verdicts[:MAX_DETAILS]:
        result.details.append({
            verdict.family: counted.group_name(verdict.family, verdict.group), "board": "overall", "reason": INFLUENCE,
            "rule": f"{verdict.family}_influence", "model_id": counted.model_ids[verdict.model],
            "votes": int(verdict.votes), "z": round(verdict.z, 2), "shift_points": round(verdict.shift, 1),
            "p_bound": float(f"{verdict.p_bound:.3g}"), "set_aside": int(round(verdict.set_aside)),
        })  # fmt: skip
    return result


def _largest(counted: CountedRows, family: str, largest: influence.Largest) -> dict:
    return {
        family: counted.group_name(family, largest.group), "model_id": counted.model_ids[largest.model],
        "shift_points": round(largest.shift, 1), "z": round(largest.z, 2),
    }  # fmt: skip


def exclude(session: Session, set_aside: list[SetAside], judged) -> int:
    """Write step: per row, its latest counted votes (never re-included ones), one UPDATE each."""
    total = 0
    for row in set_aside:
        if row.count <= 0:
            continue
        same_network = Vote.network_hash.is_(None) if row.network is None else Vote.network_hash == row.network
        latest = (
            select(Vote.id)
            .join(Battle, Battle.id == Vote.battle_id)
            .where(
                judged, Battle.judge_key == row.voter, same_network,
                Vote.model_a_id == row.model_a_id, Vote.model_b_id == row.model_b_id, Vote.outcome == row.outcome,
                Vote.counts_for_leaderboard.is_(True), ~reincluded_by_admin(),
            )
            .order_by(Vote.created_at.desc(), Vote.id.desc())
            .limit(row.count)
        )  # fmt: skip
        stmt = update(Vote).where(Vote.id.in_(latest)).values(counts_for_leaderboard=False, exclusion_reason=INFLUENCE)
        total += vote_counts.flipped(session, stmt, -1)
    return total
