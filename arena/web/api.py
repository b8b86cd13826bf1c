"""The JSON API (read-only for now): the leaderboard's twin, described by /api/openapi.json."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

from arena.jobs.leaderboard import snapshot
from arena.jobs.snapshots import OVERALL, NoSuchBoard, RecomputeError, latest_reliability
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
        board = snapshot(read_session(), request.args.get("category", OVERALL), provisional_votes, order)
    except NoSuchBoard as exc:
        return error(404, str(exc))
    except RecomputeError as exc:
        return error(400, str(exc))
    if board is None:
        return error(404, "no rating snapshot for this category yet; run `arena ratings recompute`")
    return jsonify(board.as_json())


@bp.get("/reliability")
def reliability():
    found = latest_reliability(read_session())
    if found is None:
        return error(404, "no rating snapshot yet; run `arena ratings recompute`")
    return jsonify(found)


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
