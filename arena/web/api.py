"""The JSON API (read-only for now): the leaderboard's twin, described by /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from arena.jobs.leaderboard import snapshot
from arena.jobs.snapshots import OVERALL, NoSuchBoard, RecomputeError, latest_reliability, latest_summary
from arena.web import read_session
from arena.web.openapi import openapi_document

bp = Blueprint("api", __name__, url_prefix="/api")


def error(status: int, message: str):
    return jsonify({"error": message}), status


@bp.get("/leaderboard")
def leaderboard():
    try:
        provisional_votes = current_app.extensions["arena.settings"].provisional_votes
        order = request.args.get("order", "all")
        anony = request.args.get("anony", "all")
        if anony not in ("all", "only"):
            return error(400, f"unknown anony {anony!r}: use 'all' (every vote) or 'only' (anonymous votes only)")
        run = request.args.get("run")
        if run is not None and not (run.isdigit() and 0 < int(run) < 2**31):
            return error(400, f"run must be a rating run's id (a positive whole number), got {run!r}")
        board = snapshot(read_session(), request.args.get("category", OVERALL), provisional_votes, order,
                         anony_only=anony == "only", run_id=None if run is None else int(run))  # fmt: skip
    except NoSuchBoard as exc:
        return error(404, str(exc))
    except RecomputeError as exc:
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
    found = latest_reliability(read_session())
    if found is None:
        return error(404, "no rating snapshot yet; run `arena ratings recompute`")
    return jsonify(found)


@bp.get("/reasons")
def reasons():
    found = latest_summary(read_session(), "reasons")
    if found is None:
        return error(404, "no rating snapshot yet; run `arena ratings recompute`")
    return jsonify(found)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
