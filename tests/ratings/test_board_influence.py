"""Influence bounded on every board: attacks planted on one emotion board's prompts only, which the overall board
dilutes among everyone's votes, judged on that board (ratings.board_influence), beside honest crowds whose votes
spread over many boards."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings import influence
from ratings.board_influence import VoteRows, bound_boards
from tests.ratings.test_influence import ATTACK_NETWORK, THETA, Votes, crowd_vote, pair, rank

BOARDS = 8


class BoardVotes(Votes):
    """Votes with the board each was cast on (one prompt's board; a vote is on one board here)."""

    def __init__(self, n_models: int = len(THETA)) -> None:
        super().__init__(n_models)
        self.board: list[int] = []

    def add(self, a, b, y, voter, network, board=None) -> None:
        before = len(self.a)
        super().add(a, b, y, voter, network)
        added = len(self.a) - before
        self.board.extend(np.broadcast_to(-1 if board is None else board, (added,)).tolist())

    def spread(self, rng) -> None:
        """Honest votes not yet on a board land on one at random."""
        board = np.asarray(self.board)
        board[board < 0] = rng.integers(0, BOARDS, int((board < 0).sum()))
        self.board = board.tolist()

    def rows(self, min_votes: int = 30) -> tuple[VoteRows, list[np.ndarray]]:
        _, voter = np.unique(np.asarray(self.voter), return_inverse=True)
        _, network = np.unique(np.asarray(self.network), return_inverse=True)
        per_voter = np.bincount(voter)
        n = len(voter)
        rows = VoteRows(self.n_models, np.asarray(self.a), np.asarray(self.b), np.asarray(self.y, dtype=float),
                        np.ones(n, bool), np.ones(n), voter, network, per_voter[voter] < min_votes, np.ones(n, bool),
                        np.arange(n), int(voter.max()) + 1, int(network.max()) + 1)  # fmt: skip
        board = np.asarray(self.board)
        return rows, [np.flatnonzero(board == k) for k in range(BOARDS)]

    def overall_removed(self) -> np.ndarray:
        """The overall rule first, as the job runs it: its set-asides per (voter, network, cell), latest first."""
        votes, families, keys = self.grouped()
        removed = influence.bound_influence(votes, families).removed
        columns = np.stack([np.asarray(c) for c in (self.voter, self.network, self.a, self.b)]
                           + [np.asarray(self.y) * 2]).astype(np.int64)  # fmt: skip
        per_vote = np.zeros(columns.shape[1])
        for row in np.flatnonzero(removed > 0):
            same = np.flatnonzero(np.all(columns == keys[:, row : row + 1], axis=0))[::-1]
            per_vote[same[: int(removed[row])]] = 1.0
        return per_vote


def board_elo(arena: BoardVotes, board: int, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One board's ratings from the votes on it (weighted) and their 95% half-widths."""
    on = np.asarray(arena.board) == board
    a, b, y, w = np.asarray(arena.a)[on], np.asarray(arena.b)[on], np.asarray(arena.y)[on], weight[on]
    wins = np.zeros((arena.n_models, arena.n_models))
    np.add.at(wins, (a, b), w * y)
    np.add.at(wins, (b, a), w * (1 - y))
    theta = bt.fit(wins)
    covariance = np.linalg.pinv(influence.information(theta, wins + wins.T, bt.DEFAULT_ALPHA), hermitian=True)
    return bt.to_elo(theta), 1.96 * bt.ELO_SCALE * np.sqrt(np.diag(covariance))


def replay(arena: BoardVotes, target: int):
    honest = np.asarray(arena.network) != ATTACK_NETWORK
    overall = arena.overall_removed()
    rows, members = arena.rows()
    result = bound_boards(rows, members, removed=overall)
    kept = 1.0 - overall - result.removed
    fair, half_width = board_elo(arena, 0, honest.astype(float))
    return {
        "honest": fair, "half_width": half_width[target], "all": board_elo(arena, 0, np.ones(len(honest)))[0],
        "overall_only": board_elo(arena, 0, 1.0 - overall)[0], "bounded": board_elo(arena, 0, kept)[0],
        "honest_kept": kept[honest].sum() / honest.sum(), "result": result,
    }  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_sybils_on_one_boards_prompts_buy_nothing_there(seed):
    """30 identities on one /24 vote like the crowd on one emotion board's prompts only, but for the target 9
    times in 10 when it is shown, beside 20,000 honest votes over 8 boards: lost in the overall board's crowd,
    they lift the target on their board; judged there, they are bounded and every honest vote counts."""
    rng, target = np.random.default_rng(seed), 5
    arena = BoardVotes()
    arena.add_honest(rng, rng.multinomial(20_000, np.ones(300) / 300))
    arena.spread(rng)
    for identity in range(30):
        for _ in range(20):
            a, b = pair(rng)
            y = float(a == target) if target in (a, b) and rng.random() < 0.9 else crowd_vote(rng, a, b)
            arena.add(a, b, y, 1000 + identity, ATTACK_NETWORK, board=0)
    seen = replay(arena, target)
    assert seen["all"][target] - seen["honest"][target] > 3 * seen["half_width"], "the attack must be real"
    assert seen["overall_only"][target] - seen["honest"][target] > seen["half_width"], (
        "the overall rule alone misses it"
    )
    assert abs(seen["bounded"][target] - seen["honest"][target]) < seen["half_width"]
    assert rank(seen["bounded"], target) >= rank(seen["honest"], target)
    assert seen["honest_kept"] == 1.0
    assert {v.board for v in seen["result"].verdicts} == {0}


@pytest.mark.parametrize("seed", range(3))
def test_omnipresent_votes_on_one_board_cannot_lift_the_target_there(seed):
    """150 votes from one address on one board's prompts, never in the target's battles, against the model just
    above it whenever they meet it."""
    rng, target, above = np.random.default_rng(seed), 3, 2
    arena = BoardVotes()
    arena.add_honest(rng, rng.multinomial(20_000, np.ones(300) / 300))
    arena.spread(rng)
    cast = 0
    while cast < 150:
        a, b = pair(rng)
        if target in (a, b) or above not in (a, b):
            continue
        arena.add(a, b, float(b == above), 999, ATTACK_NETWORK, board=0)
        cast += 1
    seen = replay(arena, target)
    assert rank(seen["all"], target) < rank(seen["honest"], target), "unbounded, the votes lift the target"
    assert rank(seen["bounded"], target) >= rank(seen["honest"], target)
    for model in (target, above):
        assert abs(seen["bounded"][model] - seen["honest"][model]) < 0.5 * seen["half_width"]
    assert seen["honest_kept"] == 1.0


def test_honest_crowds_keep_their_votes_on_every_board():
    """1,000 honest voters with strong tastes, a third behind 20 shared addresses, 50 models, their 100,000 votes
    spread over 8 boards: at least 99% stay counted after the overall and the per-board rules."""
    rng = np.random.default_rng(0)
    theta = np.sort(rng.normal(0, 1, 50))[::-1]
    arena = BoardVotes(50)
    arena.add_honest(rng, rng.multinomial(100_000, rng.dirichlet(np.ones(1000))), taste_sd=0.5, favourite_boost=1.0,
                     theta=theta)  # fmt: skip
    arena.spread(rng)
    shared = rng.random(1000) < 1 / 3
    address = np.where(shared, 5000 + rng.integers(0, 20, 1000), np.arange(1000))
    arena.network = address[np.asarray(arena.voter)].tolist()
    rows, members = arena.rows()
    result = bound_boards(rows, members)
    assert len(result.judged) == BOARDS
    assert result.removed.sum() <= 0.01 * len(arena.a)


def test_a_vote_set_aside_is_gone_from_every_later_board_and_boards_too_small_are_not_judged():
    """Votes already set aside stay so and are not counted again; a board of 50 votes is not judged."""
    rng = np.random.default_rng(4)
    arena = BoardVotes()
    arena.add_honest(rng, rng.multinomial(3000, np.ones(60) / 60))
    arena.spread(rng)
    board = np.asarray(arena.board)
    board[np.flatnonzero(board == 1)[50:]] = 2  # board 1 keeps 50 votes
    arena.board = board.tolist()
    rows, members = arena.rows()
    gone = np.zeros(len(board))
    gone[members[0][:10]] = 1.0
    result = bound_boards(rows, members, removed=gone)
    assert 1 not in result.judged and 0 in result.judged
    assert np.all(result.removed[gone > 0] == 0)
