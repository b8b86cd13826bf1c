"""The recompute job: SQL aggregate -> ratings (pure math) -> one immutable RatingRun snapshot.

Votes are counted in SQL (GROUP BY model_a, model_b, outcome), so the Python side only ever holds one row per
(pair, outcome) cell: its cost grows with the number of models, not votes. Reading and writing happen in two
short transactions; the fit in between holds no lock, and two runs never touch each other's rows.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version

import numpy as np
from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

from arena.config import PROJECT_ROOT
from arena.jobs import vote_filters
from arena.jobs.snapshots import OVERALL, RecomputeError, resolve_category
from arena.models import Battle, Model, PromptEmotion, Rating, RatingRun, Vote, utcnow
from arena.taxonomy import EMONET_GROUPS
from arena.voting.moderation import exclusions
from ratings.intervals import ClusteredOutcomes
from ratings.leaderboard import Leaderboard, RatingParams, rate
from ratings.outcomes import PairOutcomes


@dataclass(frozen=True)
class RecomputeRequest:
    ci: str = "bootstrap"
    rounds: int = 1000
    seed: int = 0
    both_bad: str = "tie"
    alpha: float = RatingParams.alpha
    # None: overall plus every EmoNet group that has votes.
    categories: tuple[str, ...] | None = None
    anchor_model: str | None = None
    anchor_score: float = 1000.0
    # The vote-quality filters' settings; None runs without them (and lifts their earlier exclusions).
    filters: vote_filters.FilterSettings | None = field(default_factory=vote_filters.FilterSettings)


@dataclass
class CategoryResult:
    category: str
    model_ids: list[int]
    board: Leaderboard
    n_votes: int


@dataclass
class RecomputeResult:
    run_id: int
    n_votes: int
    results: list[CategoryResult] = field(default_factory=list)
    filters: vote_filters.FilterReport | None = None
    # Votes kept but not counted in this run, per reason (the filters' and every other).
    excluded: dict[str, int] = field(default_factory=dict)


def code_version() -> str:
    try:
        base = version("eq-arena")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        base = "0+unknown"
    try:
        sha = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        return f"{base}+g{sha}" if sha else base
    except (OSError, subprocess.SubprocessError):
        return base


def in_category(categories: tuple[str, ...]):
    return exists().where(PromptEmotion.prompt_id == Battle.prompt_id, PromptEmotion.category.in_(categories))


def _by_slug(session: Session, model_ids: set[int]) -> list[int]:
    """Models in slug order: the same votes give the same cells, and so the same bootstrap draws for a seed,
    in any database (ids differ after an export is imported elsewhere; slugs do not)."""
    if not model_ids:
        return []
    rows = session.execute(select(Model.id, Model.slug).where(Model.id.in_(model_ids))).all()
    return [model_id for model_id, _ in sorted(rows, key=lambda r: r[1])]


def aggregate(session: Session, categories: tuple[str, ...] | None) -> tuple[list[int], PairOutcomes]:
    """Counts per (model_a, model_b, outcome) of the votes that count, as PairOutcomes over the models seen."""
    stmt = select(Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count()).where(
        Vote.counts_for_leaderboard.is_(True)
    )
    if categories is not None:
        stmt = stmt.join(Battle, Battle.id == Vote.battle_id).where(in_category(categories))
    rows = session.execute(stmt.group_by(Vote.model_a_id, Vote.model_b_id, Vote.outcome)).all()
    model_ids = _by_slug(session, {r[0] for r in rows} | {r[1] for r in rows})
    index = {m: k for k, m in enumerate(model_ids)}
    outcomes = PairOutcomes.from_rows(len(model_ids), [(index[a], index[b], o, c) for a, b, o, c in rows])
    return model_ids, outcomes


def aggregate_by_voter(session: Session, categories: tuple[str, ...] | None) -> tuple[list[int], ClusteredOutcomes]:
    """Counts per (voter, model_a, model_b, outcome); a vote without a voter key is its own cluster."""
    voter = func.coalesce(Battle.judge_key, literal("battle:") + cast(Battle.id, String))
    stmt = (
        select(voter, Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count())
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True))
    )
    if categories is not None:
        stmt = stmt.where(in_category(categories))
    rows = session.execute(stmt.group_by(voter, Vote.model_a_id, Vote.model_b_id, Vote.outcome)).all()
    model_ids = _by_slug(session, {r[1] for r in rows} | {r[2] for r in rows})
    return model_ids, ClusteredOutcomes.from_rows(rows, {m: k for k, m in enumerate(model_ids)})


def _groups_with_votes(session: Session) -> list[str]:
    # Start from the (few) tagged prompts and probe their battles by index, never scanning all votes.
    counted_battle = (
        select(Battle.id)
        .join(Vote, Vote.battle_id == Battle.id)
        .where(Battle.prompt_id == PromptEmotion.prompt_id, Vote.counts_for_leaderboard.is_(True))
        .exists()
    )
    present = set(session.scalars(select(PromptEmotion.category).where(counted_battle).distinct()))
    return [group for group, categories in EMONET_GROUPS.items() if present & set(categories)]


def _rate_category(session: Session, label: str, request: RecomputeRequest, anchor_id: int | None):
    label, categories = resolve_category(label)
    if request.ci == "cluster":
        model_ids, clustered = aggregate_by_voter(session, categories)
        outcomes = clustered.cells
    else:
        (model_ids, outcomes), clustered = aggregate(session, categories), None
    if len(model_ids) < 2 or outcomes.total == 0:
        return None
    anchor = None
    if anchor_id is not None:
        if anchor_id not in model_ids:
            raise RecomputeError(f"the anchor model {request.anchor_model!r} has no counted votes in {label!r}")
        anchor = (model_ids.index(anchor_id), request.anchor_score)
    params = RatingParams(
        ci=request.ci, rounds=request.rounds, seed=request.seed, alpha=request.alpha,
        both_bad=request.both_bad, anchor=anchor,
    )  # fmt: skip
    return label, model_ids, outcomes, clustered, params


def recompute(factory: sessionmaker[Session], read_factory: sessionmaker[Session], request: RecomputeRequest):
    """Compute and store one RatingRun; returns the RecomputeResult. Raises RecomputeError on bad requests."""
    started = utcnow()
    try:
        RatingParams(ci=request.ci, rounds=request.rounds, both_bad=request.both_bad, alpha=request.alpha)
    except ValueError as exc:
        raise RecomputeError(str(exc)) from exc
    # 0. Vote-quality filters, before anything is counted: decide from per-voter aggregates, then mark the
    # votes in one short write transaction.
    with read_factory() as session:
        decided = vote_filters.plan(session, request.filters, alpha=request.alpha, both_bad=request.both_bad)
    with factory() as session, session.begin():
        report = vote_filters.apply(session, decided)
    # 1. Read: one short read-only transaction, aggregates only.
    with read_factory() as session:
        excluded = {reason or "": n for reason, n in exclusions(session)}
        anchor_id = None
        if request.anchor_model is not None:
            anchor_id = session.scalar(select(Model.id).where(Model.slug == request.anchor_model))
            if anchor_id is None:
                raise RecomputeError(f"no model with slug {request.anchor_model!r} to anchor on")
        labels = list(request.categories) if request.categories else [OVERALL, *_groups_with_votes(session)]
        for label in labels:
            resolve_category(label)  # unknown names fail before any work
        jobs = [job for label in labels if (job := _rate_category(session, label, request, anchor_id))]
    if not jobs:
        raise RecomputeError("no counted votes between at least two models to rate")
    # 2. Fit: no transaction open.
    results = [
        CategoryResult(label, model_ids, rate(outcomes, params, clustered), int(outcomes.total))
        for label, model_ids, outcomes, clustered, params in jobs
    ]
    # 3. Write: the run and all its ratings in one transaction.
    with factory() as session, session.begin():
        run = RatingRun(
            started_at=started,
            finished_at=utcnow(),
            status="complete",
            params={
                **asdict(request),
                "categories": [r.category for r in results],
                "filters": report.as_params(),
                "excluded": excluded,
            },
            seed=request.seed,
            code_version=code_version(),
            n_votes=results[0].n_votes,
            matrices={r.category: _matrices(r) for r in results},
        )
        session.add(run)
        session.flush()
        session.add_all(rating for r in results for rating in _ratings(run.id, r))
    return RecomputeResult(run.id, run.n_votes, results, report, excluded)


def _finite(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


def _matrices(result: CategoryResult) -> dict:
    board = result.board
    return {
        "model_ids": result.model_ids,
        "battles": board.pair_battles.astype(int).tolist(),
        "win_rate": [[_finite(v) for v in row] for row in board.pair_win_rate],
    }


def _ratings(run_id: int, result: CategoryResult) -> list[Rating]:
    b = result.board
    return [
        Rating(
            run_id=run_id,
            category=result.category,
            model_id=model_id,
            rating=float(b.rating[k]),
            ci_low=float(b.ci_low[k]),
            ci_high=float(b.ci_high[k]),
            rank_ub=int(b.rank_ub[k]),
            battles=int(b.battles[k]),
            wins=float(b.wins[k]),
            ties=float(b.ties[k]),
            win_rate=_finite(b.win_rate[k]),
        )
        for k, model_id in enumerate(result.model_ids)
    ]
