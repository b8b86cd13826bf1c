"""Vote-quality filters, run by the recompute job before the ratings are fitted.

Filters never delete: an excluded vote stays stored with its reason, is counted on the admin page, and an admin
can re-include it (which marks it `reincluded_at`, so no later run excludes it again; a vote counted again because
its voter paid the proof-of-work later is marked too, but still judged: moderation.reincluded_by_admin). The rules, each
conservative (see ratings/voter_quality.py for the statistics):

- daily_cap: a visitor's votes beyond the first `daily_cap` of a UTC day (earliest first).
- one_sided: a voter with at least `min_votes` votes who (nearly) always picks the same side (A or B), or the
  same model, far more often than the ratings (or even a strong liking) make probable.
- outlier_voter: a voter with at least `min_votes` votes that are improbable under the ratings (Chatbot Arena's
  anomalous users), who agrees with the crowd at most half as much as expected and follows no consistent
  taste of their own, i.e. votes like a coin against clear differences.
- network_one_sided, young_cohort: groups rather than single identities (arena/jobs/cohort_filters.py), since a
  new identity is cheap: a network whose votes favour one model far beyond the ratings, and young identities
  of one network that vote only when a given model is on screen.
- influence: last, on the votes the rules above leave (arena/jobs/influence_filter.py): a voter, young cohort
  or network that moves a model's rating further than chance allows and beyond the cap has its most pushing
  votes set aside until it is within the cap, whether or not its votes touch the model they help; on the overall
  board, then on every emotion board (arena/jobs/board_influence.py).

Every voter and network is judged against the ratings fitted without its own votes (leave-one-out), so an attack
never sets the expectation it is tested against.

Only votes cast here with a visitor key are judged; imported votes keep the counting and reason they came with,
and other reasons (too_fast, ...) are never touched. Each run re-evaluates from scratch: its own exclusions
that no longer apply are lifted, in the same transaction that sets the new ones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.jobs import board_influence, cohort_filters, influence_filter
from arena.models import Battle, Vote
from arena.voting.moderation import (
    DAILY_CAP,
    INFLUENCE,
    NETWORK_ONE_SIDED,
    ONE_SIDED,
    OUTLIER_VOTER,
    YOUNG_COHORT,
    reincluded_by_admin,
)
from ratings import bradley_terry as bt
from ratings import voter_quality as vq
from ratings.intervals import ClusteredOutcomes

# In the order they are applied: a vote excluded by an earlier rule keeps that reason.
FILTER_REASONS = (DAILY_CAP, ONE_SIDED, OUTLIER_VOTER, NETWORK_ONE_SIDED, YOUNG_COHORT, INFLUENCE)
_KEYS_PER_STATEMENT = 500
_ADVISORY_LOCK = 0x766F7465  # "vote": this job's write step, one at a time
MAX_DETAILS = 200


@dataclass(frozen=True)
class FilterSettings:
    daily_cap: int = 500
    min_votes: int = vq.DEFAULT_MIN_VOTES
    alpha: float = vq.DEFAULT_ALPHA

    def __post_init__(self) -> None:
        if self.daily_cap < 1:
            raise ValueError("the daily vote cap must be at least 1")
        if self.min_votes < 2:
            raise ValueError("the filters' minimum number of votes must be at least 2")
        if not 0 < self.alpha < 1:
            raise ValueError("the filters' alpha must be between 0 and 1")


@dataclass
class FilterPlan:
    """What the read step decided: the voters to exclude per rule, and why (for the run's parameters)."""

    settings: FilterSettings | None
    voters: dict[str, list[str]] = field(default_factory=dict)
    tests: dict[str, int] = field(default_factory=dict)
    # Per flagged voter: the rule and the figures it was decided on (the first MAX_DETAILS).
    details: list[dict] = field(default_factory=list)
    # False when no vote was cast here with a visitor key (an imported data set): nothing to cap.
    anyone_judged: bool = True
    # Networks and young cohorts to exclude, per model (cohort_filters).
    cohorts: list[cohort_filters.Cohort] = field(default_factory=list)
    # Votes the influence rule sets aside, per (voter, network, cell) (influence_filter).
    set_aside: list[influence_filter.SetAside] = field(default_factory=list)
    influence: dict = field(default_factory=dict)
    # Votes the influence rule sets aside on an emotion board, by id (board_influence), and what it measured.
    board_vote_ids: list[int] = field(default_factory=list)
    influence_boards: dict = field(default_factory=dict)


@dataclass
class FilterReport:
    """What a run's filters did; stored in RatingRun.params["filters"]."""

    enabled: bool
    settings: dict | None
    excluded: dict[str, int]
    voters: dict[str, int]
    tests: dict[str, int]
    lifted: int
    details: list[dict]
    # Per group family, the largest influence on a model before and after the bounds (influence_filter).
    influence: dict = field(default_factory=dict)
    # The emotion boards judged by the influence rule, and per flagged board the same figures (board_influence).
    influence_boards: dict = field(default_factory=dict)

    def as_params(self) -> dict:
        return asdict(self)


def _is_judged():
    """Only votes cast here with a visitor key are judged."""
    return and_(Battle.source != "import", Battle.judge_key.is_not(None))


def _candidates(dialect: str) -> Select:
    """Every judged vote that counts or that these filters excluded, with its voter and its rank in the voter's
    UTC day (earliest first). Votes excluded for any other reason are not candidates, so are never touched."""
    # PostgreSQL stores timestamptz (read in UTC, whatever the session's zone); SQLite naive UTC text.
    day = func.date(func.timezone("UTC", Vote.created_at) if dialect == "postgresql" else Vote.created_at)
    rank = func.row_number().over(partition_by=(Battle.judge_key, day), order_by=(Vote.created_at, Vote.id))
    ours = and_(Vote.exclusion_reason.in_(FILTER_REASONS), ~reincluded_by_admin())
    kept = case((reincluded_by_admin(), 1), else_=0)
    return (
        select(
            Vote.id, Vote.model_a_id, Vote.model_b_id, Vote.outcome, kept.label("kept"),
            Battle.judge_key.label("voter"), Vote.network_hash.label("network"), rank.label("day_rank"),
            Battle.prompt_id, Vote.created_at,
        )
        .join(Battle, Battle.id == Vote.battle_id)
        .where(_is_judged(), or_(Vote.counts_for_leaderboard.is_(True), ours))
    )  # fmt: skip


def _over_cap(candidates, cap: int):
    return and_(candidates.c.day_rank > cap, candidates.c.kept == 0)


def plan(session: Session, settings: FilterSettings | None, *, alpha: float = bt.DEFAULT_ALPHA, both_bad="tie"):
    """Read step: which voters, groups and votes each rule excludes, from counts per (voter, network, model pair,
    outcome) of every vote that counts once the daily cap is applied. Every voter and network is judged against
    the ratings fitted without its own votes. Holds only aggregates in memory."""
    if settings is None:
        return FilterPlan(None)
    result = FilterPlan(settings, voters={reason: [] for reason in FILTER_REASONS if reason != DAILY_CAP})
    if session.scalar(select(Battle.id).where(_is_judged()).limit(1)) is None:
        result.anyone_judged = False
        return result
    candidates = _candidates(session.get_bind().dialect.name).subquery()
    kept = select(candidates).where(~_over_cap(candidates, settings.daily_cap)).subquery()
    voter_votes = func.count().over(partition_by=kept.c.voter)
    sized = select(kept, voter_votes.label("voter_votes")).subquery()
    cell = (sized.c.model_a_id, sized.c.model_b_id, sized.c.outcome)
    connection = session.connection()  # plain rows: no ORM bookkeeping for what can be many of them
    judged = connection.execute(
        select(sized.c.voter, sized.c.network, *cell, func.count()).group_by(sized.c.voter, sized.c.network, *cell)
    ).all()
    unjudged = connection.execute(
        select(Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count())
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True), ~_is_judged())
        .group_by(Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    ).all()
    model_ids = sorted({r[2] for r in judged} | {r[3] for r in judged} | {r[0] for r in unjudged}
                       | {r[1] for r in unjudged})  # fmt: skip
    if len(model_ids) < 2:
        return result
    counted = influence_filter.CountedRows.build(judged, unjudged, model_ids, min_votes=settings.min_votes,
                                                 both_bad=both_bad)  # fmt: skip
    result.tests = {"one_sided_position": 0, "one_sided_model": 0, "outlier_voter": 0}
    per_voter = _per_voter_rows(counted, settings.min_votes)
    if per_voter:
        own = influence_filter.leave_out_strengths(counted, "voter", prior=alpha)
        _judge_voters(result, per_voter, model_ids, own)
    # Groups too: identities too young for the rules above still vote from a network.
    by_network = influence_filter.leave_out_strengths(counted, "network", prior=alpha)
    groups = cohort_filters.plan(connection, sized, min_votes=settings.min_votes, alpha=settings.alpha,
                                 model_ids=model_ids, theta=by_network)  # fmt: skip
    result.cohorts = groups.cohorts
    result.tests.update(groups.tests)
    for cohort in groups.cohorts:
        result.voters[cohort.reason].append(f"{cohort.network}:{cohort.model_id}")
    result.details += groups.details[: max(0, MAX_DETAILS - len(result.details))]
    # Last, on what the rules above leave: no voter, young cohort or network moves the board beyond the cap.
    bounded = influence_filter.plan(counted.without(_excluded_rows(counted, result)), prior=alpha,
                                    alpha=settings.alpha)  # fmt: skip
    result.set_aside, result.influence = bounded.set_aside, bounded.measured
    result.tests.update(bounded.tests)
    # Then every emotion board, on what the overall board's rules leave: an attack on one board's prompts only is
    # diluted overall by everyone else's votes.
    on_boards = board_influence.plan(
        session, kept, _is_judged(), excluded_voters=set(result.voters[ONE_SIDED]) | set(result.voters[OUTLIER_VOTER]),
        cohorts=result.cohorts, overall=bounded.set_aside, min_votes=settings.min_votes, prior=alpha,
        alpha=settings.alpha, both_bad=both_bad,
    )  # fmt: skip
    result.board_vote_ids, result.influence_boards = on_boards.vote_ids, on_boards.measured
    if on_boards.measured:
        result.tests["influence_boards"] = on_boards.tests
    result.voters[INFLUENCE] = sorted({row.voter for row in bounded.set_aside} | on_boards.voters)
    result.details += bounded.details[: max(0, MAX_DETAILS - len(result.details))]
    result.details += on_boards.details[: max(0, MAX_DETAILS - len(result.details))]
    return result


