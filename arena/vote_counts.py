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

from sqlalchemy import case, func, literal, select, text, update
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


def _cells_of(which: list, sign: int) -> list:
    """The SELECTs giving (board, model_a_id, model_b_id, outcome, votes) for the votes `which` picks: the overall
    board, each category board and each group board (a vote counts once on a group board however many of the
    group's categories its message has)."""
    a, b, outcome = Vote.model_a_id, Vote.model_b_id, Vote.outcome
    votes = func.count() * sign
    overall = select(literal(OVERALL), a, b, outcome, votes).where(*which).group_by(a, b, outcome)
    tagged = (
        select()
        .select_from(Vote)
        .join(Battle, Battle.id == Vote.battle_id)
        .join(PromptEmotion, PromptEmotion.prompt_id == Battle.prompt_id)
        .where(*which, PromptEmotion.category.in_(EMONET_CATEGORIES))
    )
    category = PromptEmotion.category
    categories = tagged.add_columns(category, a, b, outcome, votes).group_by(category, a, b, outcome)
    group = case(GROUP_OF, value=PromptEmotion.category)
    distinct = func.count(Vote.id.distinct()) * sign
    groups = tagged.add_columns(group, a, b, outcome, distinct).group_by(group, a, b, outcome)
    return [overall, categories, groups]


def _add(session: Session, which: list, sign: int) -> None:
    """Add (sign 1) or take away (sign -1) the cells of the votes `which` picks."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = ["board", "model_a_id", "model_b_id", "outcome", "n"]
    for cells in _cells_of(which, sign):
        stmt = insert(VoteCount).from_select(columns, cells)
        stmt = stmt.on_conflict_do_update(
            index_elements=["board", "model_a_id", "model_b_id", "outcome"],
            set_={"n": VoteCount.n + stmt.excluded.n},
        )
        session.execute(stmt.execution_options(synchronize_session=False))


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
