"""The JSON API (read-only for now): the leaderboard's twin, described by /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from arena.jobs.leaderboard import snapshot
from arena.jobs.snapshots import (
    OVERALL,
    NoSuchBoard,
    RecomputeError,
    analysis_json,
    latest_analysis,
    latest_reliability,
    latest_summary,
    resolve_category,
)
from arena.models import AnalysisRun
from arena.web import read_session
from arena.web.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api")


def error(status: int, message: str):
    return jsonify({"error": message}), status


class BadParameter(ValueError):
    """A query parameter the API refuses (400), with its reason."""


def _run_id(name: str) -> int | None:
    value = request.args.get(name)
    if value is not None and not (value.isdigit() and 0 < int(value) < 2**31):
        raise BadParameter(f"{name} must be a run's id (a positive whole number), got {value!r}")
    return None if value is None else int(value)


@bp.get("/leaderboard")
def leaderboard():
    try:
        provisional_votes = current_app.extensions["arena.settings"].provisional_votes
        order = request.args.get("order", "all")
        anony = request.args.get("anony", "all")
        if anony not in ("all", "only"):
            return error(400, f"unknown anony {anony!r}: use 'all' (every vote) or 'only' (anonymous votes only)")
        run = _run_id("run")
        board = snapshot(read_session(), request.args.get("category", OVERALL), provisional_votes, order,
                         anony_only=anony == "only", run_id=run)  # fmt: skip
    except NoSuchBoard as exc:
        return error(404, str(exc))
    except (RecomputeError, BadParameter) as exc:
        return error(400, str(exc))
    if board is None:
        if request.args.get("run") is not None:
            return error(404, "no such rating run, or it did not rate this category")
        if request.args.get("anony") == "only":
            return error(404, "no anonymous-only board yet; run `arena ratings recompute --anony-only`")
        return error(404, "no rating snapshot for this category yet; run `arena ratings recompute`")
    return jsonify(board.as_json())


@bp.get("/reliability")
def reliability():
    try:
        run = _run_id("run")
    except BadParameter as exc:
        return error(400, str(exc))
    found = latest_reliability(read_session(), run)
    if found is None:
        return error(404, "no rating snapshot yet; run `arena ratings recompute`" if run is None else
                     f"no rating run {run}")  # fmt: skip
    return jsonify(found)


@bp.get("/analysis")
def analysis():
    """A stored analysis (`arena analysis eq`, with `predict`'s result when it ran): the newest of a category, of
    one rating run's (rating_run), or one analysis run (run)."""
    try:
        category, _ = resolve_category(request.args.get("category", OVERALL))
        run_id, rating_run_id = _run_id("run"), _run_id("rating_run")
    except (RecomputeError, BadParameter) as exc:
        return error(400, str(exc))
    session = read_session()
    if run_id is not None:
        found = session.get(AnalysisRun, run_id)
        if found is None or (rating_run_id is not None and found.rating_run_id != rating_run_id):
            of = f" of rating run {rating_run_id}" if rating_run_id is not None else ""
            return error(404, f"no analysis run {run_id}{of}")
        return jsonify(analysis_json(found))
    found = latest_analysis(session, category, rating_run_id)
    if found is None:
        of = f" of rating run {rating_run_id}" if rating_run_id is not None else ""
        return error(404, f"no analysis of {category!r}{of} yet; run `arena analysis eq`")
    return jsonify(analysis_json(found))


@bp.get("/reasons")
def reasons():
    """The vote reasons' rates per model (the newest run's, or `run`'s), as the report cites them."""
    try:
        run = _run_id("run")
    except BadParameter as exc:
        return error(400, str(exc))
    found = latest_summary(read_session(), "reasons", run)
    if found is None:
        return error(404, "no rating snapshot yet; run `arena ratings recompute`" if run is None else
                     f"no rating run {run}")  # fmt: skip
    return jsonify(found)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
