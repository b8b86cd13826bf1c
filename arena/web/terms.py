"""The terms page and their acceptance: once per visitor and version, before the first vote. The accept form also
carries the browser's solved proof-of-work (arena/voting/proof_of_work.py), paid once per visitor."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from flask_htmx import make_response

from arena.voting.proof_of_work import ProofRejected, new_challenge
from arena.web import db_session, htmx
from arena.web.visitor import accept_terms, proof_secrets, terms_accepted, terms_version, visitor_key

bp = Blueprint("terms", __name__)

# The form field the ALTCHA widget writes its solution into.
PROOF_FIELD = "altcha"


@bp.get("/terms")
def terms_page():
    return render_template("terms/page.html", version=terms_version(), accepted=terms_accepted())


@bp.get("/terms/challenge")
def challenge():
    """A fresh proof-of-work challenge for this visitor (the widget fetches it; giving a browser its identity here
    counts against its network's hourly cap like any other)."""
    settings = current_app.extensions["arena.settings"]
    response = jsonify(new_challenge(proof_secrets(), visitor_key(), settings.pow_difficulty))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/terms/accept")
def accept():
    try:
        counted = accept_terms(proof=request.form.get(PROOF_FIELD) or None)
    except ProofRejected as rejected:
        db_session().rollback()
        message = f"Not accepted: {rejected}."
        if htmx:
            body = render_template("battle/_vote_error.html", message=message)
            return make_response(body, 400, retarget="#vote-status", reswap="innerHTML")
        abort(400, description=message)
    token = request.form.get("battle", "")
    # The reveal's check form (terms/_verify.html), posted by itself once the browser solved the check.
    checked = bool(request.form.get("verify"))
    if not token:
        if checked and htmx:
            return render_template("terms/_checked.html", counted=counted)
        return redirect(url_for("battle.new_battle"), code=303)
    if htmx:
        from arena.web.battle import show_battle

        # The same battle again: with its vote buttons on (accepted from a battle), or its reveal now counted and
        # named (checked from a reveal); the visitor keeps what they were reading.
        body, status = show_battle(token)
        # An out-of-band swap answers the status region: an "accept the terms first" notice there is emptied.
        status_region = "terms/_checked_status.html" if checked else "terms/_cleared_status.html"
        return body + render_template(status_region, counted=counted), status
    # Post/Redirect/Get back to the battle the visitor was reading.
    return redirect(url_for("battle.show_battle", token=token), code=303)
