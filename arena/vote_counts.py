"""Maintained vote counts: the counted votes per (board, model_a, model_b, outcome), for the overall board and
every EmoNet group and category, kept in `vote_count` so the recompute reads cells instead of grouping every vote.

Kept by a watermark, not in the vote's transaction: the vote path stays at its two statements (a third, on rows
every concurrent vote of the same pair updates, would serialise votes on them). `vote_count_mark.last_vote_id`
says which votes the counts hold: those with an id up to it, in their current state. So:

- fold(): the recompute (and `arena import votes`, for its own votes) adds the votes above the mark and moves it.
  On PostgreSQL it first takes a SHARE ROW EXCLUSIVE lock on `vote`: it waits for the transactions writing
  votes to commit and holds new ones back until it commits, so no id below the new mark can commit later
  (sequence ids are not committed in order), and two folds take turns. A fold of the votes since the last one
  is short; the first after the upgrade counts all.
- Every change to a vote at or below the mark shifts its cells in the changing transaction: flipped() for
  updates that flip `counts_for_leaderboard` (the filters, re-inclusions; the ids come back by RETURNING), and
  recounted() around changes of anything else (a privacy deletion removes votes and detaches others from their
  message, and so from its emotion boards). Votes above the mark need nothing: they are folded as they are.
- reset() empties the counts (the demo's removal, `arena ratings recompute --recount` after votes were changed
  by hand): the next fold counts every vote again.

A rebuilt board (--anony-only, --as-of) and the clustered intervals (--ci cluster) still read the votes: their
subsets are not kept here. Cells with no votes left stay as rows with n = 0 and are skipped on reading.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import case, column, func, literal, select, table, text, update
from sqlalchemy import join as sa_join
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from arena.jobs.snapshots import OVERALL
from arena.models import Battle, PromptEmotion, Vote, VoteCount, VoteCountMark
from arena.taxonomy import EMONET_CATEGORIES, GROUP_OF

_IDS_PER_STATEMENT = 500
# Outcome names in their sort order: a board's cells are ordered by (model_a id, model_b id, outcome name), the
# order a GROUP BY over those columns gives, whatever the database.
OUTCOME_NAMES = ("both_bad", "model_a", "model_b", "tie")
_FLIPS = "vote_count_flips"  # Session.info key: vote id -> net change of its counted state, not yet settled


def _cells(source, a, b, outcome, prompt_id, which: list, sign: int) -> list:
    """The SELECTs giving (board, model_a_id, model_b_id, outcome, votes) for the votes `which` picks from
    `source` (whose columns `a`, `b`, `outcome` and `prompt_id` are given): the overall board, each category board
    and each group board. A vote counts once on a group board however many of the group's categories its message
    has: it is joined to its message's distinct groups (a few rows per message), so no COUNT(DISTINCT) over votes."""
    votes = func.count() * sign
    # No FROM given: the overall board reads only the table of `a` (for stored votes, not their battles).
    overall = select(literal(OVERALL), a, b, outcome, votes).where(*which).group_by(a, b, outcome)
    overall = overall.order_by(a, b, outcome)
    category = PromptEmotion.category
    categories = (
        select(category, a, b, outcome, votes)
        .select_from(source)
        .join(PromptEmotion, PromptEmotion.prompt_id == prompt_id)
        .where(*which, category.in_(EMONET_CATEGORIES))
        .group_by(category, a, b, outcome)
        .order_by(category, a, b, outcome)
    )
    group_of_message = (
        select(PromptEmotion.prompt_id, case(GROUP_OF, value=category).label("board"))
        .where(category.in_(EMONET_CATEGORIES))
        .distinct()
        .subquery("message_group")
    )
    board = group_of_message.c.board
    groups = (
        select(board, a, b, outcome, votes)
        .select_from(source)
        .join(group_of_message, group_of_message.c.prompt_id == prompt_id)
        .where(*which)
        .group_by(board, a, b, outcome)
        .order_by(board, a, b, outcome)
    )
    return [overall, categories, groups]


def _cells_of(which: list, sign: int) -> list:
    """The cells of the stored votes `which` picks (a vote's message is its battle's)."""
    source = sa_join(Vote, Battle, Battle.id == Vote.battle_id)
    return _cells(source, Vote.model_a_id, Vote.model_b_id, Vote.outcome, Battle.prompt_id, which, sign)


def _upsert(session: Session, cells: list, *, empty: bool = False) -> None:
    """Add the cells to `vote_count`. Each SELECT gives its cells in the key's order, so the upsert walks the
    primary key's pages once instead of touching them at random (PostgreSQL, 1.1M category cells: 10 s instead
    of 24 s; the sort costs about 1 s of that). Into an `empty` table the cells are plain inserts: the SELECTs'
    boards are disjoint (overall, categories, groups) and each gives a cell once, so no row can conflict, and
    the upsert's probe for one is work for nothing (the first import of a big file writes millions of cells)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = ["board", "model_a_id", "model_b_id", "outcome", "n"]
    for selected in cells:
        stmt = insert(VoteCount).from_select(columns, selected)
        if not empty:
            stmt = stmt.on_conflict_do_update(
                index_elements=["board", "model_a_id", "model_b_id", "outcome"],
                set_={"n": VoteCount.n + stmt.excluded.n},
            )
        session.execute(stmt.execution_options(synchronize_session=False))


def _add(session: Session, which: list, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the cells of the votes `which` picks."""
    _upsert(session, _cells_of(which, sign))


