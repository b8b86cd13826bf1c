"""The influence rule on every emotion board (EmoNet groups, then categories), after the overall board's: no voter,
network or young cohort moves a board further than chance allows, whether or not it shows overall
(ratings/board_influence.py has the statistics). Run by vote_filters inside its plan and apply.

Read once, one row per judged vote that counts once the daily cap is applied (its voter, network, cell, prompt,
latest first), and one row per (prompt, cell) of the votes no rule judges (imported). The earlier rules' decisions
are replayed on those rows, the overall influence rule's set-asides included (the same latest votes its UPDATE
takes), so each board is judged on exactly the votes that will count. A vote set aside on a board is one vote row
with one status: it is set aside everywhere, recorded with the reason `influence` and, in the run's details, the
board it was judged on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.jobs import boards
from arena.jobs.cohort_filters import Cohort
from arena.jobs.influence_filter import SetAside
from arena.models import Battle, PromptEmotion, Vote
from arena.taxonomy import EMONET_CATEGORIES, EMONET_GROUPS
from arena.voting.moderation import INFLUENCE, reincluded_by_admin
from ratings import board_influence
from ratings.outcomes import OUTCOME_CODES, Outcome

LABELS = (*EMONET_GROUPS, *EMONET_CATEGORIES)
MAX_DETAILS = 200
_IDS_PER_STATEMENT = 500


@dataclass
class BoardPlan:
    vote_ids: list[int] = field(default_factory=list)
    voters: set[str] = field(default_factory=set)
    details: list[dict] = field(default_factory=list)
    tests: int = 0
    # Boards judged, and per board with a flagged group the largest shift per family, before and after.
    measured: dict = field(default_factory=dict)


def plan(session: Session, kept, judged_filter, *, excluded_voters: set[str], cohorts: list[Cohort],
         overall: list[SetAside], min_votes: int, prior: float, alpha: float, both_bad: str) -> BoardPlan:  # fmt: skip
    """`kept`: the judged votes that count after the daily cap (vote_filters' subquery, with prompt_id and
    created_at); `judged_filter`: the condition that tells a judged vote."""
    result = BoardPlan()
    tagged = select(PromptEmotion.prompt_id)
    connection = session.connection()
    on_a_board = select(Battle.id).where(judged_filter, Battle.prompt_id.in_(tagged)).limit(1)
    if connection.execute(on_a_board).first() is None:
        return result
    judged = connection.execute(
        select(kept.c.id, kept.c.voter, kept.c.network, kept.c.model_a_id, kept.c.model_b_id, kept.c.outcome,
               kept.c.kept, kept.c.prompt_id)
        .order_by(kept.c.created_at.desc(), kept.c.id.desc())
    ).all()  # fmt: skip
    unjudged = connection.execute(
        select(Battle.prompt_id, Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count())
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True), ~judged_filter, Battle.prompt_id.in_(tagged))
        .group_by(Battle.prompt_id, Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    ).all()
    if not judged:
        return result
    rows = _Rows(judged, unjudged, min_votes=min_votes, both_bad=both_bad)
    removed = rows.replay(excluded_voters, cohorts, overall)
    prompts = np.unique(rows.prompt[rows.prompt >= 0])
    if len(prompts) == 0:
        return result
    column = {label: k for k, label in enumerate(LABELS)}
    per_prompt = boards.indicator(session, prompts, column)
    with_prompt = np.flatnonzero(rows.prompt >= 0)
    per_row = sparse.csc_matrix(per_prompt[np.searchsorted(prompts, rows.prompt[with_prompt])])
    members = [np.sort(with_prompt[per_row.indices[per_row.indptr[k] : per_row.indptr[k + 1]]])
               for k in range(len(LABELS))]  # fmt: skip
    bounded = board_influence.bound_boards(rows.votes, members, removed=removed, prior=prior, alpha=alpha)
    taken = np.flatnonzero(bounded.removed > 0)
    result.vote_ids = [int(rows.vote_id[r]) for r in taken]
    result.voters = {rows.voter_names[rows.votes.voter[r]] for r in taken}
    result.tests = bounded.tests
    result.measured = {"boards_judged": len(bounded.judged), "flagged": {}}
    for (board, family), (before, after) in bounded.largest.items():
        result.measured["flagged"].setdefault(LABELS[board], {})[family] = {
            "before": rows.largest(family, before), "after": rows.largest(family, after),
        }  # fmt: skip
    for item in bounded.verdicts[:MAX_DETAILS]:
        v = item.verdict
        result.details.append({
            v.family: rows.group_name(v.family, v.group), "board": LABELS[item.board], "reason": INFLUENCE,
            "rule": f"{v.family}_influence", "model_id": rows.model_ids[v.model], "votes": int(v.votes),
            "z": round(v.z, 2), "shift_points": round(v.shift, 1), "p_bound": float(f"{v.p_bound:.3g}"),
            "set_aside": int(round(v.set_aside)),
        })  # fmt: skip
    return result


class _Rows:
    """The read rows as ratings.board_influence.VoteRows, with what maps them back (vote ids, names)."""

    def __init__(self, judged, unjudged, *, min_votes: int, both_bad: str) -> None:
        self.model_ids = sorted({r[3] for r in judged} | {r[4] for r in judged} | {r[1] for r in unjudged}
                                | {r[2] for r in unjudged})  # fmt: skip
        index = {m: k for k, m in enumerate(self.model_ids)}
        self.voter_names = sorted({r[1] for r in judged})
        self.network_names = sorted({r[2] for r in judged if r[2] is not None})
        voter_of = {v: k for k, v in enumerate(self.voter_names)}
        network_of = {n: k for k, n in enumerate(self.network_names)}
        n_judged = len(judged)
        self.keys = [(r[1], r[2], r[3], r[4], r[5]) for r in judged]
        self.vote_id = np.array([r[0] for r in judged], dtype=np.int64)
        voter = np.array([voter_of[r[1]] for r in judged] + [-1] * len(unjudged), dtype=np.int64)
        network = np.array([network_of.get(r[2], -1) for r in judged] + [-1] * len(unjudged), dtype=np.int64)
        self.prompt = np.array([-1 if r[7] is None else r[7] for r in judged] + [r[0] for r in unjudged],
                               dtype=np.int64)  # fmt: skip
        cells = [r[3:6] for r in judged] + [r[1:4] for r in unjudged]
        outcome = np.array([OUTCOME_CODES[c[2]] for c in cells], dtype=np.int64)
        count = np.array([1.0] * n_judged + [float(r[4]) for r in unjudged])
        per_voter = np.bincount(voter[:n_judged], minlength=len(self.voter_names))
        removable = np.zeros(len(cells), dtype=bool)
        removable[:n_judged] = [not r[6] for r in judged]
        self.votes = board_influence.VoteRows(
            n_models=len(self.model_ids),
            model_a=np.array([index[c[0]] for c in cells], dtype=np.int64),
            model_b=np.array([index[c[1]] for c in cells], dtype=np.int64),
            score=np.where(outcome == Outcome.A_WINS, 1.0, np.where(outcome == Outcome.B_WINS, 0.0, 0.5)),
            fit=~((outcome == Outcome.BOTH_BAD) & (both_bad == "drop")),
            count=count, voter=voter, network=network,
            young=(voter >= 0) & (per_voter[np.maximum(voter, 0)] < min_votes),
            removable=removable,
            recency=-np.arange(len(cells), dtype=np.float64),  # read latest first
            n_voters=len(self.voter_names), n_networks=len(self.network_names),
        )  # fmt: skip

    def replay(self, excluded_voters: set[str], cohorts: list[Cohort], overall: list[SetAside]) -> np.ndarray:
        """Per row, 1 for a vote an earlier rule excludes (the per-voter and cohort rules, then the overall
        influence rule's latest votes of each (voter, network, cell) it sets aside), else 0."""
        n = len(self.votes.count)
        removed = np.zeros(n)
        index = {m: k for k, m in enumerate(self.model_ids)}
        names = np.array(self.voter_names + [""], dtype=object)[self.votes.voter]
        removed[: len(self.keys)] = [voter in excluded_voters for voter, *_ in self.keys]
        for cohort in cohorts:
            model = index.get(cohort.model_id)
            if model is None or cohort.network not in self.network_names:
                continue
            hit = (self.votes.network == self.network_names.index(cohort.network)) & (
                (self.votes.model_a == model) | (self.votes.model_b == model)
            )
            if cohort.voters:
                hit &= np.isin(names, list(cohort.voters))
            removed[hit] = 1.0
        wanted = {(s.voter, s.network, s.model_a_id, s.model_b_id, s.outcome): s.count for s in overall if s.count > 0}
        if wanted:
            for row, key in enumerate(self.keys):  # latest first: the votes the overall rule's UPDATE takes
                if wanted.get(key, 0) > 0 and removed[row] == 0 and self.votes.removable[row]:
                    removed[row] = 1.0
                    wanted[key] -= 1
        return removed

    def group_name(self, family: str, group: int) -> str:
        return self.voter_names[group] if family == "voter" else self.network_names[group]

    def largest(self, family: str, largest) -> dict:
        return {
            family: self.group_name(family, largest.group), "model_id": self.model_ids[largest.model],
            "shift_points": round(largest.shift, 1), "z": round(largest.z, 2),
        }  # fmt: skip


def exclude(session: Session, vote_ids: list[int]) -> int:
    """Write step: the chosen votes, if they still count and were never re-included by an admin."""
    total = 0
    for start in range(0, len(vote_ids), _IDS_PER_STATEMENT):
        stmt = (
            update(Vote)
            .where(Vote.id.in_(vote_ids[start : start + _IDS_PER_STATEMENT]), Vote.counts_for_leaderboard.is_(True),
                   ~reincluded_by_admin())
            .values(counts_for_leaderboard=False, exclusion_reason=INFLUENCE)
        )  # fmt: skip
        total += vote_counts.flipped(session, stmt, -1)
    return total
