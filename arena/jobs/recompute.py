"""The recompute job: SQL aggregate -> ratings (pure math) -> one immutable RatingRun snapshot.

The overall board's votes are counted in SQL (GROUP BY model_a, model_b, outcome); the emotion boards' come from
one read of the counted votes (prompt and cell per vote, off a covering index) summed per board in numpy
(arena/jobs/boards.py). Either way the fit only ever sees one count per (pair, outcome) cell, so its cost grows
with the number of models, not votes. The conversation boards, the first-vote board and the session clusters of
the intervals come from one GROUP BY over the conversation rows (arena/jobs/sessions.py; one EXISTS when there are
none). Reading and writing happen in two short transactions; the fit in between holds no lock, and two runs never
touch each other's rows.
"""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version

import numpy as np
from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session, sessionmaker

import arena.vote_counts as vote_counts
from arena.config import PROJECT_ROOT
from arena.jobs import (
    arm_policy,
    boards,
    composite_board,
    provenance,
    reliability,
    run_rows,
    sessions,
    summary,
    vote_filters,
    vote_reasons,
)
from arena.jobs.scope import EVERY_VOTE, VoteScope
from arena.jobs.snapshots import (
    COMPOSITE,
    OTHER_BOARDS,
    OVERALL,
    TURN_BOARDS,
    RecomputeError,
    resolve_board,
    resolve_category,
)
from arena.models import Battle, Conversation, Model, PromptEmotion, RatingRun, Vote, utcnow
from arena.voting.moderation import exclusions
from ratings import flip
from ratings.intervals import ClusteredOutcomes
from ratings.leaderboard import Leaderboard, RatingParams, rate
from ratings.outcomes import PairOutcomes
from ratings.ties import BothBadRates, both_bad_rates


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
    # Emotion boards pooled toward the rest of the votes (ratings.pooling); False fits each on its own votes.
    pooling: bool = True
    # Intervals resample whole evaluation sessions (a vote without one is its own); False treats every vote as
    # independent. Without sessions either is the plain bootstrap, bit for bit.
    session_clusters: bool = True
    # Only anonymous votes and/or votes up to a date: a run of its own beside the current board (arena.jobs.scope).
    scope: VoteScope = field(default_factory=VoteScope)
    # Battles shown under a presentation arm count on the board too (ARENA_ARMS_ON_BOARD); by default they do not.
    arms_on_board: bool = False
    # Count every vote again into the maintained counts first (after changes made to the votes by hand).
    recount: bool = False


@dataclass
class CategoryResult:
    category: str
    model_ids: list[int]
    board: Leaderboard
    n_votes: int
    both_bad: BothBadRates | None = None
    # Pooled boards: per model the weight of the rest of the votes in its rating, the board's mean, and tau.
    borrowed: np.ndarray | None = None
    board_borrowed: float | None = None
    tau: float | None = None
    # Per model: votes whose removal would swap it with the model listed just above it (nan: none; ratings.flip).
    flip_above: np.ndarray | None = None
    # Per model: (chance of an acceptable reply, 95% low, high) from the grounded fit (ratings.grounded).
    acceptable: np.ndarray | None = None


@dataclass
class RecomputeResult:
    run_id: int
    n_votes: int
    results: list[CategoryResult] = field(default_factory=list)
    filters: vote_filters.FilterReport | None = None
    # Votes kept but not counted in this run, per reason (the filters' and every other).
    excluded: dict[str, int] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)


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