def _per_voter_rows(counted: influence_filter.CountedRows, min_votes: int) -> list[tuple]:
    """(voter, model_a_id, model_b_id, outcome, count) for the voters with enough votes to be tested alone."""
    totals: dict[tuple, float] = {}
    for row, (voter, _, a, b, outcome) in enumerate(counted.keys):
        if voter is not None and not counted.young[row]:
            key = (voter, a, b, outcome)
            totals[key] = totals.get(key, 0.0) + float(counted.votes.count[row])
    return [(*key, n) for key, n in totals.items()]


def _excluded_rows(counted: influence_filter.CountedRows, decided: FilterPlan) -> np.ndarray:
    """The rows the per-voter and cohort rules exclude."""
    voters = set(decided.voters.get(ONE_SIDED, [])) | set(decided.voters.get(OUTLIER_VOTER, []))
    index = {m: k for k, m in enumerate(counted.model_ids)}
    drop = np.array([voter in voters for voter, *_ in counted.keys], dtype=bool)
    for cohort in decided.cohorts:
        model = index.get(cohort.model_id)
        if model is None or cohort.network not in counted.networks:
            continue
        network = counted.networks.index(cohort.network)
        rows = (counted.network == network) & ((counted.votes.model_a == model) | (counted.votes.model_b == model))
        if cohort.voters:
            members = set(cohort.voters)
            rows &= np.array([voter in members for voter, *_ in counted.keys], dtype=bool)
        drop |= rows
    return drop


