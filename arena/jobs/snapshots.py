"""The read side of ratings and analyses: which snapshot to show, and its rows. Pages, the API and the export
use only this module, so serving them never imports the rating engine (numpy, scipy, choix)."""

from __future__ import annotations

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from arena.models import AnalysisRun, BoardMatrices, Model, Rating, RatingRun
from arena.taxonomy import EMONET_GROUPS, canonical_category

OVERALL = "overall"
# Boards by how much of a conversation the voter had seen (Vote.turns): several exchanges, or one reply each.
CONVERSATIONS = "conversations"
SINGLE_TURN = "single-turn"
TURN_BOARDS = (CONVERSATIONS, SINGLE_TURN)
# Every counted vote and the LLM judges' scores and pairwise verdicts in one Bradley-Terry fit
# (arena.jobs.composite_board); stored when some judge scored or compared replies of two rated models.
COMPOSITE = "composite"
# Boards that are not emotion boards: the overall board's votes, cut or combined another way.
OTHER_BOARDS = (OVERALL, *TURN_BOARDS, COMPOSITE)
# The overall board of each evaluation session's first vote (and every vote without a session); stored under this
# label only when some vote came later in its session, for otherwise it is the overall board itself.
FIRST_VOTES = "overall:first"
ORDERS = ("all", "first")


class RecomputeError(ValueError):
    """The request cannot be computed (unknown category, no votes, ...); the message says why."""


class NoSuchBoard(RecomputeError):
    """A valid name and a valid order that no recompute ever stores together (the first votes of an emotion
    board): not a malformed request, a board that does not exist."""


def resolve_category(label: str) -> tuple[str, tuple[str, ...] | None]:
    """'overall', an EmoNet group, or one EmoNet category -> (canonical label, categories to match)."""
    if label.strip().casefold() == OVERALL:
        return OVERALL, None
    for group, categories in EMONET_GROUPS.items():
        if label.strip().casefold() == group.casefold():
            return group, categories
    category = canonical_category(label)
    if category is None:
        raise RecomputeError(f"unknown category {label!r}: use 'overall', an EmoNet group or an EmoNet category")
    return category, (category,)


def resolve_board(label: str) -> str:
    """A board's canonical label: a turn board ('conversations', 'single-turn'), the composite board, or what
    resolve_category says."""
    folded = label.strip().casefold()
    for board in (*TURN_BOARDS, COMPOSITE):
        if folded == board:
            return board
    try:
        return resolve_category(label)[0]
    except RecomputeError:
        raise RecomputeError(
            f"unknown category {label!r}: use 'overall', {CONVERSATIONS!r}, {SINGLE_TURN!r}, {COMPOSITE!r}, an EmoNet "
            "group or an EmoNet category"
        ) from None


def latest_run(session: Session, category: str = OVERALL) -> RatingRun | None:
    """The newest complete run that rated `category`."""
    return session.scalar(
        select(RatingRun)
        .where(
            RatingRun.status == "complete", exists().where(Rating.run_id == RatingRun.id, Rating.category == category)
        )
        .order_by(RatingRun.id.desc())
        .limit(1)
    )


def run_ratings(session: Session, run_id: int, category: str = OVERALL) -> list[tuple[Rating, Model]]:
    """A run's ratings in one category, best first."""
    return list(
        session.execute(
            select(Rating, Model)
            .join(Model, Model.id == Rating.model_id)
            .where(Rating.run_id == run_id, Rating.category == category)
            .order_by(Rating.rating.desc(), Model.slug)
        ).tuples()
    )


def latest_analysis(session: Session, category: str = OVERALL, rating_run_id: int | None = None) -> AnalysisRun | None:
    """The newest analysis of `category` (of that rating run, when given)."""
    stmt = select(AnalysisRun).order_by(AnalysisRun.id.desc())
    if rating_run_id is not None:
        stmt = stmt.where(AnalysisRun.rating_run_id == rating_run_id)
    return next((r for r in session.scalars(stmt) if r.params.get("category") == category), None)


def analyses_of(session: Session, rating_run_id: int) -> list[AnalysisRun]:
    """The newest analysis of each category of one rating run, overall first, then by category."""
    newest: dict[str, AnalysisRun] = {}
    for run in session.scalars(
        select(AnalysisRun).where(AnalysisRun.rating_run_id == rating_run_id).order_by(AnalysisRun.id.desc())
    ):
        newest.setdefault(run.params.get("category", OVERALL), run)
    return sorted(newest.values(), key=lambda r: (r.params.get("category") != OVERALL, r.params.get("category", "")))


def analysis_json(run: AnalysisRun) -> dict:
    """An analysis run as /api/analysis serves it (and the report reads it): the stored result, untouched, with
    the ids and parameters that reproduce it."""
    return {
        "analysis_run_id": run.id,
        "rating_run_id": run.rating_run_id,
        "category": run.params.get("category", OVERALL),
        "computed_at": run.created_at.isoformat(),
        "code_version": run.code_version,
        "feature_set": run.feature_version,
        "params": run.params,
        "result": run.result,
    }


def latest_summary(session: Session, field: str, run_id: int | None = None) -> dict | None:
    """The newest overall run's (or run `run_id`'s) summary `field` (null when that run had none) with the run's
    id and time; None when no such run exists."""
    run = latest_run(session) if run_id is None else session.get(RatingRun, run_id)
    if run is None:
        return None
    return {
        "run_id": run.id,
        "computed_at": run.finished_at.isoformat() if run.finished_at else None,
        field: (run.summary or {}).get(field),
    }


def latest_reliability(session: Session, run_id: int | None = None) -> dict | None:
    """The newest overall run's (or run `run_id`'s) repeat measures (run summary `reliability`, null without
    repeats)."""
    return latest_summary(session, "reliability", run_id)


def newest_run_id(session: Session) -> int | None:
    """The newest rating run of any kind: a page's rendered board is current while this stays the same."""
    return session.scalar(select(func.max(RatingRun.id)))


def board_matrices(session: Session, run_id: int, category: str) -> dict:
    """A run's matrices for one board (models/BoardMatrices); empty for a board the run did not fit."""
    stmt = select(BoardMatrices.matrices).where(BoardMatrices.run_id == run_id, BoardMatrices.category == category)
    return session.scalar(stmt) or {}


def rank_intervals(matrices: dict) -> dict[int, list[int]]:
    """Model id -> [low, high]: its 95% rank interval as the run stored it with the board (none before they were)."""
    low, high = matrices.get("rank_low"), matrices.get("rank_high")
    if not low or not high:
        return {}
    return {m: [lo, hi] for m, lo, hi in zip(matrices.get("model_ids", []), low, high, strict=False)}