def aggregate(
    session: Session, categories: tuple[str, ...] | None, scope: VoteScope = EVERY_VOTE, *, maintained: bool = False
) -> tuple[list[int], PairOutcomes]:
    """Counts per (model_a, model_b, outcome) of the votes that count, as PairOutcomes over the models seen.
    `maintained`: the overall board's, read from the maintained counts (vote_counts; folded first) instead."""
    if maintained and categories is None and not scope.active:
        return _outcomes(session, vote_counts.overall_rows(session))
    stmt = select(Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count()).where(
        Vote.counts_for_leaderboard.is_(True), *scope.conditions()
    )
    if categories is not None or scope.joins_battle:
        stmt = stmt.join(Battle, Battle.id == Vote.battle_id)
    if categories is not None:
        stmt = stmt.where(in_category(categories))
    # On the session's connection: plain rows, without the ORM's per-row bookkeeping (one per cell, thousands).
    return _outcomes(session, session.connection().execute(stmt.group_by(Vote.model_a_id, Vote.model_b_id,
                                                                           Vote.outcome)).all())  # fmt: skip


def _outcomes(session: Session, rows) -> tuple[list[int], PairOutcomes]:
    model_ids = _by_slug(session, {r[0] for r in rows} | {r[1] for r in rows})
    index = {m: k for k, m in enumerate(model_ids)}
    outcomes = PairOutcomes.from_rows(len(model_ids), [(index[a], index[b], o, c) for a, b, o, c in rows])
    return model_ids, outcomes


def aggregate_by_voter(
    session: Session, categories: tuple[str, ...] | None, with_sessions: bool = False, scope: VoteScope = EVERY_VOTE
) -> tuple[list[int], ClusteredOutcomes]:
    """Counts per (voter, model_a, model_b, outcome); a vote without a voter key is its own cluster, or with
    `with_sessions` its evaluation session's (a session is one voter's sitting), if it has one."""
    fallback = literal("battle:") + cast(Battle.id, String)
    if with_sessions:
        fallback = func.coalesce(literal("session:") + Conversation.evaluation_session, fallback)
    voter = func.coalesce(Battle.judge_key, fallback)
    stmt = (
        select(voter, Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count())
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True), *scope.conditions())
    )
    if with_sessions:
        stmt = stmt.outerjoin(Conversation, Conversation.battle_id == Battle.id)
    if categories is not None:
        stmt = stmt.where(in_category(categories))
    rows = session.execute(stmt.group_by(voter, Vote.model_a_id, Vote.model_b_id, Vote.outcome)).all()
    model_ids = _by_slug(session, {r[1] for r in rows} | {r[2] for r in rows})
    return model_ids, ClusteredOutcomes.from_rows(rows, {m: k for k, m in enumerate(model_ids)})


def counted_voters(session: Session, scope: VoteScope = EVERY_VOTE) -> dict[str, int]:
    """How many distinct voters the counted votes name, and how many votes name none (each its own cluster)."""
    voters, anonymous = session.execute(
        select(func.count(Battle.judge_key.distinct()), func.count().filter(Battle.judge_key.is_(None)))
        .select_from(Vote)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True), *scope.conditions())
    ).one()
    return {"voters": int(voters), "votes_without_voter": int(anonymous)}


def _rate_category(
    session: Session, label: str, request: RecomputeRequest, anchor_id: int | None, with_sessions: bool = False
):
    label, categories = resolve_category(label)
    if request.ci == "cluster":
        model_ids, clustered = aggregate_by_voter(session, categories, with_sessions, request.scope)
        outcomes = clustered.cells
    else:
        maintained = not request.scope.active
        (model_ids, outcomes), clustered = aggregate(session, categories, request.scope, maintained=maintained), None
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


def _board_results(fits: list[boards.BoardFit]) -> dict[str, CategoryResult]:
    return {
        fit.category: CategoryResult(
            fit.category,
            fit.model_ids,
            fit.board,
            int(fit.outcomes.total),
            both_bad_rates(fit.outcomes),
            fit.borrowed,
            fit.board_borrowed,
            fit.tau,
            fit.flip_above,
        )  # fmt: skip
        for fit in fits
    }