def _judge_voters(result: FilterPlan, judged, model_ids: list[int], own: dict[str, np.ndarray]) -> None:
    """The per-voter rules, on the voters with enough votes to be tested, each against the ratings fitted
    without their votes (`own`)."""
    settings = result.settings
    index = {m: k for k, m in enumerate(model_ids)}
    keys = sorted({r[0] for r in judged})
    cells = vq.VoteCells.from_clustered(ClusteredOutcomes.from_rows(judged, index), np.stack([own[k] for k in keys]))
    by_position = vq.one_sided_by_position(cells, min_votes=settings.min_votes, alpha=settings.alpha)
    by_model = vq.one_sided_by_model(cells, len(model_ids), min_votes=settings.min_votes, alpha=settings.alpha)
    outliers = vq.outlier_voters(cells, min_votes=settings.min_votes, alpha=settings.alpha)
    one_sided = by_position.flagged | by_model.flagged
    result.voters[ONE_SIDED] = [keys[v] for v in np.flatnonzero(one_sided)]
    result.voters[OUTLIER_VOTER] = [keys[v] for v in np.flatnonzero(outliers.flagged & ~one_sided)]
    result.tests = {
        "one_sided_position": 2 * by_position.n_tests,
        "one_sided_model": by_model.n_tests,
        "outlier_voter": outliers.n_tests,
    }
    for v in np.flatnonzero(one_sided | outliers.flagged)[:MAX_DETAILS]:
        if by_position.flagged[v]:
            rule, flags, figures = "same_side", by_position, {"share_a": by_position.effect[v]}
        elif by_model.flagged[v]:
            rule, flags = "same_model", by_model
            figures = {"model_id": model_ids[by_model.model[v]], "share": by_model.effect[v]}
        else:
            rule, flags, figures = "improbable_under_ratings", outliers, {"agreement": outliers.effect[v]}
        result.details.append({
            "voter": keys[v], "reason": OUTLIER_VOTER if flags is outliers else ONE_SIDED, "rule": rule,
            "votes": int(flags.n_votes[v]), "p_bound": float(f"{flags.p_bound[v]:.3g}"),
            **{k: x if isinstance(x, int) else round(float(x), 4) for k, x in figures.items()},
        })  # fmt: skip


