"""Admin pages behind ARENA_ADMIN_TOKEN: what was excluded from the leaderboard and why, and re-inclusion."""

from __future__ import annotations

import hmac
from functools import wraps

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from arena.voting import moderation
from arena.voting.visitors import keyed_hash
from arena.web import db_session

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _token() -> str | None:
    return current_app.extensions["arena.settings"].admin_token


def _session_mark(token: str) -> str:
    # The session keeps a keyed hash of the token, never the token: rotating the token logs everyone out.
    return keyed_hash(current_app.config["SECRET_KEY"], "admin-session", token)


def _authorised() -> bool:
    token = _token()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        if not hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode()):
            abort(403, description="That admin token is not valid.")
        return True
    mark = session.get("admin")
    return bool(mark) and hmac.compare_digest(mark, _session_mark(token))


def admin_required(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        if not _token():
            abort(403, description="The admin pages are disabled: set ARENA_ADMIN_TOKEN to enable them.")
        if not _authorised():
            return render_template("admin/login.html"), 401
        return view(*args, **kwargs)

    return guarded


@bp.post("/login")
def login():
    token = _token()
    if not token:
        abort(403, description="The admin pages are disabled: set ARENA_ADMIN_TOKEN to enable them.")
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        abort(403, description="That admin token is not valid.")
    session["admin"] = _session_mark(token)
    return redirect(url_for("admin.dashboard"), code=303)


@bp.get("/")
@admin_required
def dashboard():
    db = db_session()
    return render_template("admin/dashboard.html", reasons=moderation.exclusions(db), totals=moderation.totals(db),
                           explain=moderation.explain, reincluded=request.args.get("reincluded"))  # fmt: skip


@bp.post("/votes/reinclude")
@admin_required
def reinclude():
    reason = request.form.get("reason", "")
    if not reason:
        abort(400, description="Say which exclusion reason to re-include.")
    db = db_session()
    changed = moderation.reinclude(db, reason)
    db.commit()
    current_app.logger.info("admin re-included %d votes excluded as %s", changed, reason)
    return redirect(url_for("admin.dashboard", reincluded=f"{changed} votes ({reason})"), code=303)