def recompute(factory: sessionmaker[Session], read_factory: sessionmaker[Session], request: RecomputeRequest):
    """Compute and store one RatingRun; returns the RecomputeResult. Raises RecomputeError on bad requests."""
    started = utcnow()
    try:
        RatingParams(ci=request.ci, rounds=request.rounds, both_bad=request.both_bad, alpha=request.alpha)
    except ValueError as exc:
        raise RecomputeError(str(exc)) from exc
    scoped = request.scope.active
    if scoped and any(resolve_board(label) != OVERALL for label in request.categories or ()):
        raise RecomputeError("--anony-only and --as-of rebuild the overall board only")
    # 0. Vote-quality filters, before anything is counted: decide from per-voter aggregates, then mark the
    # votes in one short write transaction. A rebuilt board (scope) takes the votes' standing as it is: it must
    # not change what the current board counts.
    if scoped:
        report = vote_filters.FilterReport(False, None, {}, {}, {}, 0, [])
    else:
        # The votes cast since the last run join the maintained counts (the filters' flips below shift them).
        with factory() as session, session.begin():
            if request.recount:
                vote_counts.reset(session)
            vote_counts.fold(session)
        with read_factory() as session:
            decided = vote_filters.plan(session, request.filters, alpha=request.alpha, both_bad=request.both_bad)
        with factory() as session, session.begin():
            report = vote_filters.apply(session, decided)
            # Battles shown under a presentation arm on or off the board: after the filters, whose lifted
            # exclusions would otherwise count an armed battle again.
            arm_policy.apply(session, request.arms_on_board)
    # 1. Read: one short read-only transaction: the overall counts, then every emotion board's counts from one
    # read of the counted votes (default: both families, every board with votes).
    with read_factory() as session:
        excluded = {reason or "": n for reason, n in exclusions(session)}
        anchor_id = None
        if request.anchor_model is not None:
            anchor_id = session.scalar(select(Model.id).where(Model.slug == request.anchor_model))
            if anchor_id is None:
                raise RecomputeError(f"no model with slug {request.anchor_model!r} to anchor on")
        requested = [resolve_board(label) for label in request.categories or ()]  # unknown names fail here
        # Conversations and sessions: one EXISTS when the arena has none. A rebuilt board is the overall one alone,
        # its votes independent unless clustered by voter.
        conversations = None if scoped else sessions.read(session)
        with_sessions = conversations is not None and conversations.has_session.any()
        overall = _rate_category(session, OVERALL, request, anchor_id, with_sessions and request.session_clusters)
        families = {boards.family_of(label) for label in requested if label not in OTHER_BOARDS}
        if not requested and not scoped:
            families = {boards.GROUPS, boards.CATEGORIES}
        counted = boards.maintained_counts(session, families) if families else {}
        counts = {family: counted[family] for family in sorted(families)}
        voters = counted_voters(session, request.scope) if request.ci == "cluster" else None
        seen = provenance.measure(session)
        repeats = reliability.read(session)
        # Why people voted: per model, the share of its sides tagged with each reason (never part of a board).
        reasons = None if scoped else vote_reasons.rates(session)
        # The composite board: when no board was asked for or it was, and some judge scored rated replies (never
        # beside a rebuilt board: its judges' scores are read as they are now).
        judged = None
        wanted = not scoped and (not requested or COMPOSITE in requested)
        if wanted and overall is not None and composite_board.has_judgements(session):
            judged = composite_board.read(session, overall[1], request.both_bad)
    if overall is None:
        raise RecomputeError("no counted votes between at least two models to rate")
    # 2. Fit: no transaction open. The overall board first: every emotion board borrows from its votes.
    _, overall_ids, overall_outcomes, clustered, params = overall
    clustered_by = "voter" if clustered is not None else None
    if clustered is None and request.session_clusters:
        clustered = sessions.overall_clusters(conversations, overall_ids, overall_outcomes)
        clustered_by = "session" if clustered is not None else None
    overall_board = rate(overall_outcomes, params, clustered)
    overall_flips = flip.board_flips(overall_outcomes, overall_board.rating, overall_board.theta, request.alpha,
                                     request.both_bad, overall_board.component)  # fmt: skip
    accepted = composite_board.acceptable(overall_outcomes)
    acceptable = np.column_stack([accepted.acceptable, accepted.ci_low, accepted.ci_high])
    fitted = {OVERALL: CategoryResult(OVERALL, overall_ids, overall_board, int(overall_outcomes.total),
                                      both_bad_rates(overall_outcomes), flip_above=overall_flips,
                                      acceptable=acceptable)}  # fmt: skip
    composite_summary = None
    if judged is not None:
        fit, shown = composite_board.board(judged, overall_board, params, request.seed)
        fitted[COMPOSITE] = CategoryResult(COMPOSITE, overall_ids, shown, int(overall_outcomes.total),
                                           both_bad_rates(overall_outcomes), acceptable=acceptable)  # fmt: skip
        composite_summary = composite_board.summary(judged, fit)
    for family in counts.values():
        if request.pooling:
            fits = boards.pooled(family, overall_ids, overall_outcomes, overall_board, params)
        else:
            fits = boards.independent(family, overall_ids, params)
        fitted.update(_board_results(fits))
    turn_boards = not scoped and (not requested or any(label in TURN_BOARDS for label in requested))
    fitted.update(_board_results(sessions.fit_boards(conversations, overall_ids, overall_outcomes, params,
                                                     request.session_clusters, turns=turn_boards,
                                                     first=not requested or OVERALL in requested)))  # fmt: skip
    if requested:
        results = [fitted[label] for label in requested if label in fitted]
        if not results:
            raise RecomputeError("no counted votes between at least two models to rate")
    else:
        results = list(fitted.values())
    run_summary = {
        "pooling": request.pooling,
        **({"voters": voters} if voters is not None else {}),
        "sessions": {
            **(conversations.summary() if conversations is not None else sessions.EMPTY_SUMMARY),
            "clustered_by": clustered_by,
            "clusters": None if clustered is None else clustered.n_clusters + clustered.n_singles,
        },
        "ties": summary.ties(overall_outcomes, request.alpha, request.both_bad),
        "position": summary.position(overall_outcomes, request.alpha, request.both_bad),
        "components": summary.component_ids(overall_board, overall_ids),
        "boards": {
            r.category: {"borrowed": run_rows.finite(r.board_borrowed), "tau": run_rows.finite(r.tau)}
            for r in fitted.values() if r.tau is not None
        },
        "provenance": seen,
        # Repeated battles: how far people agree and the ceiling a judge can be held to (null without repeats).
        "reliability": reliability.measure(*repeats, overall_ids, overall_board.theta, seed=request.seed),
        "grounded": composite_board.grounded_summary(accepted),
        "reasons": reasons,
        **({"composite": composite_summary} if composite_summary is not None else {}),
        # Boards whose clustered intervals had too few clusters and fell back to independent votes.
        "warnings": [f"{r.category}: {r.board.fallback}" for r in fitted.values() if r.board.fallback],
        **({"scope": request.scope.as_params()} if scoped else {}),
    }  # fmt: skip
    # Active sampling reads the newest run's weights: a rebuilt board must not steer the site.
    weights = [] if scoped else summary.pair_weights(overall_board, overall_ids, overall_outcomes, request.alpha,
                                                     request.both_bad)  # fmt: skip
    # 3. Write: the run, all its ratings and its pair weights in one transaction.
    with factory() as session, session.begin():
        run = RatingRun(
            started_at=started,
            finished_at=utcnow(),
            status=request.scope.status if scoped else "complete",
            params={
                **asdict(request),
                "scope": request.scope.as_params(),
                "categories": [r.category for r in results],
                "filters": report.as_params(),
                "excluded": excluded,
            },
            seed=request.seed,
            code_version=code_version(),
            n_votes=results[0].n_votes,
            summary=run_summary,
        )
        session.add(run)
        session.flush()
        run_rows.insert_rows(session, run.id, results, weights)
    return RecomputeResult(run.id, run.n_votes, results, report, excluded, run_summary)
