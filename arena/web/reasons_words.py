"""Why people voted, in plain words for /analysis: each model's reason rates as a table of percentages with their
intervals, and how much of the EQ effect runs through "felt heard". Pure Python over stored results."""

from __future__ import annotations

from arena.voting.reasons import REASON_LABELS
from arena.web.study import fmt_points, win_points


def _pct(rate: dict) -> str:
    return f"{rate['share']:.0%} ({rate['ci_low']:.0%}-{rate['ci_high']:.0%})"


def rate_table(found: dict | None) -> dict | None:
    """{"labels": [...], "rows": [(model, sides, [cell, ...])], "votes": n}, or None before any reason."""
    reasons = (found or {}).get("reasons")
    if not reasons:
        return None
    return {
        "labels": [REASON_LABELS[r] for r in reasons["reasons"]],
        "rows": [
            (m["model"], m["sides"], [_pct(m["rates"][r]) for r in reasons["reasons"]]) for m in reasons["models"]
        ],
        "votes": reasons["votes_with_reasons"],
    }


def mediation_words(result: dict | None) -> str | None:
    """One or two sentences on the analysis's `mediation`; None when the analysis predates it."""
    found = (result or {}).get("mediation")
    if not found or (found.get("reason") and not found.get("n_battles")):
        return None  # before the analysis knew reasons, or before any vote with reasons and EQ scores
    if found.get("reason"):
        return f"How much of the EQ effect runs through people feeling heard: not measured yet ({found['reason']})."
    share, total, direct = found["share"], found["total"], found["direct"]
    if share["estimate"] is None or total["estimate"] is None:
        return "How much of the EQ effect runs through people feeling heard: the votes cannot say yet."
    interval = f" (95% interval {share['ci_low']:.0%} to {share['ci_high']:.0%})" if share["ci_low"] is not None else ""
    return (
        f"Of the edge a reply scored higher for emotional intelligence has, about {share['estimate']:.0%}{interval} "
        f"goes with the voter saying it made them feel heard: a reply scored one point higher wins "
        f"{fmt_points(win_points(total['estimate']))} percentage points more often, and "
        f"{fmt_points(win_points(direct['estimate']))} once whether each reply made the voter feel heard is held "
        f"equal ({found['n_battles']:,} votes with reasons and EQ scores on both replies). This compares the EQ "
        "effect with and without that reason in the model; it assumes nothing else makes a voter both feel heard "
        "and prefer a reply."
    )
