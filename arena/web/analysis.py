"""The analysis page: what drives preference (forest plot), arena rating against EQ benchmarks (scatter), and
win rate against the EQ difference of the two replies. Server-rendered SVG; tabs per emotion group."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from arena.jobs.leaderboard import TABS
from arena.jobs.snapshots import (
    OVERALL,
    RecomputeError,
    latest_analysis,
    latest_reliability,
    latest_summary,
    resolve_category,
)
from arena.web import htmx, read_session
from arena.web.charts import responsive_scatter, responsive_whiskers
from arena.web.reasons_words import mediation_words, rate_table
from arena.web.study import Effect, effects, fmt_points, plain_label

bp = Blueprint("analysis", __name__)


def _x_label(scatter: dict) -> str:
    if scatter.get("illustrative"):
        return "Illustrative EQ score (made up for the demo, not a benchmark)"
    return f"{scatter['benchmark']} {scatter['snapshot']} score"


def _charts(result: dict, found: list[Effect]) -> dict:
    # The same scale as the sentences and the table's first column: points of winning chance for a typical
    # difference. Effects without enough battles have no numbers to draw.
    forest = responsive_whiskers(
        [(e.short, e.points, e.low, e.high) for e in found if e.points is not None],
        axis_label="Change in the chance of winning, percentage points, for a typical difference or yes against no",
        reference=0.0,
        fmt="{:+.0f}",
    )
    bins = [b for b in result.get("eq_win_rate", []) if b["n"]]
    win_rate = responsive_whiskers(
        [(f"{b['low']:+g} to {b['high']:+g} (n={b['n']})", b["win_rate"], b["ci_low"], b["ci_high"]) for b in bins],
        axis_label="Win rate of reply A (ties half), by EQ score of A minus B",
        reference=0.5,
        fmt="{:.2f}",
    )
    points = result.get("eq_scatter", {}).get("points", [])
    eq_plot = responsive_scatter(
        [
            {
                "label": p["model"],
                "x": p["score"],
                "x_low": p["score_ci_low"],
                "x_high": p["score_ci_high"],
                "y": p["rating"],
                "y_low": p["rating_ci_low"],
                "y_high": p["rating_ci_high"],
            }
            for p in points
        ],  # fmt: skip
        x_label=_x_label(result["eq_scatter"]) if points else "",
        y_label="Arena rating",
    )
    return {"forest": forest, "win_rate": win_rate, "eq_plot": eq_plot, "effects": found}


def _pct(estimate: dict) -> str:
    low, high = estimate["ci"]
    interval = f" (95% interval {low:.0%} to {high:.0%})" if low is not None else ""
    return f"{estimate['value']:.0%}{interval}"


def agreement_words(found: dict | None) -> list[str] | None:
    """The repeats' measures in plain sentences for /analysis; None before any repeat was voted on."""
    rel = (found or {}).get("reliability")
    if not rel:
        return None
    words = [f"A few battles ({rel['repeats']} so far) show a pair of replies again, sides swapped, to the same "
             "person or to someone else, to measure how far people agree. Those votes never count on the "
             "leaderboard: the first vote on a pair already does."]  # fmt: skip
    if rel["agreement"]["value"] is not None:
        words.append(f"Two different people given the same two replies give the same answer "
                     f"{_pct(rel['agreement'])} of the time (ties and \"both are bad\" counted as one answer); "
                     f"when both picked a reply, they picked the same one {_pct(rel['agreement_decisive'])} of the "
                     f"time ({rel['items']} pairs of replies).")  # fmt: skip
    if rel["ceiling"]["value"] is not None:
        words.append(f"So no AI judge can be expected to match a person's vote more than about "
                     f"{_pct(rel['ceiling'])} of the time, or {_pct(rel['ceiling_decisive'])} on the votes that "
                     "picked a reply: a judge claiming more agrees with people better than they agree with each "
                     "other.")  # fmt: skip
    if rel["self_consistency"]["value"] is not None:
        words.append(f"Shown the same two replies again later, people give the same answer as before "
                     f"{_pct(rel['self_consistency'])} of the time ({rel['self_repeats']} repeats by "
                     f"{rel['voters_total']} people).")  # fmt: skip
    return words


# What each edited dimension did to a reply, as a reader would say it (arena/llm/edit_rules.py has the instruction).
EDIT_LABELS = {
    "remove_validation": "Taking the validation of feelings out of a reply",
    "add_premature_advice": "Adding advice before the person feels heard",
    "add_question_back": "Ending a reply with a caring question back",
}


def edit_words(result: dict | None) -> list[str] | None:
    """The edits study in plain sentences for /analysis; None before any edit was stored."""
    study = (result or {}).get("edits")
    if not study or not study.get("dimensions"):
        return None
    words = ["Some battles pit a reply against a copy of it that an AI editor changed in one way only, keeping its "
             "length (within 5%) and layout. Both sides come from the same model, so those votes never count on "
             "the leaderboard; they show what that one change does to people's preference."]  # fmt: skip
    for row in study["dimensions"]:
        label = EDIT_LABELS.get(row["dimension"], row["dimension"].replace("_", " ").capitalize())
        if row["effect_points"] is None:
            words.append(f"{label}: {row['edits']} edited replies, no vote that picked a side yet.")
            continue
        effect, low, high = row["effect_points"], row["effect_ci_low"], row["effect_ci_high"]
        direction = "more" if effect >= 0 else "less"
        words.append(f"{label}: of {row['decisive']} people who picked one of the two, "
                     f"{100 * row['win_chance']:.0f}% picked the changed reply, so it wins {abs(effect):.0f} points "
                     f"{direction} often than an even chance (95% interval {low:+.0f} to {high:+.0f} points"
                     f"{'' if low > 0 or high < 0 else ', which includes no effect'}); {row['ties']} ties and "
                     f"{row['both_bad']} \"both are bad\" left aside.")  # fmt: skip
    return words


@bp.get("/analysis")
def analysis():
    try:
        category, _ = resolve_category(request.args.get("category", OVERALL))
    except RecomputeError as exc:
        abort(400, description=str(exc))
    run = latest_analysis(read_session(), category)
    result = run.result if run else None
    context = dict(
        result=result,
        run=run,
        tabs=TABS,
        category=category,
        fmt_points=fmt_points,
        agreement_words=agreement_words(latest_reliability(read_session())) if category == OVERALL else None,
        reason_rates=rate_table(latest_summary(read_session(), "reasons")) if category == OVERALL else None,
        mediation_words=mediation_words(result),
        edit_words=edit_words(result) if category == OVERALL else None,
        short_name=lambda name: plain_label(name)[2],
        **(_charts(result, effects(result)) if result else {}),
    )
    if htmx:
        return render_template("analysis/_analysis.html", **context)
    return render_template("analysis/page.html", **context)
