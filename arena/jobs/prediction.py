"""`arena analysis predict`: which explanation of the votes predicts the votes of people it was not fitted on.
The counted votes of the latest analysis's rating run, the same covariates as the analysis, K folds by voter
(ratings.prediction); the result is stored in that analysis run, for /analysis to say which explanation won."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from arena.jobs.analysis import EQ_COVARIATE, AnalysisError, covariates, in_category, load_battles
from arena.jobs.arm_study import ARM_PREFIX, studied_votes
from arena.jobs.snapshots import latest_analysis, resolve_category
from arena.models import AnalysisRun, Battle, PromptEmotion, Rating, Vote
from arena.taxonomy import GROUP_OF
from ratings.prediction import TIE, Explanation, Votes, cross_validate, paired_difference, voter_folds

# Plain names: the page's sentence says which of these predicts best.
BT = Explanation("bt", "the models' strengths alone (Bradley-Terry)")
DAVIDSON = Explanation(
    "davidson", "the models' strengths with ties likelier between close models (Davidson)", davidson=True
)
POOLED = Explanation("pooled", "the models' strengths on each emotion group, pooled toward the rest", pooled=True)
STYLE_LABEL = "the models' strengths plus reply style (length, formatting, phrasing) and the side shown first"
EQ_LABEL = "the models' strengths plus the judged emotional intelligence of each reply"
STYLE_EQ_LABEL = "the models' strengths plus reply style and judged emotional intelligence"
ARMS_KEY = "arms"
ARMS_LABEL = "the models' strengths plus randomised presentation arms"
# The table's row names; the sentence uses the labels above.
SHORT = {
    "bt": "Strengths only (Bradley-Terry)",
    "davidson": "Strengths, Davidson ties",
    "style": "Strengths + style",
    "eq": "Strengths + judged EQ",
    "style_eq": "Strengths + style + judged EQ",
    "pooled": "Pooled emotion boards",
    ARMS_KEY: "Strengths + presentation arms",
}
# Two explanations predict "about as well" when the better one's lead is within two standard errors.
CLEAR_LEAD_SE = 2.0


def _groups(session: Session, battle_ids: list[int], categories) -> tuple[list[list[int]], list[str]]:
    """Each battle's emotion groups (indices into the returned group names), in battle order."""
    stmt = select(Battle.id, PromptEmotion.category).join(PromptEmotion, PromptEmotion.prompt_id == Battle.prompt_id)
    stmt = stmt.join(Vote, Vote.battle_id == Battle.id).where(studied_votes())
    if categories is not None:
        stmt = stmt.where(in_category(categories))
    of_battle: dict[int, set[str]] = {}
    for battle_id, category in session.execute(stmt):
        group = GROUP_OF.get(category)
        if group is not None:
            of_battle.setdefault(battle_id, set()).add(group)
    names = sorted({g for gs in of_battle.values() for g in gs})
    index = {g: k for k, g in enumerate(names)}
    return [sorted(index[g] for g in of_battle.get(b, ())) for b in battle_ids], names


def _row(explanation: Explanation, scores) -> dict:
    return {
        "key": explanation.key,
        "label": explanation.label,
        "short": SHORT[explanation.key],
        "available": True,
        "log_loss": round(scores.log_loss, 6),
        "accuracy": None if scores.accuracy is None else round(scores.accuracy, 6),
        "brier": None if scores.brier is None else round(scores.brier, 6),
        "calibration_error": None if scores.calibration_error is None else round(scores.calibration_error, 6),
        "calibration": [
            {"predicted": round(p, 4), "observed": round(o, 4), "votes": n} for p, o, n in scores.calibration
        ],
    }


