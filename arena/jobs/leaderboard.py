"""Read the latest rating snapshot for a category, for the leaderboard page and its JSON twin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from arena.jobs.provenance import for_model
from arena.jobs.scope import ANONY_ONLY
from arena.jobs.snapshots import (
    COMPOSITE,
    FIRST_VOTES,
    ORDERS,
    OVERALL,
    TURN_BOARDS,
    NoSuchBoard,
    RecomputeError,
    board_matrices,
    latest_run,
    rank_intervals,
    resolve_board,
    run_ratings,
)
from arena.models import Model, Rating, RatingRun
from arena.taxonomy import EMONET_GROUPS

# Fewer battles than this and a model's rating is shown as provisional.
PROVISIONAL_BATTLES = 30
# A row opened by a new configuration of its slug stays provisional until this many of its own votes count
# (ARENA_PROVISIONAL_VOTES; the page and the API pass the setting).
PROVISIONAL_VOTES = 300
TABS = (OVERALL, *EMONET_GROUPS)
# A run works out the tie propensity and the position bias once, over all its counted votes (arena.jobs.summary):
# every board shows those figures, named as the overall board's, never as its own.
POSITION_TIES_BOARD = OVERALL


@dataclass(frozen=True)
class BoardRow:
    slug: str
    name: str
    rating: float
    ci_low: float
    ci_high: float
    rank_ub: int
    battles: int
    win_rate: float | None
    provisional: bool
    # Connected component of the comparison graph (0: the largest); None for runs before engine v2.
    component: int | None = None
    # Pooled boards: weight of the rest of the votes in this rating (0 all its own .. 1 all borrowed).
    borrowed: float | None = None
    both_bad_share: float | None = None
    both_bad_low: float | None = None
    both_bad_high: float | None = None
    # Provenance (arena.llm.registry.config_hash; arena.jobs.provenance): the configuration hash (None: nothing
    # here calls the model), the slug of the row this configuration replaced, when this row was retired, its
    # first and last battle (ISO strings, as of the snapshot) and its share of the recent battles shown here.
    config_hash: str | None = None
    variant_of: str | None = None
    retired_at: datetime | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    sampling_share: float | None = None
    # A new configuration with fewer than provisional_new_config_votes counted votes.
    new_config: bool = False
    # Votes whose removal would swap this row with the row above (ratings.flip, confirmed by refits); None for the
    # top row, across components, where no removal would, and for runs before votes-to-flip.
    votes_to_flip_above: int | None = None
    # The grounded fit (ratings.grounded): the chance of a reply better than a just-acceptable one, with its 95%
    # interval; None for runs before it, or on boards that do not carry it.
    acceptable: float | None = None
    acceptable_low: float | None = None
    acceptable_high: float | None = None
    # 95% interval of the model's rank (1: best) from the run's draws; None for runs before rank intervals.
    rank_low: int | None = None
    rank_high: int | None = None


@dataclass(frozen=True)
class BoardSnapshot:
    run_id: int
    category: str
    computed_at: datetime
    n_votes: int
    ci_method: str
    rounds: int
    rows: list[BoardRow]
    # Pairwise matrices in the order of `matrix_slugs`.
    matrix_slugs: list[str]
    pair_battles: list[list[int]]
    pair_win_rate: list[list[float | None]]
    # From the run's summary: this board's mean borrowed weight and the family's tau (pooled boards only), the tie
    # model, position bias, and the components (model slugs per component, largest first).
    board_borrowed: float | None = None
    tau: float | None = None
    ties: dict | None = None
    position: dict | None = None
    components: list[list[str]] | None = None
    provisional_votes: int = PROVISIONAL_VOTES
    sampling_window_days: int | None = None
    # 'all' votes, or each evaluation session's 'first' vote only (with every vote that has no session).
    order: str = "all"
    # The boards the run stored (to offer the conversation boards beside this one), and what its summary says of
    # evaluation sessions: how many, votes in them, later and multi-turn votes, how the intervals clustered.
    boards: tuple[str, ...] = ()
    sessions: dict | None = None
    # The run's grounded fit (both-bad votes counted, measured or not) and, on the composite board, its judges.
    grounded: dict | None = None
    composite: dict | None = None

    @property
    def acceptable_measured(self) -> bool:
        """Some both-bad vote fixed the absolute scale, and this board carries the probabilities."""
        measured = bool(self.grounded and self.grounded.get("measured"))
        return measured and any(r.acceptable is not None for r in self.rows)

    @property
    def has_composite(self) -> bool:
        return COMPOSITE in self.boards

    # 'complete' (the current board's runs), 'anony-only' or 'as-of' (a rebuilt board; arena.jobs.scope), with
    # what it counted, and the run's warnings (clustered intervals that fell back to independent votes).
    status: str = "complete"
    scope: dict | None = None
    warnings: tuple[str, ...] = ()

    @property
    def turn_boards(self) -> list[str]:
        """The conversation boards this board's run has, for the board choice (empty: none to offer)."""
        return [b for b in TURN_BOARDS if b in self.boards]

    @property
    def first_votes_differ(self) -> bool:
        """Some vote came later in its session, so the first-vote board is not the overall board itself."""
        return bool(self.sessions and self.sessions.get("later_votes"))

    @property
    def top_flip(self) -> int | None:
        """Votes whose removal would swap #1 and #2, if known."""
        return self.rows[1].votes_to_flip_above if len(self.rows) > 1 else None

    @property
    def split(self) -> bool:
        """The board lists models of more than one component: some were never compared with others."""
        return len({r.component for r in self.rows if r.component is not None}) > 1

    def as_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "category": self.category,
            "computed_at": self.computed_at.isoformat(),
            "n_votes": self.n_votes,
            "ci": self.ci_method,
            "bootstrap_rounds": self.rounds,
            "provisional_below_battles": PROVISIONAL_BATTLES,
            "provisional_new_config_votes": self.provisional_votes,
            "sampling_window_days": self.sampling_window_days,
            "ratings": [
                {
                    "model": r.slug,
                    "display_name": r.name,
                    "rating": round(r.rating, 3),
                    "ci_low": round(r.ci_low, 3),
                    "ci_high": round(r.ci_high, 3),
                    "rank_ub": r.rank_ub,
                    "rank_ci": None if r.rank_low is None else [r.rank_low, r.rank_high],
                    "battles": r.battles,
                    "win_rate": r.win_rate,
                    "provisional": r.provisional,
                    "component": r.component,
                    "borrowed": r.borrowed,
                    "both_bad_share": r.both_bad_share,
                    "both_bad_ci": [r.both_bad_low, r.both_bad_high],
                    "config_hash": r.config_hash,
                    "variant_of": r.variant_of,
                    "new_config": r.new_config,
                    "retired_at": r.retired_at.isoformat() if r.retired_at is not None else None,
                    "first_seen": r.first_seen,
                    "last_seen": r.last_seen,
                    "sampling_share": r.sampling_share,
                    "votes_to_flip_above": r.votes_to_flip_above,
                    "acceptable_reply": r.acceptable,
                    "acceptable_reply_ci": [r.acceptable_low, r.acceptable_high],
                }
                for r in self.rows
            ],
            "borrowed": self.board_borrowed,
            "tau": self.tau,
            "ties": self.ties,
            "position": self.position,
            "position_ties_board": POSITION_TIES_BOARD,
            "components": self.components,
            "order": self.order,
            "sessions": self.sessions,
            "grounded": self.grounded,
            "composite": self.composite,
            "status": self.status,
            "scope": self.scope,
            "warnings": list(self.warnings),
        }


