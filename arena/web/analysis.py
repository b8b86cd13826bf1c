"""The analysis page: what drives preference (forest plot), arena rating against EQ benchmarks (scatter), and
win rate against the EQ difference of the two replies. Server-rendered SVG; tabs per emotion group."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from arena.jobs.leaderboard import TABS
from arena.jobs.snapshots import OVERALL, RecomputeError, latest_analysis, resolve_category
from arena.web import htmx, read_session
from arena.web.charts import responsive_scatter, responsive_whiskers
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
        short_name=lambda name: plain_label(name)[2],
        **(_charts(result, effects(result)) if result else {}),
    )
    if htmx:
        return render_template("analysis/_analysis.html", **context)
    return render_template("analysis/page.html", **context)
