"""Conversations and evaluation sessions in the recompute: the boards of whole conversations and of single
replies, the board of each session's first vote, and the session clusters of the intervals.

Everything here starts from the conversation rows of battles (a single-turn battle has none, unless an import
carried its evaluation session), joined to their votes by the vote's unique battle id and counted in SQL per
(session, later in its session, several exchanges, model_a, model_b, outcome). An arena without conversations
costs one EXISTS on the conversation table and nothing else. The other boards are differences of counts: the
single replies are the overall board's cells minus the conversations', the first votes the overall cells minus
the votes that came later in a session. The fits never see a single vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import case, exists, func, select
from sqlalchemy.orm import Session

from arena.jobs.boards import EMOTION_FLIP_PAIRS, BoardFit
from arena.jobs.snapshots import CONVERSATIONS, FIRST_VOTES, SINGLE_TURN
from arena.models import Conversation, Vote
from ratings import components, flip
from ratings.intervals import ClusteredOutcomes
from ratings.leaderboard import RatingParams, rate
from ratings.outcomes import OUTCOME_CODES, PairOutcomes


@dataclass(frozen=True)
class SessionCounts:
    """Counted votes of battles with a conversation row, one entry per (session, later, multi, model_a id,
    model_b id, outcome) group."""

    session: list[str | None]
    later: np.ndarray  # evaluation_order > 1: not the first vote of its session
    multi: np.ndarray  # the voter had seen more than one exchange
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray  # Outcome codes
    count: np.ndarray

    @property
    def has_session(self) -> np.ndarray:
        return np.array([s is not None for s in self.session], dtype=bool)

    def summary(self) -> dict:
        in_session = self.has_session
        return {
            "sessions": len({s for s in self.session if s is not None}),
            "votes_in_sessions": int(self.count[in_session].sum()),
            "later_votes": int(self.count[self.later].sum()),
            "multi_turn_votes": int(self.count[self.multi].sum()),
        }


EMPTY_SUMMARY = {"sessions": 0, "votes_in_sessions": 0, "later_votes": 0, "multi_turn_votes": 0}


def read(session: Session) -> SessionCounts | None:
    """The counted votes of battles with a conversation row, grouped; None when no battle has one."""
    if not session.scalar(select(exists().where(Conversation.battle_id.is_not(None)))):
        return None
    later = case((Conversation.evaluation_order > 1, 1), else_=0)
    multi = case((Vote.turns > 1, 1), else_=0)
    columns = (Conversation.evaluation_session, later, multi, Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    # The counted test as an expression no index serves: a plain `counts_for_leaderboard` lets SQLite's planner
    # (no statistics) walk every counted vote off ix_vote_counted_* and probe conversation per vote; this way it
    # walks the conversation rows and looks each vote up by its unique battle id.
    counted = case((Vote.counts_for_leaderboard, 1), else_=0) == 1
    stmt = (
        select(*columns, func.count())
        .select_from(Conversation)
        .join(Vote, Vote.battle_id == Conversation.battle_id)
        .where(counted)
        .group_by(*columns)
    )
    rows = session.connection().execute(stmt).all()
    return SessionCounts(
        session=[r[0] for r in rows],
        later=np.array([bool(r[1]) for r in rows], dtype=bool),
        multi=np.array([bool(r[2]) for r in rows], dtype=bool),
        model_a=np.array([r[3] for r in rows], dtype=np.int64),
        model_b=np.array([r[4] for r in rows], dtype=np.int64),
        outcome=np.array([OUTCOME_CODES[r[5]] for r in rows], dtype=np.int64),
        count=np.array([r[6] for r in rows], dtype=np.float64),
    )


def _keys(outcomes: PairOutcomes) -> np.ndarray:
    return (outcomes.model_a * outcomes.n_models + outcomes.model_b) * 4 + outcomes.outcome


def _part(counts: SessionCounts, mask: np.ndarray, index: dict[int, int]) -> PairOutcomes:
    """The selected groups as cells over the overall board's model indices, summed over sessions."""
    n = len(index)
    a = np.array([index[m] for m in counts.model_a[mask].tolist()], dtype=np.int64)
    b = np.array([index[m] for m in counts.model_b[mask].tolist()], dtype=np.int64)
    keys = (a * n + b) * 4 + counts.outcome[mask]
    cells, cell = np.unique(keys, return_inverse=True)
    return PairOutcomes(n, cells // 4 // n, cells // 4 % n, cells % 4, np.bincount(cell, counts.count[mask]))


def _minus(whole: PairOutcomes, part: PairOutcomes) -> PairOutcomes:
    """whole's cells less part's (part is a subset of whole's votes); empty cells dropped."""
    keys = _keys(whole)
    order = np.argsort(keys, kind="stable")
    position = order[np.searchsorted(keys[order], _keys(part))]
    count = whole.count.copy()
    np.subtract.at(count, position, part.count)
    keep = count > 0
    return PairOutcomes(whole.n_models, whole.model_a[keep], whole.model_b[keep], whole.outcome[keep], count[keep])


def clusters(counts: SessionCounts, mask: np.ndarray, board: PairOutcomes, index: dict[int, int]):
    """Session clusters over `board` (model indices of `index`): the selected groups that have a session are the
    clusters, every other vote of the board its own. None when no selected vote has a session."""
    selected = mask & counts.has_session
    if not selected.any():
        return None
    rows = [
        (counts.session[k], index[int(counts.model_a[k])], index[int(counts.model_b[k])], int(counts.outcome[k]),
         float(counts.count[k]))
        for k in np.flatnonzero(selected)
    ]  # fmt: skip
    return ClusteredOutcomes.from_sessions(board, rows)


def _fit(label: str, outcomes: PairOutcomes, overall_ids: list[int], params: RatingParams,
         clustered: ClusteredOutcomes | None) -> BoardFit | None:  # fmt: skip
    """A board fitted on its own votes, over the models with battles on it (in overall order)."""
    present = np.flatnonzero(np.bincount(outcomes.model_a, outcomes.count, outcomes.n_models)
                             + np.bincount(outcomes.model_b, outcomes.count, outcomes.n_models))  # fmt: skip
    if len(present) < 2:
        return None
    sub, _ = components.restrict(outcomes, present)
    sub_clustered = components.restrict_clustered(clustered, present) if clustered is not None else None
    ids = [overall_ids[k] for k in present.tolist()]
    anchor = None
    if params.anchor is not None and params.anchor[0] in present:
        anchor = (int(np.searchsorted(present, params.anchor[0])), params.anchor[1])
    # These boards have no voter rows of their own: "cluster" resamples their sessions, as the bootstrap does.
    ci = "bootstrap" if params.ci == "cluster" else params.ci
    local = RatingParams(ci, params.rounds, params.seed, params.alpha, params.both_bad, anchor)
    board = rate(sub, local, sub_clustered)
    above = flip.board_flips(sub, board.rating, board.theta, params.alpha, params.both_bad, board.component,
                             top=EMOTION_FLIP_PAIRS)  # fmt: skip
    return BoardFit(label, ids, sub, board, flip_above=above)


def fit_boards(counts: SessionCounts | None, overall_ids: list[int], overall: PairOutcomes, params: RatingParams,
               session_clusters: bool, *, turns: bool = True, first: bool = True) -> list[BoardFit]:  # fmt: skip
    """The conversations and single-turn boards (when some counted vote saw several exchanges) and the first-vote
    board (when some vote came later in its session); none for an arena without conversations."""
    if counts is None:
        return []
    index = {m: k for k, m in enumerate(overall_ids)}
    fits = []
    if turns and counts.multi.any():
        conversations = _part(counts, counts.multi, index)
        single = _minus(overall, conversations)
        for label, board, mask in ((CONVERSATIONS, conversations, counts.multi),
                                   (SINGLE_TURN, single, ~counts.multi)):  # fmt: skip
            clustered = clusters(counts, mask, board, index) if session_clusters and board.total else None
            fit = _fit(label, board, overall_ids, params, clustered) if board.total else None
            if fit is not None:
                fits.append(fit)
    if first and counts.later.any():
        # One vote per session at most: nothing left to cluster.
        fit = _fit(FIRST_VOTES, _minus(overall, _part(counts, counts.later, index)), overall_ids, params, None)
        if fit is not None:
            fits.append(fit)
    return fits


def overall_clusters(counts: SessionCounts | None, overall_ids: list[int], overall: PairOutcomes):
    """Session clusters of the overall board, or None without sessions (then the plain bootstrap runs, exactly
    as before sessions existed)."""
    if counts is None:
        return None
    index = {m: k for k, m in enumerate(overall_ids)}
    return clusters(counts, np.ones(len(counts.count), dtype=bool), overall, index)