def snapshot(
    session: Session, category: str = OVERALL, provisional_votes: int = PROVISIONAL_VOTES, order: str = "all",
    *, anony_only: bool = False, run_id: int | None = None,
) -> BoardSnapshot | None:  # fmt: skip
    """The newest snapshot of `category` (raises RecomputeError for an unknown name or order), or None. A row that
    replaced an earlier configuration of its slug is provisional until `provisional_votes` of its own votes count
    (its battles on the run's overall board). order='first': the overall board of each session's first vote.
    anony_only: the newest `recompute --anony-only` board; run_id: that run's board, whatever its kind (an
    `--as-of` rebuild is read this way)."""
    if order not in ORDERS:
        raise RecomputeError(f"unknown order {order!r}: use 'all' (every vote) or 'first' (each session's first vote)")
    label = resolve_board(category)
    if run_id is not None or anony_only:
        if order == "first":
            raise NoSuchBoard("order=first is not stored with a rebuilt or a chosen run's board")
        return _chosen(session, label, provisional_votes, anony_only, run_id)
    if order == "first":
        if label != OVERALL:
            raise NoSuchBoard(f"order=first is computed for the overall board only, not {label!r}")
        return _first_votes(session, provisional_votes)
    run = latest_run(session, label)
    if run is None:
        return None
    return _snapshot(session, run, label, label, provisional_votes)


def _chosen(session: Session, label: str, provisional_votes: int, anony_only: bool, run_id: int | None):
    """A given run's board, or the newest anonymous-only one (a run that counted anonymous votes only and no
    date limit); None when there is none."""
    stmt = select(RatingRun).where(exists().where(Rating.run_id == RatingRun.id, Rating.category == label))
    if run_id is not None:
        stmt = stmt.where(RatingRun.id == run_id)
    if anony_only:
        stmt = stmt.where(RatingRun.status == ANONY_ONLY)
    run = session.scalar(stmt.order_by(RatingRun.id.desc()).limit(1))
    if run is None:
        return None
    if anony_only and not (run.summary or {}).get("scope", {}).get("anony_only"):
        return None
    return _snapshot(session, run, label, label, provisional_votes)


