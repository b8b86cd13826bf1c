"""Admin pages behind ARENA_ADMIN_TOKEN: what was excluded from the leaderboard and why, and re-inclusion; how
much of the reply bank the reveals have given away."""

from __future__ import annotations

import hmac
import time
from functools import wraps

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for

from arena.voting import exposure, moderation
from arena.voting.visitors import keyed_hash
from arena.web import csrf, db_session

bp = Blueprint("admin", __name__, url_prefix="/admin")
# CSRF is checked here rather than by CSRFProtect, so that a Bearer token (proof in itself) needs no form token.
csrf.exempt(bp)
# An admin session lasts this long from its login (the visitor session cookie itself lives for a year).
ADMIN_SESSION_SECONDS = 8 * 3600


@bp.after_request
def _no_store(response):
    # Admin pages show moderation data: no browser or proxy cache may keep a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


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
    mark, since = session.get("admin"), session.get("admin_since", 0)
    if not mark or time.time() - since > ADMIN_SESSION_SECONDS:
        return False
    if not hmac.compare_digest(mark, _session_mark(token)):
        return False
    if request.method == "POST":
        csrf.protect()  # a browser session proves nothing on its own: the form carries the token
    return True


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
    csrf.protect()
    token = _token()
    if not token:
        abort(403, description="The admin pages are disabled: set ARENA_ADMIN_TOKEN to enable them.")
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        abort(403, description="That admin token is not valid.")
    session["admin"] = _session_mark(token)
    session["admin_since"] = int(time.time())
    return redirect(url_for("admin.dashboard"), code=303)


@bp.post("/logout")
def logout():
    csrf.protect()
    session.pop("admin", None)
    session.pop("admin_since", None)
    return redirect(url_for("admin.dashboard"), code=303)


@bp.get("/")
@admin_required
def dashboard():
    db = db_session()
    return render_template("admin/dashboard.html", reasons=moderation.exclusions(db), totals=moderation.totals(db),
                           explain=moderation.explain, reincluded=request.args.get("reincluded"),
                           revealed=exposure.most_revealed(db), known=exposure.revealed_before(db))  # fmt: skip


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
