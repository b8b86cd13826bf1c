"""The composite board for the recompute job: every counted vote and the LLM judges' reply scores in one
Bradley-Terry fit (ratings.composite), and the grounded acceptable-reply probabilities (ratings.grounded).

The site has no pairwise judge: `arena judge` scores one reply at a time (EqScore, criterion 'overall'), so each
judge enters as soft pairwise targets between the replies of different models to the same message. Pairwise
verdicts (both orders) are taken by the same math (ratings.composite.verdict_source; the benchmark and tests feed
it LLMFAO's GPT-4 verdicts); a judge job that asks for them would add a table and an LLM prompt, and nothing here
would change but the read.

A judge never scores its own family: a reply whose model shares the judge's family (its `provider`: the
registry's `provider`, else the litellm prefix) is left out of that judge's pairs. Models without a provider
(imported names, demo personas) belong to no family.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session

from arena.models import Battle, EqScore, Model, Reply, Vote
from ratings import composite, grounded
from ratings.leaderboard import Leaderboard, RatingParams, rank_upper_bound
from ratings.outcomes import PairOutcomes

CRITERION = "overall"


@dataclass
class CompositeInput:
    human: composite.Source
    judges: list[composite.Source]
    # Per judge: replies left out because the judge shares their model's family.
    own_family: dict[str, int]


def has_judge_scores(session: Session) -> bool:
    return bool(session.scalar(select(exists().where(EqScore.criterion == CRITERION))))


def read(session: Session, model_ids: list[int], both_bad: str) -> CompositeInput | None:
    """The counted votes by voter (a vote without a voter key is its own) and every judge's overall scores of
    replies by the rated models; None when no judge scored replies of two of them."""
    index = {m: k for k, m in enumerate(model_ids)}
    rows = session.execute(
        select(EqScore.judge, Reply.model_id, Reply.prompt_id, EqScore.score)
        .join(Reply, Reply.id == EqScore.reply_id)
        # An edit's scores are not its model's: the model never wrote it.
        .where(EqScore.criterion == CRITERION, Reply.model_id.in_(model_ids), Reply.edit_of.is_(None))
        .order_by(EqScore.judge, Reply.prompt_id, Reply.id)
    ).all()
    if not rows:
        return None
    judges = sorted({r[0] for r in rows})
    provider = dict(session.execute(select(Model.id, Model.provider).where(Model.id.in_(model_ids))).all())
    judge_provider = dict(session.execute(select(Model.slug, Model.provider).where(Model.slug.in_(judges))).all())
    family = [provider.get(m) for m in model_ids]
    sources, own = [], {}
    for judge in judges:
        mine = [r for r in rows if r[0] == judge]
        model = np.array([index[r[1]] for r in mine], dtype=np.int64)
        judge_family = judge_provider.get(judge)
        own[judge] = sum(1 for m in model.tolist() if judge_family is not None and family[m] == judge_family)
        source = composite.score_source(judge, model, [r[2] for r in mine], [r[3] for r in mine],
                                        family=family, judge_family=judge_family)  # fmt: skip
        if len(source):
            sources.append(source)
    if not sources:
        return None
    return CompositeInput(_human(session, index, both_bad), sources, own)


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
    """What the board says of its judges: per judge the weight of one scored pair in human votes, what entered,
    the scale the fit found, and the held-out log-likelihood per human vote at every weight tried."""
    judges = []
    for source in inputs.judges:
        weight = fit.weights[source.name]
        judges.append({
            "judge": source.name,
            "kind": source.kind,
            "human_votes_per_observation": weight,
            "observations": int(round(source.observations)),
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
        "ci": "sandwich, clustered by voter, by message for judge scores",
    }


def acceptable(outcomes: PairOutcomes) -> grounded.GroundedFit:
    """The grounded fit of a board's counts: each model's chance of an acceptable reply."""
    return grounded.fit(outcomes)


def grounded_summary(fit: grounded.GroundedFit) -> dict:
    return {"both_bad_votes": fit.both_bad_votes, "measured": fit.measured, "tie_reading": "half"}
