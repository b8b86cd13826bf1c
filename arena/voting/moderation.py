"""Votes kept but not counted: how many, why, and putting them back. Used by the admin pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.models import Battle, Model, RatingRun, VisitorProof, Vote, utcnow

# Reasons set when the vote is cast (arena/voting/voting.py). Defined here, not there, so the recompute job, which
# reads the exclusions, does not import the whole voting path.
TOO_FAST = "too_fast"
# The voter never solved the proof-of-work (arena/voting/proof_of_work.py): a browser without JavaScript, or a
# script that did not pay for its identity.
UNVERIFIED = "unverified"

# A repeat of an earlier battle (arena/voting/repeats.py): kept to measure how far people agree, never counted,
# so a pair of replies shown twice weighs once on the board and a visitor shown a pair again gains no second vote.
REPEAT = "repeat"
# A battle shown with a presentation arm applied to a side (arena/voting/arms.py): measured by the study, left
# out of the model board unless the operator sets ARENA_ARMS_ON_BOARD (the recompute job applies the choice).
PRESENTATION_ARM = "presentation_arm"
# A battle of a reply against its own edit (ARENA_EDIT_SHARE, arena/voting/edits.py): both sides are one model, so
# the vote says nothing about models; it measures the edited dimension (arena/jobs/edit_effects.py), which reads
# exactly the votes with this reason (a vote also too fast or unverified keeps that reason, and is not read).
EDIT = "edit"
# Reasons an admin cannot undo: counting them would count one battle twice, a model against itself, or (arms) go
# against the operator's setting, which the next rating run applies again.
NEVER_REINCLUDED = frozenset({REPEAT, PRESENTATION_ARM, EDIT})

# Reasons set by the recompute job's vote-quality filters (arena/jobs/vote_filters.py). They live here, with
# their explanations, so the admin pages never import the filters' statistics (numpy, scipy, choix).
DAILY_CAP = "daily_cap"
ONE_SIDED = "one_sided"
OUTLIER_VOTER = "outlier_voter"
NETWORK_ONE_SIDED = "network_one_sided"
YOUNG_COHORT = "young_cohort"
INFLUENCE = "influence"

# One line per reason, shown beside its count on the admin page.
EXPLANATIONS = {
    TOO_FAST: "Cast sooner after the battle appeared than anyone reads two replies (ARENA_MIN_DWELL_MS).",
    UNVERIFIED: "The voter never solved the browser's proof-of-work (no JavaScript, or a script that did not pay "
    "for its identity); re-include them, or set ARENA_COUNT_UNVERIFIED, to count such votes.",
    DAILY_CAP: "Beyond the visitor's first ARENA_DAILY_VOTE_CAP votes of that UTC day (the earliest ones count).",
    ONE_SIDED: "The voter nearly always picked the same side, or the same model, far beyond what the ratings "
    "or even a strong liking make probable.",
    OUTLIER_VOTER: "The voter's votes are improbable under the ratings: they agree with the crowd at most half "
    "as much as expected and follow no consistent taste of their own.",
    NETWORK_ONE_SIDED: "Votes from a network (one /24 or /48) that, taken together, nearly always picked the same "
    "model, far beyond what the ratings or even a strong shared liking make probable; its votes in battles with "
    "that model are not counted. A shared address alone (a school, an office) is never a reason.",
    YOUNG_COHORT: "Young identities from one network (each with too few votes to be judged alone) that voted when "
    "a given model was on screen and left the other battles, which only someone who recognises the replies can "
    "do; their votes in battles with that model are not counted.",
    REPEAT: "A battle shown again to measure how far people agree (ARENA_REPEAT_SHARE): its original already "
    "counts, so the repeat never does and cannot be re-included.",
    PRESENTATION_ARM: "A side of the battle was shown under a randomised presentation arm (ARENA_ARMS: plain "
    "text, no helpline, length-matched), so the vote measures the presentation, not only the model: the study "
    "uses it, the model board leaves it out unless ARENA_ARMS_ON_BOARD is set (applied at the next rating run).",
    EDIT: "A battle of a reply against a copy edited to change one thing (ARENA_EDIT_SHARE, `arena generate "
    "edits`): both sides are the same model, so it never counts on a board and cannot be re-included; the study "
    "reads it for the edited dimension's effect.",
    INFLUENCE: "A voter, a network (one /24 or /48) or the young identities of one moved a model's rating further "
    "than votes like everyone else's could by chance (judged against the ratings of the other votes) and beyond "
    "the cap (that model's standard error on the board, or half a standard deviation of chance), on the overall "
    "board or on one emotion board (the run's details name the board); its votes that pushed hardest were set "
    "aside, latest first, until it was within the cap, and a vote set aside on one board counts on none. Its "
    "other votes count.",
}


def explain(reason: str | None) -> str:
    if reason is None:
        return "No reason was recorded (for example, imported that way)."
    return EXPLANATIONS.get(reason, "Set outside the arena's own rules (for example, carried by an import).")


@dataclass(frozen=True)
class ArenaTotals:
    votes: int
    counted: int
    battles: int
    models: int
    active_models: int
    reincluded: int
    latest_run: RatingRun | None


def count_votes(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Vote)) or 0


def totals(session: Session) -> ArenaTotals:
    def count(stmt) -> int:
        return session.scalar(stmt) or 0

    return ArenaTotals(
        votes=count_votes(session),
        counted=count(select(func.count()).select_from(Vote).where(Vote.counts_for_leaderboard.is_(True))),
        battles=count(select(func.count()).select_from(Battle)),
        models=count(select(func.count()).select_from(Model)),
        active_models=count(select(func.count()).select_from(Model).where(Model.active.is_(True))),
        reincluded=count(select(func.count()).select_from(Vote).where(Vote.reincluded_at.is_not(None))),
        latest_run=session.scalar(select(RatingRun).order_by(RatingRun.id.desc()).limit(1)),
    )


def exclusions(session: Session) -> list[tuple[str | None, int]]:
    """(reason, votes) for every vote that does not count, most frequent first."""
    return [
        (reason, n)
        for reason, n in session.execute(
            select(Vote.exclusion_reason, func.count())
            .where(Vote.counts_for_leaderboard.is_(False))
            .group_by(Vote.exclusion_reason)
            .order_by(func.count().desc())
        )
    ]


def reinclude(session: Session, reason: str) -> int:
    """Count again every vote excluded for `reason` (from the next rating run on); returns how many. The votes
    are marked re-included, so the recompute job's filters never exclude them again. Repeats are never counted."""
    if reason in NEVER_REINCLUDED:
        return 0
    return _counted_again(
        session,
        update(Vote)
        .where(Vote.counts_for_leaderboard.is_(False), Vote.exclusion_reason == reason)
        .values(reincluded_at=utcnow()),
    )


