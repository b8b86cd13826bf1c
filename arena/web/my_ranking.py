"""A visitor's own leaderboard beside the crowd's: worked out from their votes on each request, never stored,
never in the API or an export, and shown only to the session that cast the votes (no id in the URL)."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template

from arena.jobs.leaderboard import snapshot
from arena.voting.my_ranking import MIN_VOTES, CrowdRating, count_own_votes, personal_ranking
from arena.web import read_session
from arena.web.visitor import existing_visitor_key, proof_paid

bp = Blueprint("my_ranking", __name__)


@bp.get("/me/ranking")
def page():
    session = read_session()
    key = existing_visitor_key()
    votes = count_own_votes(session, key) if key else 0
    board = ranking = None
    # The ranking names models from the visitor's own votes, so diffing it after each vote would map replies to
    # models: it is shown, like a reveal's names, only to a visitor whose votes can count.
    verified = current_app.extensions["arena.settings"].count_unverified or proof_paid(session)
    if votes >= MIN_VOTES and verified:
        board = snapshot(session)
        crowd = [CrowdRating(r.slug, r.name, r.rating) for r in board.rows] if board else []
        ranking = personal_ranking(session, key, crowd)
    body = render_template("ranking/page.html", votes=votes, needed=MIN_VOTES, ranking=ranking, board=board,
                           verified=verified)  # fmt: skip
    response = make_response(body)
    # Personal: no shared cache may keep it and hand it to someone else.
    response.headers["Cache-Control"] = "private, no-store"
    response.vary.add("Cookie")
    return response
