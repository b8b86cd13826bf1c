"""Influence bounded on every board, not only the overall one: an attack aimed at one emotion board (Sybils or
omnipresent votes on that board's prompts alone) barely shows on the overall board, where thousands of other
votes dilute it, yet it can buy that board's ranking.

Each board (an EmoNet group or category, given as the votes on it) is judged as ratings.influence judges the
overall board: every voter, network and young cohort by how far its votes *on the board* move the board's own
fit (the plain penalised fit of the board's votes, the pooled board's data term: pooling only shrinks what the
votes move) away from where the board's other votes put it, with the same Bernstein test and cap. A vote is one
row with one status, so a vote set aside on one board is set aside everywhere: it leaves the overall board and
every other board it is on, and the boards after it are judged without it.

Boards are many, so the test's level is split among them (Bonferroni: `alpha / boards judged` each), and a
board with fewer than `DEFAULT_MIN_REFERENCE + min_votes` votes is not judged (no group could be compared with
enough others there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ratings import bradley_terry as bt
from ratings import influence


@dataclass(frozen=True)
class VoteRows:
    """Counted votes one row each (or, for votes no rule judges, one row per cell with its count): models in
    0..n_models-1, score (1 a won, 0 b won, 1/2 a tie), whether it is in the fit, count, voter and network
    indices (-1: none, never judged), the voter's youth, whether a rule may set it aside (an admin's re-inclusion
    says no), and recency (larger: later; the latest are set aside first)."""

    n_models: int
    model_a: np.ndarray
    model_b: np.ndarray
    score: np.ndarray
    fit: np.ndarray
    count: np.ndarray
    voter: np.ndarray
    network: np.ndarray
    young: np.ndarray
    removable: np.ndarray
    recency: np.ndarray
    n_voters: int
    n_networks: int


@dataclass
class BoardVerdict:
    board: int
    verdict: influence.Verdict  # model: an index into VoteRows' models


@dataclass
class BoardsResult:
    removed: np.ndarray  # per row: votes set aside (0 or 1 for a judged vote)
    verdicts: list[BoardVerdict] = field(default_factory=list)
    judged: list[int] = field(default_factory=list)  # boards with enough votes to be judged
    tests: int = 0
    # Per judged board with a flagged group, per family: the largest shift (board, family) -> (before, after).
    largest: dict[tuple[int, str], tuple[influence.Largest, influence.Largest]] = field(default_factory=dict)


_SCORE_CODES = 5  # 2 * score (0, 1, 2), or 4 for a vote outside the fit


def bound_boards(
    votes: VoteRows,
    members: list[np.ndarray],
    *,
    removed: np.ndarray | None = None,
    prior: float = bt.DEFAULT_ALPHA,
    alpha: float = influence.DEFAULT_ALPHA,
    min_votes: float = influence.DEFAULT_MIN_VOTES,
) -> BoardsResult:
    """Judge each board (`members[b]`: the rows on board b) in turn on the votes still counted, and set aside,
    latest first, the votes that bound each flagged group there. `removed`: votes already set aside."""
    removed = np.zeros(len(votes.count)) if removed is None else np.asarray(removed, dtype=np.float64).copy()
    already = removed.copy()
    result = BoardsResult(removed)
    floor = influence.DEFAULT_MIN_REFERENCE + min_votes
    left = votes.count - removed
    result.judged = [b for b, rows in enumerate(members) if left[rows].sum() >= floor]
    if not result.judged:
        result.removed = removed - already
        return result
    level = alpha / len(result.judged)
    for b in result.judged:
        rows = members[b]
        rows = rows[votes.count[rows] - removed[rows] > 0]
        if (votes.count[rows] - removed[rows]).sum() < floor:
            continue
        _judge_board(votes, rows, removed, b, result, prior=prior, alpha=level, min_votes=min_votes)
    result.removed = removed - already
    return result


def _judge_board(votes: VoteRows, rows: np.ndarray, removed: np.ndarray, board: int, result: BoardsResult, *,
                 prior: float, alpha: float, min_votes: float) -> None:  # fmt: skip
    models, local = np.unique(np.concatenate([votes.model_a[rows], votes.model_b[rows]]), return_inverse=True)
    if len(models) < 2:
        return
    a, b = local[: len(rows)], local[len(rows) :]
    code = np.where(votes.fit[rows], np.round(2 * votes.score[rows]), 4).astype(np.int64)
    k = len(models)
    key = (((votes.voter[rows] + 1) * (votes.n_networks + 1) + votes.network[rows] + 1) * k + a) * k + b
    key = key * _SCORE_CODES + code
    cells, first, cell = np.unique(key, return_index=True, return_inverse=True)
    left = votes.count[rows] - removed[rows]
    count = np.bincount(cell, weights=left, minlength=len(cells))
    one = rows[first]  # one row of each cell carries its voter and network
    cell_code = cells % _SCORE_CODES
    grouped = influence.GroupedVotes(k, a[first], b[first], np.where(cell_code == 4, 0.5, cell_code / 2.0), count,
                                     cell_code != 4, votes.voter[one])  # fmt: skip
    network = votes.network[one]
    families = [
        influence.GroupFamily("network", network, votes.n_networks),
        influence.GroupFamily("young_cohort", np.where(votes.young[one], network, -1), votes.n_networks),
        influence.GroupFamily("voter", votes.voter[one], votes.n_voters),
    ]
    total = count.sum()
    testable = []
    for family in families:
        inside = family.group >= 0
        volume = np.bincount(family.group[inside], weights=count[inside], minlength=family.n_groups)
        if np.any((volume >= min_votes) & (total - volume >= influence.DEFAULT_MIN_REFERENCE)):
            testable.append(family)
    if not testable:
        return
    bounded = influence.bound_influence(grouped, testable, prior=prior, alpha=alpha, min_votes=min_votes)
    result.tests += sum(bounded.tests.values())
    for verdict in bounded.verdicts:
        verdict.model = int(models[verdict.model])
        result.verdicts.append(BoardVerdict(board, verdict))
    if bounded.verdicts:
        for name, before in bounded.largest_before.items():
            after = bounded.largest_after[name]
            result.largest[(board, name)] = (_global(before, models), _global(after, models))
    # Each cell's votes to set aside: its latest removable votes still counted.
    for c in np.flatnonzero(bounded.removed > 0):
        mine = rows[(cell == c) & votes.removable[rows] & (left > 0)]
        mine = mine[np.argsort(-votes.recency[mine], kind="stable")]
        need = float(bounded.removed[c])
        for row in mine:
            if need <= 0:
                break
            take = min(need, votes.count[row] - removed[row])
            removed[row] += take
            need -= take


def _global(largest: influence.Largest, models: np.ndarray) -> influence.Largest:
    return influence.Largest(largest.group, int(models[largest.model]), largest.shift, largest.z)
