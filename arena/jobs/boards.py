"""Emotion boards for the recompute job: every board of both families (EmoNet groups, EmoNet categories) counted
from one read of the counted votes, then pooled toward the rest of the votes (ratings.pooling) or, without
pooling, fitted each on its own."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sqlalchemy import BigInteger, case, cast, func, select
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.jobs import driver_rows
from arena.models import Battle, Model, PromptEmotion, Vote, VoteCount
from arena.taxonomy import EMONET_CATEGORIES, EMONET_GROUPS, GROUP_OF
from ratings import flip, pooling
from ratings.leaderboard import Leaderboard, RatingParams, from_posterior, rate
from ratings.outcomes import OUTCOME_CODES, PairOutcomes

GROUPS = "groups"
# Votes to flip on the emotion boards: every neighbour pair (None: no cut), each confirmed by converged refits like
# the overall board's. Every pair of all 47 boards once added about 4 s to a 300,000-vote recompute, and only #1 and
# #2 were worked out; refits that keep their rows compact, removals summed per pair by a sparse product and the
# plans' influences taken with the board's own Hessian brought it to about 2 s of CPU (README, "Votes to flip").
EMOTION_FLIP_PAIRS = None
CATEGORIES = "categories"


def family_of(label: str) -> str:
    return GROUPS if label in EMONET_GROUPS else CATEGORIES


_OUTCOME_NAMES = vote_counts.OUTCOME_NAMES


@dataclass(frozen=True)
class Cells:
    """One board's counted votes per (model_a id, model_b id, outcome) cell, as arrays."""

    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray  # index into _OUTCOME_NAMES
    count: np.ndarray

    def __iter__(self):
        for a, b, o, c in zip(self.model_a.tolist(), self.model_b.tolist(), self.outcome.tolist(),
                              self.count.tolist(), strict=True):  # fmt: skip
            yield a, b, _OUTCOME_NAMES[o], int(c)

    def __len__(self) -> int:
        return len(self.count)

    def model_ids(self) -> set[int]:
        return set(np.unique(np.concatenate([self.model_a, self.model_b])).tolist())


def _counted_votes(session: Session) -> tuple[np.ndarray, np.ndarray, int]:
    """One row per counted vote on a tagged prompt: its prompt id and its cell key (model_a id * span + model_b
    id) * 4 + outcome index, span = the largest model id + 1, so keys sort in (model_a id, model_b id, outcome
    name) order. Read straight off the covering index ix_vote_counted_battle_pair_outcome joined to battle's
    primary key; grouping in SQL would not shrink it (a prompt rarely sees the same pair and outcome twice) and
    costs a sort. The key is packed in SQL because every value fetched is a Python int made and dropped: two
    columns instead of four are a quarter less read time."""
    span = (session.scalar(select(func.max(Model.id))) or 0) + 1
    code = case({name: k for k, name in enumerate(_OUTCOME_NAMES)}, value=Vote.outcome)
    key = (cast(Vote.model_a_id, BigInteger) * span + Vote.model_b_id) * len(_OUTCOME_NAMES) + code
    stmt = (
        select(Battle.prompt_id, key)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True), Battle.prompt_id.in_(select(PromptEmotion.prompt_id)))
    )
    rows = driver_rows.int_rows(session, stmt)
    return rows[:, 0], rows[:, 1], span


def indicator(session: Session, prompts: np.ndarray, column: dict[str, int]) -> sparse.csr_matrix:
    """(prompts x boards) 0/1: a prompt is on each of its categories' boards and on their groups' boards (once
    per group, however many of the group's categories it has)."""
    position = {p: k for k, p in enumerate(prompts.tolist())}
    entries = set()
    for prompt_id, category in session.execute(select(PromptEmotion.prompt_id, PromptEmotion.category)):
        k = position.get(prompt_id)
        if k is not None and category in column:
            entries.add((k, column[category]))
            entries.add((k, column[GROUP_OF[category]]))
    rows, cols = np.array(sorted(entries), dtype=np.int64).reshape(-1, 2).T
    return sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(prompts), len(column)))