def apply(session: Session, decided: FilterPlan) -> FilterReport:
    """Write step (call inside one transaction): lift this job's earlier exclusions, then one bulk UPDATE per
    rule. Re-included votes and other reasons are never touched."""
    if session.get_bind().dialect.name == "postgresql":
        # Two overlapping runs would update the same rows in different orders (a deadlock); take turns instead.
        # SQLite's single writer already serialises them.
        session.execute(select(func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
    ours = (
        select(Vote.id)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(
            Vote.counts_for_leaderboard.is_(False),
            Vote.exclusion_reason.in_(FILTER_REASONS),
            ~reincluded_by_admin(),
            _is_judged(),
        )
    )
    lifted = _set(session, Vote.id.in_(ours), counts=True, reason=None)
    settings = decided.settings
    excluded = dict.fromkeys(FILTER_REASONS, 0)
    if settings is not None and decided.anyone_judged:
        candidates = _candidates(session.get_bind().dialect.name).subquery()
        over_cap = select(candidates.c.id).where(_over_cap(candidates, settings.daily_cap))
        excluded[DAILY_CAP] = _set(session, Vote.id.in_(over_cap), counts=False, reason=DAILY_CAP)
        for reason in (ONE_SIDED, OUTLIER_VOTER):
            keys = decided.voters.get(reason, [])
            for start in range(0, len(keys), _KEYS_PER_STATEMENT):
                battles = select(Battle.id).where(
                    Battle.judge_key.in_(keys[start : start + _KEYS_PER_STATEMENT]), _is_judged()
                )
                excluded[reason] += _set(session, Vote.battle_id.in_(battles), counts=False, reason=reason)
        excluded.update(cohort_filters.exclude(session, decided.cohorts, _exclude))
        excluded[INFLUENCE] = influence_filter.exclude(session, decided.set_aside, _is_judged())
        excluded[INFLUENCE] += board_influence.exclude(session, decided.board_vote_ids)
    vote_counts.settle(session)
    return FilterReport(
        enabled=settings is not None,
        settings=None if settings is None else asdict(settings),
        excluded=excluded,
        voters={reason: len(keys) for reason, keys in decided.voters.items()},
        tests=decided.tests,
        lifted=lifted,
        details=decided.details,
        influence=decided.influence,
        influence_boards=decided.influence_boards,
    )


def _exclude(session: Session, which: list, reason: str) -> int:
    return _set(session, and_(*which), counts=False, reason=reason)


def _set(session: Session, which, *, counts: bool, reason: str | None) -> int:
    conditions = [which]
    if not counts:  # exclusions only ever take votes that count and were never re-included by an admin
        conditions += [Vote.counts_for_leaderboard.is_(True), ~reincluded_by_admin()]
    stmt = update(Vote).where(*conditions).values(counts_for_leaderboard=counts, exclusion_reason=reason)
    return vote_counts.flipped(session, stmt, 1 if counts else -1)