def reinclude_unverified(session: Session, visitor_key: str) -> int:
    """Count the votes this visitor cast before paying the proof-of-work (reason `unverified`, and only that
    reason), now that they have paid; in the caller's transaction, after the proof is stored. Returns how many.
    Each is marked re-included at the proof's own time, which is how the quality filters tell it from an admin's
    re-inclusion: the filters still judge it (a script must not cast unlimited votes for free, pay once and have
    them all beyond the daily cap and the other rules)."""
    paid_at = select(VisitorProof.solved_at).where(VisitorProof.visitor_key == visitor_key).scalar_subquery()
    return _counted_again(
        session,
        update(Vote)
        .where(
            Vote.battle_id.in_(select(Battle.id).where(Battle.judge_key == visitor_key)),
            Vote.counts_for_leaderboard.is_(False),
            Vote.exclusion_reason == UNVERIFIED,
        )
        .values(reincluded_at=paid_at),
    )


def _counted_again(session: Session, stmt) -> int:
    """Run an UPDATE of excluded votes that puts them back: counted, with the maintained counts (arena.vote_counts)
    shifted to match; but an edit battle's vote (its two sides one model, the only votes where they are) returns
    to the reason `edit`, so to the edits study, never to a board. Returns how many votes changed."""
    edit = Vote.model_a_id == Vote.model_b_id
    n = vote_counts.flipped(session, stmt.where(~edit).values(counts_for_leaderboard=True, exclusion_reason=None), 1)
    vote_counts.settle(session)
    back_to_edit = stmt.where(edit).values(exclusion_reason=EDIT).execution_options(synchronize_session=False)
    return n + session.execute(back_to_edit).rowcount


def reincluded_by_admin():
    """SQL condition: an admin re-included the vote, a decision the quality filters keep. A vote counted again
    because its voter paid later (reinclude_unverified: re-included at the proof's time) is judged like any other."""
    paid_later = (
        select(VisitorProof.visitor_key)
        .join(Battle, Battle.judge_key == VisitorProof.visitor_key)
        .where(Battle.id == Vote.battle_id, VisitorProof.solved_at == Vote.reincluded_at)
        .exists()
    )
    return and_(Vote.reincluded_at.is_not(None), ~paid_later)
