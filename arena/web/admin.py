"""Admin pages behind ARENA_ADMIN_TOKEN: what was excluded from the leaderboard and why, and re-inclusion; how
much of the reply bank the reveals have given away."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta
from functools import wraps

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from limits import parse
from sqlalchemy import delete, select

from arena.models import AdminSession, utcnow
from arena.voting import exposure, moderation
from arena.voting.visitors import keyed_hash
from arena.web import csrf, db_session
from arena.web.limits import network_limit_key

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


def _session_mark(token: str, nonce: str) -> str:
    # The session keeps a keyed hash of the token, never the token: rotating the token logs everyone out.
    return keyed_hash(current_app.config["SECRET_KEY"], "admin-session", f"{nonce}:{token}")


def _nonce_digest(nonce: str) -> str:
    return hashlib.sha256(nonce.encode()).hexdigest()


def _session_alive(nonce: str) -> bool:
    found = db_session().scalar(
        select(AdminSession.nonce_digest).where(
            AdminSession.nonce_digest == _nonce_digest(nonce), AdminSession.expires_at > utcnow()
        )
    )
    return found is not None


def _bearer_limit(check: str) -> bool:
    """`check` ("test" or "hit") the network's count of wrong Bearer tokens (hashed /24 or /48) against
    ARENA_RATE_LIMIT_ADMIN_LOGIN, like the login form, whatever the cookies; True while under it."""
    settings = current_app.extensions["arena.settings"]
    if not settings.rate_limit_enabled:
        return True
    strategy = current_app.extensions["arena.limiter"].limiter
    try:
        return getattr(strategy, check)(parse(settings.rate_limit_admin_login), "admin-bearer", network_limit_key())
    except Exception as error:  # noqa: BLE001 - a store that is down must not take the admin pages down
        current_app.logger.warning("admin token guesses not counted, the rate-limit store failed: %s", error)
        return True


def _bearer_guesses_left() -> bool:
    return _bearer_limit("test")


def _count_wrong_bearer() -> bool:
    """Count one wrong Bearer token against the network; False when that was one too many (a racing guess)."""
    return _bearer_limit("hit")


def _too_many_guesses():
    abort(429, description="Too many wrong admin tokens from your network; wait a minute before trying again.")


def _authorised() -> bool:
    token = _token()
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        # Refused before the comparison while the network is over its guesses: even the right token waits, so
        # the answer says nothing about a guess.
        if not _bearer_guesses_left():
            _too_many_guesses()
        if not hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode()):
            if not _count_wrong_bearer():
                _too_many_guesses()
            abort(403, description="That admin token is not valid.")
        return True
    mark, since, nonce = session.get("admin"), session.get("admin_since", 0), session.get("admin_nonce")
    if not mark or not nonce or time.time() - since > ADMIN_SESSION_SECONDS:
        return False
    if not hmac.compare_digest(mark, _session_mark(token, nonce)):
        return False
    # Logged out since (here or in another copy of this cookie): the server no longer holds the session.
    if not _session_alive(nonce):
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
    # A fresh nonce per login, held by the server until logout or expiry: the cookie alone is not enough.
    nonce = secrets.token_urlsafe(32)
    now = utcnow()
    db = db_session()
    db.execute(delete(AdminSession).where(AdminSession.expires_at <= now))
    db.add(AdminSession(nonce_digest=_nonce_digest(nonce), created_at=now,
                        expires_at=now + timedelta(seconds=ADMIN_SESSION_SECONDS)))  # fmt: skip
    db.commit()
    session["admin"] = _session_mark(token, nonce)
    session["admin_nonce"] = nonce
    session["admin_since"] = int(time.time())
    return redirect(url_for("admin.dashboard"), code=303)


@bp.post("/logout")
def logout():
    csrf.protect()
    nonce = session.pop("admin_nonce", None)
    if nonce:
        # Revoked on the server: a copy of this cookie taken before now no longer logs anyone in.
        db = db_session()
        db.execute(delete(AdminSession).where(AdminSession.nonce_digest == _nonce_digest(nonce)))
        db.commit()
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
