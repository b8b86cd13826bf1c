"""The composite board for the recompute job: every counted vote and the LLM judges in one Bradley-Terry fit
(ratings.composite), and the grounded acceptable-reply probabilities (ratings.grounded).

A judge enters in two ways, each a source of its own with its own weight: its scores of single replies (`arena
judge`: EqScore, criterion 'overall') as soft pairwise targets between the replies of different models to the same
message, and its pairwise verdicts (`arena judge pairwise`: JudgeVerdict, A, B or tie, both orders of each pair
of replies, each order one observation, both clustered by the pair: ratings.composite.verdict_source).

A judge never scores its own family: a reply whose model shares the judge's family (its `provider`: the
registry's `provider`, else the litellm prefix) is left out of that judge's pairs, and a verdict on such a reply
is not read (the pairwise job never asks for one). Models without a provider (imported names, demo personas)
belong to no family.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from arena.models import Battle, EqScore, JudgeVerdict, Model, Reply, Vote
from ratings import composite, grounded
from ratings.leaderboard import Leaderboard, RatingParams, rank_upper_bound
from ratings.outcomes import PairOutcomes

CRITERION = "overall"


@dataclass
class CompositeInput:
    human: composite.Source
    judges: list[composite.Source]
    # Per judge source: replies (scores) or verdicts left out because the judge shares their model's family.
    own_family: dict[str, int]
    # Per judge source: the judge's slug (a judge with scores and verdicts has two sources).
    judge_of: dict[str, str] = field(default_factory=dict)


def has_judgements(session: Session) -> bool:
    """Whether any judge scored a reply or gave a pairwise verdict."""
    scored = session.scalar(select(exists().where(EqScore.criterion == CRITERION)))
    return bool(scored or session.scalar(select(exists().where(JudgeVerdict.id.is_not(None)))))


def read(session: Session, model_ids: list[int], both_bad: str) -> CompositeInput | None:
    """The counted votes by voter (a vote without a voter key is its own), every judge's overall scores of
    replies by the rated models and every judge's pairwise verdicts between them; None when no judge compared
    two of them."""
    index = {m: k for k, m in enumerate(model_ids)}
    provider = dict(session.execute(select(Model.id, Model.provider).where(Model.id.in_(model_ids))).all())
    family = [provider.get(m) for m in model_ids]
    scores = _score_sources(session, index, family)
    verdicts = _verdict_sources(session, index, family)
    sources, own, judge_of = [], {}, {}
    for judge, source, left_out in scores + verdicts:
        if len(source):
            sources.append(source)
            own[source.name], judge_of[source.name] = left_out, judge
    if not sources:
        return None
    return CompositeInput(_human(session, index, both_bad), sources, own, judge_of)


def _families(session: Session, judges) -> dict[str, str | None]:
    return dict(session.execute(select(Model.slug, Model.provider).where(Model.slug.in_(sorted(judges)))).all())


def _score_sources(session: Session, index: dict[int, int], family: list) -> list[tuple]:
    """(judge, source, replies of its own family left out) per judge that scored replies of the rated models."""
    rows = session.execute(
        select(EqScore.judge, Reply.model_id, Reply.prompt_id, EqScore.score)
        .join(Reply, Reply.id == EqScore.reply_id)
        # An edit's scores are not its model's: the model never wrote it.
        .where(EqScore.criterion == CRITERION, Reply.model_id.in_(list(index)), Reply.edit_of.is_(None))
        .order_by(EqScore.judge, Reply.prompt_id, Reply.id)
    ).all()
    judge_family = _families(session, {r[0] for r in rows})
    out = []
    for judge in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == judge]
        model = np.array([index[r[1]] for r in mine], dtype=np.int64)
        jf = judge_family.get(judge)
        own = sum(1 for m in model.tolist() if jf is not None and family[m] == jf)
        source = composite.score_source(judge, model, [r[2] for r in mine], [r[3] for r in mine],
                                        family=family, judge_family=jf)  # fmt: skip
        out.append((judge, source, own))
    return out


VERDICT_Y = {"A": 1.0, "B": 0.0, "tie": 0.5}


def _verdict_sources(session: Session, index: dict[int, int], family: list) -> list[tuple]:
    """(judge, source, verdicts on its own family left out) per judge with pairwise verdicts between the rated
    models: each verdict one observation, i the model shown first, y 1 when the judge preferred it; the two
    orders of a pair share a cluster."""
    first, second = aliased(Reply), aliased(Reply)
    rows = session.execute(
        select(JudgeVerdict.judge, first.model_id, second.model_id, JudgeVerdict.verdict,
               JudgeVerdict.reply_first_id, JudgeVerdict.reply_second_id)
        .join(first, first.id == JudgeVerdict.reply_first_id)
        .join(second, second.id == JudgeVerdict.reply_second_id)
        .where(first.model_id.in_(list(index)), second.model_id.in_(list(index)), first.model_id != second.model_id)
        .order_by(JudgeVerdict.judge, JudgeVerdict.id)
    ).all()  # fmt: skip
    judge_family = _families(session, {r[0] for r in rows})
    out = []
    for judge in sorted({r[0] for r in rows}):
        jf = judge_family.get(judge)
        mine = [r for r in rows if r[0] == judge]
        kept = [r for r in mine if jf is None or jf not in (family[index[r[1]]], family[index[r[2]]])]
        pairs: dict[tuple[int, int], int] = {}
        cluster = [pairs.setdefault((min(r[4], r[5]), max(r[4], r[5])), len(pairs)) for r in kept]
        source = composite.verdict_source(
            f"{judge} (pairwise)", [index[r[1]] for r in kept], [index[r[2]] for r in kept],
            [VERDICT_Y[r[3]] for r in kept], cluster,
        )  # fmt: skip
        out.append((judge, source, len(mine) - len(kept)))
    return out


def _human(session: Session, index: dict[int, int], both_bad: str) -> composite.Source:
    voter = func.coalesce(Battle.judge_key, literal("battle:") + cast(Battle.id, String))
    stmt = (
        select(voter, Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count())
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Vote.counts_for_leaderboard.is_(True))
        .group_by(voter, Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    )
    rows = [r for r in session.execute(stmt).all() if r[1] in index and r[2] in index]
    if both_bad == "drop":
        rows = [r for r in rows if r[3] != "both_bad"]
    voters = {v: k for k, v in enumerate(sorted({r[0] for r in rows}))}
    y_of = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "both_bad": 0.5}
    return composite.human_source(
        [index[r[1]] for r in rows], [index[r[2]] for r in rows], [y_of[r[3]] for r in rows],
        [r[4] for r in rows], [voters[r[0]] for r in rows],
    )  # fmt: skip


def board(inputs: CompositeInput, overall: Leaderboard, params: RatingParams, seed: int):
    """The composite fit and its board: the overall board's counts and charts (the human battles), the composite's
    ratings and sandwich intervals."""
    n = len(overall.rating)
    fit = composite.composite(n, inputs.human, inputs.judges, params.alpha, seed=seed, anchor=params.anchor)
    rank_ub = np.ones(n, dtype=np.int64)
    for c in np.unique(fit.component).tolist():
        models = np.flatnonzero(fit.component == c)
        rank_ub[models] = rank_upper_bound(fit.ci_low[models], fit.ci_high[models])
    shown = replace(overall, rating=fit.rating, ci_low=fit.ci_low, ci_high=fit.ci_high, rank_ub=rank_ub,
                    theta=fit.theta, component=fit.component)  # fmt: skip
    return fit, shown


def summary(inputs: CompositeInput, fit: composite.CompositeFit) -> dict:
    """What the board says of its judges: per judge source the weight of one scored pair or one verdict in human
    votes, what entered,
    the scale the fit found, and the held-out log-likelihood per human vote at every weight tried."""
    judges = []
    for source in inputs.judges:
        weight = fit.weights[source.name]
        judges.append({
            "judge": inputs.judge_of.get(source.name, source.name),
            "source": source.name,
            "kind": source.kind,
            "human_votes_per_observation": weight,
            "observations": int(round(source.observations)),
            # Replies for a score source, verdicts for a verdict source.
            "own_family_replies_left_out": inputs.own_family.get(source.name, 0),
            "temperature": source.temperature,
            "scale": fit.scales.get(source.name),
            "heldout_loglik": [[w, ll] for w, _, ll in fit.selection.get(source.name, [])],
        })  # fmt: skip
    return {
        "judges": judges,
        "human_votes": int(round(inputs.human.observations)),
        "folds": fit.folds,
        "folds_by": "voter",
        "ci": "sandwich, clustered by voter, by message for judge scores, by pair of replies for verdicts",
    }


def acceptable(outcomes: PairOutcomes) -> grounded.GroundedFit:
    """The grounded fit of a board's counts: each model's chance of an acceptable reply."""
    return grounded.fit(outcomes)


def grounded_summary(fit: grounded.GroundedFit) -> dict:
    return {"both_bad_votes": fit.both_bad_votes, "measured": fit.measured, "tie_reading": "half"}
