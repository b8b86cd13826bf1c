"""The terms page and their acceptance: once per visitor and version, before the first vote."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from arena.web import htmx
from arena.web.visitor import accept_terms, terms_accepted, terms_version

bp = Blueprint("terms", __name__)


@bp.get("/terms")
def terms_page():
    return render_template("terms/page.html", version=terms_version(), accepted=terms_accepted())


@bp.post("/terms/accept")
def accept():
    accept_terms()
    token = request.form.get("battle", "")
    if not token:
        return redirect(url_for("battle.new_battle"), code=303)
    if htmx:
        from arena.web.battle import show_battle

        # The same battle again, now with its vote buttons on: the visitor keeps what they were reading.
        body, status = show_battle(token)
        # An out-of-band swap empties the status region: an "accept the terms first" notice there is answered.
        return body + render_template("terms/_cleared_status.html"), status
    # Post/Redirect/Get back to the battle the visitor was reading.
    return redirect(url_for("battle.show_battle", token=token), code=303)