def _first_votes(session: Session, provisional_votes: int) -> BoardSnapshot | None:
    """The newest overall run's first-vote board: stored apart when some vote came later in its session, else the
    overall board itself (every vote is a first vote). None for a run from before sessions were counted."""
    run = latest_run(session, OVERALL)
    if run is None or "sessions" not in (run.summary or {}):
        return None
    if run.summary["sessions"].get("later_votes"):
        run = latest_run(session, FIRST_VOTES)
        if run is None:
            return None
        return _snapshot(session, run, FIRST_VOTES, OVERALL, provisional_votes, order="first")
    return _snapshot(session, run, OVERALL, OVERALL, provisional_votes, order="first")


def _snapshot(session: Session, run, label: str, shown: str, provisional_votes: int, order: str = "all"):
    ratings = run_ratings(session, run.id, label)
    slug_of = {model.id: model.slug for _, model in ratings}
    matrices = board_matrices(session, run.id, label)
    summary = run.summary or {}
    seen = summary.get("provenance")
    own_votes = {r.model_id: r.battles for r, _ in ratings}
    if label != OVERALL:
        own_votes.update({r.model_id: r.battles for r, _ in run_ratings(session, run.id, OVERALL)})
    variant_slugs = _slugs(session, {m.variant_of_id for _, m in ratings if m.variant_of_id is not None})
    new_config = {m.id: m.variant_of_id is not None and own_votes.get(m.id, 0) < provisional_votes for _, m in ratings}
    flips = dict(zip(matrices.get("model_ids", []), matrices.get("votes_to_flip_above") or [], strict=False))
    accepted = dict(zip(matrices.get("model_ids", []), matrices.get("acceptable") or [], strict=False))
    ranks = rank_intervals(matrices)
    rows = [
        BoardRow(
            slug=model.slug,
            name=model.display_name,
            rating=r.rating,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            rank_ub=r.rank_ub,
            battles=r.battles,
            win_rate=r.win_rate,
            provisional=r.battles < PROVISIONAL_BATTLES or new_config[model.id],
            component=r.component,
            borrowed=r.borrowed,
            both_bad_share=r.both_bad_share,
            both_bad_low=r.both_bad_low,
            both_bad_high=r.both_bad_high,
            config_hash=model.config_hash,
            variant_of=variant_slugs.get(model.variant_of_id) if model.variant_of_id is not None else None,
            retired_at=model.retired_at,
            new_config=new_config[model.id],
            **for_model(seen, model.id),
            votes_to_flip_above=flips.get(model.id),
            **_acceptable(accepted.get(model.id)),
            rank_low=ranks.get(model.id, (None, None))[0],
            rank_high=ranks.get(model.id, (None, None))[1],
        )
        for r, model in ratings
    ]
    pooled = (summary.get("boards") or {}).get(label) or {}
    components = None
    if summary.get("components") is not None:
        slugs = _slugs(session, {m for members in summary["components"] for m in members})
        components = [[slugs.get(m, str(m)) for m in members] for members in summary["components"]]
    return BoardSnapshot(
        run_id=run.id,
        category=shown,
        computed_at=run.finished_at,
        # Every battle counts for two models.
        n_votes=sum(r.battles for r in rows) // 2,
        ci_method=run.params.get("ci", "bootstrap"),
        rounds=run.params.get("rounds", 0),
        rows=rows,
        matrix_slugs=[slug_of.get(m, str(m)) for m in matrices.get("model_ids", [])],
        pair_battles=matrices.get("battles", []),
        pair_win_rate=matrices.get("win_rate", []),
        board_borrowed=pooled.get("borrowed"),
        tau=pooled.get("tau"),
        ties=_whole_counts(summary.get("ties"), ("ties", "battles")),
        position=_whole_counts(summary.get("position"), ("decisive",)),
        components=components,
        provisional_votes=provisional_votes,
        sampling_window_days=(seen or {}).get("window_days"),
        order=order,
        boards=tuple(run.params.get("categories", ())),
        sessions=summary.get("sessions"),
        grounded=summary.get("grounded"),
        composite=summary.get("composite") if label == COMPOSITE else None,
        status=run.status,
        scope=summary.get("scope"),
        warnings=tuple(summary.get("warnings", ())),
    )


def _acceptable(triple) -> dict:
    if not triple:
        return {}
    return dict(zip(("acceptable", "acceptable_low", "acceptable_high"), triple, strict=True))


def _whole_counts(figures: dict | None, keys: tuple[str, ...]) -> dict | None:
    """A run's summary figures with its counts as whole numbers: runs stored before summary.whole kept the fit's
    float sums (57.999999999999986 battles)."""
    if figures is None:
        return None
    return {k: round(v) if k in keys and isinstance(v, float) else v for k, v in figures.items()}


def _slugs(session: Session, model_ids: set[int]) -> dict[int, str]:
    if not model_ids:
        return {}
    rows = session.execute(select(Model.id, Model.slug).where(Model.id.in_(model_ids)))
    return {model_id: slug for model_id, slug in rows}