def _mark(session: Session) -> int:
    """The mark (0 when its row is missing: nothing folded yet), stable until the transaction ends. On PostgreSQL
    this transaction holds ROW EXCLUSIVE on `vote` (any write of a vote takes it), which fold()'s lock waits for."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("LOCK TABLE vote IN ROW EXCLUSIVE MODE"))
    return int(session.scalar(select(VoteCountMark.last_vote_id).where(VoteCountMark.id == 1)) or 0)


def _set_mark(session: Session, value: int) -> None:
    if not session.execute(update(VoteCountMark).where(VoteCountMark.id == 1).values(last_vote_id=value)).rowcount:
        session.add(VoteCountMark(id=1, last_vote_id=value))
        session.flush()


def fold(session: Session) -> int:
    """Add the votes above the mark to the counts and move the mark to the largest vote id; in the caller's
    transaction. Returns how many votes were folded."""
    if session.get_bind().dialect.name == "postgresql":
        # Waits for every transaction writing votes, holds new ones back until this commits, and excludes any
        # other fold: no vote at or below the new mark can commit after it.
        session.execute(text("LOCK TABLE vote IN SHARE ROW EXCLUSIVE MODE"))
    mark = _mark(session)
    largest = session.scalar(select(func.max(Vote.id))) or 0
    if largest <= mark:
        return 0
    new = [Vote.id > mark, Vote.id <= largest]
    folded = session.scalar(select(func.count()).where(*new, Vote.counts_for_leaderboard.is_(True)))
    _add(session, [*new, Vote.counts_for_leaderboard.is_(True)], 1)
    _set_mark(session, largest)
    return int(folded)


@contextlib.contextmanager
def folding_staged(session: Session, staged: str):
    """Around an import that writes the votes of the table `staged` (one row per new vote, with `model_a_id`,
    `model_b_id`, `outcome`, `counted` and `prompt_id`, the vote's message): the counts take those votes from
    the staged rows, which already hold each vote's cell, instead of grouping the new votes joined to their
    battles afterwards (at a million votes that join was most of the import's time).

    Before the write, fold() adds any site votes above the mark and takes its lock (PostgreSQL: no other vote can
    commit until this transaction does), so every vote above the mark after the write is a staged one: the staged
    cells are added and the mark moves to the largest id. PostgreSQL only: SQLite takes no lock before its first
    write, so there the import folds after its write (fold()). Enter it after any stronger lock the import takes
    on `battle` (--exclusive's DDL): taking this one first could deadlock with a site vote holding `battle`."""
    fold(session)
    yield
    largest = session.scalar(select(func.max(Vote.id))) or 0
    if largest <= _mark(session):
        return
    rows = table(staged, column("model_a_id"), column("model_b_id"), column("outcome"), column("counted"),
                 column("prompt_id"))  # fmt: skip
    c = rows.c
    # Empty: nothing was ever folded (a first import); the fold's lock keeps it so until this commits.
    empty = session.scalar(select(VoteCount.board).limit(1)) is None
    cells = _cells(rows, c.model_a_id, c.model_b_id, c.outcome, c.prompt_id, [c.counted.is_(True)], 1)
    _upsert(session, cells, empty=empty)
    _set_mark(session, largest)


def reset(session: Session) -> None:
    """Forget every count: the next fold counts every vote again (after deletions no delta describes)."""
    session.execute(VoteCount.__table__.delete())
    _set_mark(session, 0)


def _shift(session: Session, ids: list[int], sign: int, *, counted_only: bool) -> None:
    if not ids:
        return
    mark = _mark(session)
    ids = sorted(i for i in ids if i <= mark)
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        which = [Vote.id.in_(ids[start : start + _IDS_PER_STATEMENT])]
        if counted_only:
            which.append(Vote.counts_for_leaderboard.is_(True))
        _add(session, which, sign)


def flipped(session: Session, stmt, sign: int) -> int:
    """Run `stmt`, an UPDATE of Vote that turns `counts_for_leaderboard` on (sign 1) or off (sign -1) for the rows
    it takes, and note their ids for settle(); returns how many rows it changed."""
    ids = session.execute(stmt.returning(Vote.id).execution_options(synchronize_session=False)).scalars().all()
    net = session.info.setdefault(_FLIPS, {})
    for vote_id in ids:
        net[vote_id] = net.get(vote_id, 0) + sign
    return len(ids)


def settle(session: Session) -> None:
    """Shift the counts by the flips noted since the last settle (a vote lifted and excluded again nets zero)."""
    net = session.info.pop(_FLIPS, {})
    for sign in (1, -1):
        _shift(session, [i for i, n in net.items() if n == sign], sign, counted_only=False)


@contextlib.contextmanager
def recounted(session: Session, ids_stmt):
    """Around a change to the votes `ids_stmt` selects (their ids): their cells are taken away before and those
    still counted added back after, whatever the change did (deleted them, moved their message)."""
    ids = list(session.execute(ids_stmt).scalars())
    _shift(session, ids, -1, counted_only=True)
    yield
    _shift(session, ids, 1, counted_only=True)
    # SQLite gives a new row the largest id + 1: after the newest votes were deleted, new ones would take ids at
    # or below the mark and never be folded. The votes left up to the mark are all counted, so it can come down.
    largest = session.scalar(select(func.max(Vote.id))) or 0
    if largest < _mark(session):
        _set_mark(session, largest)


def overall_rows(session: Session) -> list[tuple[int, int, str, int]]:
    """The overall board's (model_a_id, model_b_id, outcome, votes) cells with votes."""
    return (
        session.connection()
        .execute(
            select(VoteCount.model_a_id, VoteCount.model_b_id, VoteCount.outcome, VoteCount.n)
            .where(VoteCount.board == OVERALL, VoteCount.n > 0)
            .order_by(VoteCount.model_a_id, VoteCount.model_b_id, VoteCount.outcome)
        )
        .all()
    )
