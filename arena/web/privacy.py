"""The privacy notice and a visitor's own deletion of everything stored under their visitor key."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from arena.voting.privacy import delete_visitor_data
from arena.web import db_session
from arena.web.visitor import existing_visitor_key, forget_visitor

bp = Blueprint("privacy", __name__)

# The counts of the last deletion, shown once on the page the deletion redirects to.
DELETED = "privacy_deleted"


def _page(status: int = 200, error: str | None = None):
    return render_template(
        "privacy/page.html",
        visitor_key=existing_visitor_key(),
        deleted=session.pop(DELETED, None),
        error=error,
        contact_email=current_app.extensions["arena.settings"].contact_email,
    ), status


@bp.get("/privacy")
def privacy_page():
    return _page()


@bp.post("/privacy/delete")
def delete():
    if request.form.get("confirm") != "yes":
        return _page(400, "Nothing was deleted: tick the box to confirm that you want your data deleted.")
    key = existing_visitor_key()
    counts = {"votes": 0, "prompts": 0}
    if key is not None:
        db = db_session()
        summary = delete_visitor_data(db, key)
        db.commit()
        counts = summary.as_dict()
        # Counts only: the key would link this log line to the deleted data.
        current_app.logger.info("visitor data deleted on request: %s", counts)
        forget_visitor()
    session[DELETED] = counts
    # Post/Redirect/Get: a reload shows the page, it does not delete again.
    return redirect(url_for("privacy.privacy_page"), code=303)