def board_counts(session: Session, families) -> dict[str, dict[str, Cells]]:
    """Per family asked for, per board with counted votes: its Cells. One read of the counted votes on tagged
    prompts; numpy numbers their (model_a, model_b, outcome) cells, a sparse (cells x prompts) matrix counts the
    votes, and a (prompts x boards) indicator sums them per board, so a vote counts once on a group board even
    when its prompt carries several of the group's categories."""
    families = set(families)
    if not families:
        return {}
    prompt_ids, keys, span = _counted_votes(session)
    if len(keys) == 0:
        return {family: {} for family in families}
    labels = {GROUPS: list(EMONET_GROUPS), CATEGORIES: list(EMONET_CATEGORIES)}
    column = {label: k for k, label in enumerate(labels[GROUPS] + labels[CATEGORIES])}
    prompts, prompt = np.unique(prompt_ids, return_inverse=True)
    cells, cell = np.unique(keys, return_inverse=True)
    votes = sparse.csr_matrix((np.ones(len(keys)), (cell, prompt)), shape=(len(cells), len(prompts)))
    per_board = (votes @ indicator(session, prompts, column)).toarray()  # cells x boards
    a, rest = np.divmod(cells, span * len(_OUTCOME_NAMES))
    b, outcome = np.divmod(rest, len(_OUTCOME_NAMES))
    out: dict[str, dict[str, Cells]] = {}
    for family in families:
        out[family] = {}
        for label in labels[family]:
            counted = per_board[:, column[label]]
            on = np.flatnonzero(counted)
            if len(on):
                out[family][label] = Cells(a[on], b[on], outcome[on], counted[on])
    return out


def _maintained_rows(session: Session, labels) -> dict[str, np.ndarray]:
    """Per board in `labels` with votes: its cells as an (n, 4) int64 array of (model_a_id, model_b_id, outcome
    name's rank in sort order, votes), sorted. Read on the driver's cursor (driver_rows): a board of 200 models
    has up to 160,000 cells, too many for SQLAlchemy's rows."""
    labels = list(labels)
    board = case({label: k for k, label in enumerate(labels)}, value=VoteCount.board)
    code = case({name: k for k, name in enumerate(_OUTCOME_NAMES)}, value=VoteCount.outcome)
    rows = driver_rows.int_rows(
        session,
        select(board, VoteCount.model_a_id, VoteCount.model_b_id, code, VoteCount.n).where(
            VoteCount.board.in_(labels), VoteCount.n > 0
        ),
    )
    if len(rows) == 0:
        return {}
    rows = rows[np.lexsort((rows[:, 3], rows[:, 2], rows[:, 1], rows[:, 0]))]
    starts = np.flatnonzero(np.diff(rows[:, 0], prepend=-1))
    return {labels[int(rows[k, 0])]: part[:, 1:] for k, part in zip(starts, np.split(rows, starts[1:]), strict=True)}


def maintained_counts(session: Session, families) -> dict[str, dict[str, Cells]]:
    """board_counts, read from the maintained counts (arena/vote_counts.py; fold them first): the same Cells,
    in the same order, from rows per board and cell instead of one row per vote."""
    labels = {GROUPS: list(EMONET_GROUPS), CATEGORIES: list(EMONET_CATEGORIES)}
    families = set(families)
    found = _maintained_rows(session, [label for family in families for label in labels[family]])
    return {
        family: {
            label: Cells(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3].astype(float))
            for label in labels[family] if (rows := found.get(label)) is not None
        }
        for family in families
    }  # fmt: skip


def family_counts(session: Session, family: str) -> dict[str, Cells]:
    """Per board of the family that has counted votes: its Cells (iterating gives (model_a id, model_b id, outcome,
    votes) rows). A battle counts once per board even when its prompt carries several of the board's categories."""
    return board_counts(session, {family})[family]


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
    # Per model: votes whose removal would swap it with the model listed just above it (nan: none; ratings.flip).
    flip_above: np.ndarray | None = None


def to_outcomes(cells: Cells, index: dict[int, int]) -> PairOutcomes:
    lookup = np.vectorize(index.__getitem__, otypes=[np.int64])
    outcome = np.array([OUTCOME_CODES[name] for name in _OUTCOME_NAMES], dtype=np.int64)[cells.outcome]
    return PairOutcomes(len(index), lookup(cells.model_a), lookup(cells.model_b), outcome, cells.count.astype(float))


def pooled(
    family: dict[str, Cells], overall_ids: list[int], overall: PairOutcomes, overall_board: Leaderboard,
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

    for g, fit in enumerate(fits):
        fit.flip_above = flip.pooled_board_flips(fit.outcomes, fit.board.rating, result.theta[g], result.centre[g],
                                                 result.prior_precision(g), overall_board.component, params.both_bad,
                                                 top=EMOTION_FLIP_PAIRS)  # fmt: skip
    return fits


def independent(family: dict[str, Cells], order: list[int], params: RatingParams) -> list[BoardFit]:
    """Every board fitted on its own votes only (no pooling), over its own models in overall order."""
    fits = []
    for label, rows in family.items():
        present = rows.model_ids()
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
        board = rate(outcomes, local)
        above = flip.board_flips(outcomes, board.rating, board.theta, params.alpha, params.both_bad, board.component,
                                 top=EMOTION_FLIP_PAIRS)  # fmt: skip
        fits.append(BoardFit(label, ids, outcomes, board, flip_above=above))
    return fits
