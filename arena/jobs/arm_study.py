"""The presentation arms in the EQ analysis (arena/voting/arms.py draws them): each arm's indicator as a
covariate, A's minus B's (1 when only side A was shown under it, -1 when only side B was, 0 otherwise), so its
coefficient is the causal log-odds effect of showing a reply under that arm, the sides' arms having been drawn at
random; the effect said in points of win chance with its interval; and the balance tables that check the draw:
each side's arm against its model and against the message's emotion group, with a chi-square test of
independence.

The style covariates stay those of the replies as stored (before any arm): measured before the assignment, they
cannot absorb the arm's effect, only sharpen it."""

from __future__ import annotations

import math

import numpy as np
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from arena.models import PromptEmotion, Vote
from arena.taxonomy import GROUP_OF
from arena.voting.arms import ARM_DOCS
from arena.voting.moderation import PRESENTATION_ARM
from ratings.balance import independence

ARM_PREFIX = "arm_"
CONTROL = "as stored"
Z95 = 1.959963984540054


def studied_votes():
    """SQL condition: the votes the analysis reads: those that count, and those set aside from the model board
    only because a side was shown under an arm (arena/jobs/arm_policy.py), which the study is for."""
    return or_(Vote.counts_for_leaderboard.is_(True), Vote.exclusion_reason == PRESENTATION_ARM)


def arm_names(arm_a: np.ndarray | None, arm_b: np.ndarray | None) -> list[str]:
    """The arms some analysed side was shown under, sorted."""
    if arm_a is None or arm_b is None:
        return []
    return sorted({a for a in (*arm_a, *arm_b) if a})


def columns(arm_a: np.ndarray | None, arm_b: np.ndarray | None) -> tuple[list[np.ndarray], list[str]]:
    """One covariate per arm: 1[A under it] - 1[B under it]."""
    out, names = [], []
    for name in arm_names(arm_a, arm_b):
        out.append((arm_a == name).astype(np.float64) - (arm_b == name).astype(np.float64))
        names.append(ARM_PREFIX + name)
    return out, names


def docs(names: list[str]) -> dict[str, str]:
    """What each arm covariate among `names` is, for the analysis's covariate_docs."""
    return {
        name: f"1 if only side A was shown {ARM_DOCS.get(name[len(ARM_PREFIX) :], name)}, -1 if only side B was, "
        "else 0: the log-odds effect of the arm (drawn at random per side)"
        for name in names
        if name.startswith(ARM_PREFIX)
    }


def win_points(log_odds: float) -> float:
    """Percentage points of winning gained from even odds."""
    return 100.0 * (1.0 / (1.0 + math.exp(-log_odds)) - 0.5)


def prompt_groups(session: Session, prompt_ids: set[int]) -> dict[int, str]:
    """Each prompt's emotion group: that of its strongest tag (ties by name), 'untagged' without one."""
    found: dict[int, tuple[int, str]] = {}
    ids = sorted(prompt_ids)
    for start in range(0, len(ids), 1000):
        rows = session.execute(
            select(PromptEmotion.prompt_id, PromptEmotion.category, PromptEmotion.intensity).where(
                PromptEmotion.prompt_id.in_(ids[start : start + 1000])
            )
        )
        for prompt_id, category, intensity in rows:
            group = GROUP_OF.get(category)
            if group is None:
                continue
            key = (-int(intensity or 0), group)
            if prompt_id not in found or key < found[prompt_id]:
                found[prompt_id] = key
    return {p: found[p][1] if p in found else "untagged" for p in prompt_ids}


def _table(labels: list[str], row_of_side: np.ndarray, arm_of_side: np.ndarray, arms: list[str],
           rng: np.random.Generator) -> dict:  # fmt: skip
    counts = np.zeros((len(labels), len(arms) + 1), dtype=np.int64)
    np.add.at(counts, (row_of_side, arm_of_side), 1)
    test = independence(row_of_side, arm_of_side, rng)
    return {
        "columns": [CONTROL, *arms],
        "rows": [
            {"label": label, "counts": [int(c) for c in counts[k]]} for k, label in enumerate(labels) if counts[k].any()
        ],  # fmt: skip
        "test": None
        if test is None
        else {
            "method": "Pearson chi-square test of independence",
            "chi2": round(test.chi2, 4),
            "dof": test.dof,
            "p_value": round(test.p_value, 6),
            "p_permutation": None if test.p_permutation is None else round(test.p_permutation, 6),
            "permutations": test.rounds,
            "min_expected": round(test.min_expected, 3),
        },
    }


def summary(table, fit, names: list[str], rows: np.ndarray, slugs: list[str], groups: dict[int, str],
            seed: int, on_board: bool | None) -> dict | None:  # fmt: skip
    """The `arms` part of the analysis: None when no analysed battle was drawn with arms declared."""
    if table.arm_drawn is None:
        return None
    drawn = rows & table.arm_drawn
    if not drawn.any():
        return None
    arms = arm_names(table.arm_a[drawn], table.arm_b[drawn])
    index = {name: k + 1 for k, name in enumerate(arms)}
    arm_of_side = np.array([index.get(a, 0) if a else 0 for a in (*table.arm_a[drawn], *table.arm_b[drawn])],
                           dtype=np.int64)  # fmt: skip
    model_of_side = np.concatenate([table.model_a[drawn], table.model_b[drawn]])
    battle_groups = [groups.get(int(p), "untagged") for p in table.prompt_id[drawn]]
    group_labels = sorted(set(battle_groups))
    group_index = {g: k for k, g in enumerate(group_labels)}
    battle_group = np.array([group_index[g] for g in battle_groups], dtype=np.int64)
    group_of_side = np.concatenate([battle_group, battle_group])
    rng = np.random.default_rng(seed)
    effects = []
    coefficients = {c.feature: c for c in fit.coefficients()} if fit is not None else {}
    for name in arms:
        c = coefficients.get(ARM_PREFIX + name)
        row = {"arm": name, "doc": ARM_DOCS.get(name, name), "covariate": ARM_PREFIX + name,
               "sides": int((arm_of_side == index[name]).sum())}  # fmt: skip
        if c is not None and c.identified:
            row.update(
                identified=True, reason=None, log_odds=round(c.estimate, 6), ci_low=round(c.ci_low, 6),
                ci_high=round(c.ci_high, 6), se=round(c.se, 6), points=round(win_points(c.estimate), 3),
                points_low=round(win_points(c.ci_low), 3), points_high=round(win_points(c.ci_high), 3),
            )  # fmt: skip
        else:
            reason = c.reason if c is not None else "the covariate fit did not run"
            row.update(identified=False, reason=reason, log_odds=None, ci_low=None, ci_high=None, se=None,
                       points=None, points_low=None, points_high=None)  # fmt: skip
        effects.append(row)
    return {
        "battles": int(drawn.sum()),
        "sides": {CONTROL: int((arm_of_side == 0).sum()), **{a: int((arm_of_side == index[a]).sum()) for a in arms}},
        "effects": effects,
        # Whether the model board counted these battles (the rating run's ARENA_ARMS_ON_BOARD); None: not recorded.
        "on_board": on_board,
        "balance": {
            "model": _table(slugs, model_of_side, arm_of_side, arms, rng),
            "category": _table(group_labels, group_of_side, arm_of_side, arms, rng),
        },
        "scale": "Points of win chance: how much more often (percentage points, from an even battle) a reply wins "
        "when shown under the arm than when shown as stored, the models and every other covariate held equal.",
    }
