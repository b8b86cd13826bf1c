"""The leaderboard page. Until the rating engine has produced a snapshot it shows an empty state."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import func, select

from arena.models import Vote
from arena.web import db_session

bp = Blueprint("leaderboard", __name__)


@bp.get("/leaderboard")
def leaderboard():
    votes = db_session().scalar(select(func.count()).select_from(Vote))
    return render_template("leaderboard/page.html", snapshot=None, votes=votes)