def predict(
    factory: sessionmaker[Session],
    read_factory: sessionmaker[Session],
    *,
    category: str = "overall",
    folds: int = 5,
    seed: int = 0,
    min_eq_battles: int = 50,
) -> dict:
    label, categories = resolve_category(category)
    with read_factory() as session:
        run = latest_analysis(session, label)
        if run is None:
            raise AnalysisError(f"no analysis for {label!r} yet: run `arena analysis eq` first")
        model_ids = list(
            session.scalars(select(Rating.model_id).where(Rating.run_id == run.rating_run_id, Rating.category == label))
        )
        model_index = {m: k for k, m in enumerate(model_ids)}
        table = load_battles(session, model_index, categories)
        battle_ids = list(table.battle_id) if table.battle_id is not None else []
        boards, group_names = _groups(session, battle_ids, categories)
    matrix, names, rows, _ = covariates(table, min_eq_battles)
    if rows.sum() < 2 * folds:
        raise AnalysisError(f"only {int(rows.sum())} votes with every covariate known: too few for {folds} folds")
    keep = np.flatnonzero(rows)
    outcome = np.where(table.score[keep] == 1.0, 0, np.where(table.score[keep] == 0.0, 1, TIE))
    votes = Votes(
        n_models=len(model_ids),
        model_a=table.model_a[keep],
        model_b=table.model_b[keep],
        outcome=outcome,
        voter=table.voter[keep],
        features=matrix[keep],
        names=tuple(names),
        boards=[boards[i] for i in keep] if boards else [[] for _ in keep],
        n_boards=len(group_names),
    )
    try:
        split = voter_folds(votes.voter, folds, np.random.default_rng(seed))
    except ValueError as exc:
        raise AnalysisError(str(exc)) from exc
    eq_columns = tuple(n for n in names if n.startswith(EQ_COVARIATE))
    # The arms are an explanation of their own: the presentation, not the replies' own style.
    arm_columns = tuple(n for n in names if n.startswith(ARM_PREFIX))
    style_columns = tuple(n for n in names if n not in eq_columns and n not in arm_columns)
    explanations, missing = [BT], {}
    if np.any(votes.outcome == TIE):
        explanations.append(DAVIDSON)
    else:
        missing[DAVIDSON.key] = (DAVIDSON.label, "no vote was a tie or both bad")
    explanations.append(Explanation("style", STYLE_LABEL, columns=style_columns))
    if eq_columns:
        explanations.append(Explanation("eq", EQ_LABEL, columns=eq_columns))
        explanations.append(Explanation("style_eq", STYLE_EQ_LABEL, columns=style_columns + eq_columns))
    else:
        missing["eq"] = (EQ_LABEL, f"needs judged EQ scores on both replies of {min_eq_battles} battles")
    if group_names and any(votes.boards):
        explanations.append(POOLED)
    else:
        missing["pooled"] = (POOLED.label, "no vote is on an emotion group")
    if arm_columns:
        explanations.append(Explanation(ARMS_KEY, ARMS_LABEL, columns=arm_columns))
    else:
        missing[ARMS_KEY] = (ARMS_LABEL, "no presentation arms yet")
    scores = cross_validate(votes, explanations, split)
    baseline = scores[BT.key].losses
    table_rows = []
    for explanation in explanations:
        row = _row(explanation, scores[explanation.key])
        diff, se = paired_difference(scores[explanation.key].losses, baseline, votes.voter)
        row["log_loss_vs_bt"], row["log_loss_vs_bt_se"] = round(diff, 6), round(se, 6)
        table_rows.append(row)
    table_rows += [
        {"key": k, "label": text, "short": SHORT[k], "available": False, "reason": why}
        for k, (text, why) in missing.items()
    ]
    ranked = sorted((r for r in table_rows if r["available"]), key=lambda r: r["log_loss"])
    best, runner_up = ranked[0], ranked[1]
    lead, lead_se = paired_difference(scores[runner_up["key"]].losses, scores[best["key"]].losses, votes.voter)
    result = {
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "analysis_run_id": run.id,
        "rating_run_id": run.rating_run_id,
        "category": label,
        "folds": folds,
        "seed": seed,
        "split": "by voter",
        "votes": votes.n,
        "voters": int(len(np.unique(votes.voter))),
        "explanations": table_rows,
        "best": best["key"],
        "runner_up": runner_up["key"],
        "lead": round(lead, 6),
        "lead_se": round(lead_se, 6),
        "clearly_best": bool(lead > CLEAR_LEAD_SE * lead_se),
    }
    with factory() as session, session.begin():
        stored = session.get(AnalysisRun, run.id)
        # A new dict: the JSON column notices reassignment, not a change inside it.
        stored.result = {**stored.result, "prediction": result}
    return result
