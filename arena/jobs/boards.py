"""Emotion boards for the recompute job: counted in one SQL pass per family (EmoNet groups, EmoNet categories),
then pooled toward the rest of the votes (ratings.pooling) or, without pooling, fitted each on its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from arena.models import Battle, PromptEmotion, Vote
from arena.taxonomy import EMONET_CATEGORIES, EMONET_GROUPS, GROUP_OF
from ratings import pooling
from ratings.leaderboard import Leaderboard, RatingParams, from_posterior, rate
from ratings.outcomes import PairOutcomes

GROUPS = "groups"
CATEGORIES = "categories"


def family_of(label: str) -> str:
    return GROUPS if label in EMONET_GROUPS else CATEGORIES


def family_counts(session: Session, family: str) -> dict[str, list[tuple[int, int, str, int]]]:
    """Per board of the family that has counted votes: rows (model_a id, model_b id, outcome, votes). A battle
    counts once per board even when its prompt carries several of the board's categories."""
    if family == GROUPS:
        board = case(GROUP_OF, value=PromptEmotion.category)
        count = func.count(func.distinct(Vote.id))
    else:
        board, count = PromptEmotion.category, func.count()
    stmt = (
        select(board, Vote.model_a_id, Vote.model_b_id, Vote.outcome, count)
        .join(Battle, Battle.id == Vote.battle_id)
        .join(PromptEmotion, PromptEmotion.prompt_id == Battle.prompt_id)
        .where(Vote.counts_for_leaderboard.is_(True))
        .group_by(board, Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    )
    boards: dict[str, list[tuple[int, int, str, int]]] = {}
    for label, a, b, outcome, votes in session.execute(stmt):
        if label is not None:
            boards.setdefault(label, []).append((a, b, outcome, votes))
    order = list(EMONET_GROUPS) if family == GROUPS else list(EMONET_CATEGORIES)
    return {label: boards[label] for label in order if label in boards}


@dataclass
class BoardFit:
    category: str
    model_ids: list[int]
    outcomes: PairOutcomes
    board: Leaderboard
    # Pooled boards only: per model the weight of the rest of the votes, the board's mean of it, and tau.
    borrowed: np.ndarray | None = None
    board_borrowed: float | None = None
    tau: float | None = None


def to_outcomes(rows, index: dict[int, int]) -> PairOutcomes:
    return PairOutcomes.from_rows(len(index), [(index[a], index[b], o, c) for a, b, o, c in rows])


def pooled(
    family: dict[str, list[tuple]], overall_ids: list[int], overall: PairOutcomes, overall_board: Leaderboard,
    params: RatingParams,
) -> list[BoardFit]:  # fmt: skip
    """Every board of a family, pooled toward the rest of the votes; boards keep the overall model order and list
    the models with battles on them."""
    if not family:
        return []
    index = {m: k for k, m in enumerate(overall_ids)}
    counted = {label: to_outcomes(rows, index) for label, rows in family.items()}
    wins = np.stack([o.win_matrix(params.both_bad) for o in counted.values()])
    result = pooling.pool(wins, overall.win_matrix(params.both_bad), params.alpha, overall_board.component)
    shares = result.board_borrowed()
    fits = []
    for g, (label, outcomes) in enumerate(counted.items()):
        board = from_posterior(outcomes, result.theta[g], result.covariance[g], overall_board.component, params)
        fits.append(BoardFit(label, overall_ids, outcomes, board, result.borrowed[g], float(shares[g]), result.tau))
    return fits


def independent(family: dict[str, list[tuple]], order: list[int], params: RatingParams) -> list[BoardFit]:
    """Every board fitted on its own votes only (no pooling), over its own models in overall order."""
    fits = []
    for label, rows in family.items():
        present = {m for a, b, *_ in rows for m in (a, b)}
        ids = [m for m in order if m in present]
        if len(ids) < 2:
            continue
        outcomes = to_outcomes(rows, {m: k for k, m in enumerate(ids)})
        anchor = None
        if params.anchor is not None:
            anchor_id = order[params.anchor[0]]
            anchor = (ids.index(anchor_id), params.anchor[1]) if anchor_id in ids else None
        local = RatingParams(params.ci if params.ci != "cluster" else "bootstrap", params.rounds, params.seed,
                             params.alpha, params.both_bad, anchor)  # fmt: skip
        fits.append(BoardFit(label, ids, outcomes, rate(outcomes, local)))
    return fits
