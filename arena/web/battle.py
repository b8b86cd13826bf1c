"""The vote loop: show an anonymous battle, take one vote, reveal the models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_htmx import make_response

from arena.models import Battle, utcnow
from arena.services.pairing import NoBattleAvailable
from arena.services.terms import TermsNotAccepted
from arena.services.voting import VoteRejected, cast_vote, create_battle, find_battle, is_expired
from arena.web import db_session, htmx
from arena.web.visitor import terms_accepted, visitor_key

bp = Blueprint("battle", __name__)

OUTCOME_LABELS = {
    "model_a": "A is better",
    "model_b": "B is better",
    "tie": "Tie",
    "both_bad": "Both are bad",
}


@dataclass(frozen=True)
class AnonymousBattle:
    """All a template may know of a battle before the vote: no model, no slug."""

    token: str
    prompt: str
    reply_a: str
    reply_b: str


@dataclass(frozen=True)
class RevealedBattle:
    token: str
    prompt: str
    reply_a: str
    reply_b: str
    model_a: str
    model_b: str
    outcome: str
    outcome_label: str
    # Why the vote does not count, when it does not (the visitor is told, never silently dropped).
    exclusion_reason: str | None = None


def _signer():
    return current_app.extensions["arena.battle_ids"]


def anonymous(battle: Battle) -> AnonymousBattle:
    return AnonymousBattle(
        token=_signer().sign(battle.public_id),
        prompt=battle.prompt.text,
        reply_a=battle.reply_a.text,
        reply_b=battle.reply_b.text,
    )


def _revealed(battle: Battle) -> RevealedBattle:
    outcome = battle.vote.outcome
    return RevealedBattle(
        token=_signer().sign(battle.public_id),
        prompt=battle.prompt.text,
        reply_a=battle.reply_a.text,
        reply_b=battle.reply_b.text,
        model_a=battle.model_a.display_name,
        model_b=battle.model_b.display_name,
        outcome=outcome,
        outcome_label=OUTCOME_LABELS[outcome],
        exclusion_reason=battle.vote.exclusion_reason,
    )


def _open_battle(battle: Battle):
    # Until the visitor accepts the terms, the battle shows the accept control and its vote buttons are off.
    return _page_or_partial(
        "battle/_battle.html", battle=anonymous(battle), labels=OUTCOME_LABELS, terms_needed=not terms_accepted()
    )


def _page_or_partial(partial: str, status: int = 200, **context):
    if htmx:
        return render_template(partial, **context), status
    return render_template("battle/page.html", partial=partial, **context), status


def _load(token: str) -> Battle:
    public_id = _signer().unsign(token)
    battle = find_battle(db_session(), public_id) if public_id else None
    if battle is None or battle.prompt is None:
        abort(404, description="No such battle. Start a new one.")
    return battle


@bp.get("/")
def new_battle():
    db = db_session()
    settings = current_app.extensions["arena.settings"]
    try:
        draw = current_app.extensions["arena.pairing"].draw(db)
    except NoBattleAvailable:
        return _page_or_partial("battle/_empty.html")
    battle = create_battle(db, draw, judge_key=visitor_key(), ttl=timedelta(seconds=settings.battle_ttl_seconds))
    db.commit()
    return _open_battle(battle)


@bp.get("/battles/<token>")
def show_battle(token: str):
    battle = _load(token)
    if battle.status == "voted":
        return _page_or_partial("battle/_reveal.html", battle=_revealed(battle))
    if is_expired(battle, utcnow()):
        abort(410, description="This battle has expired. Start a new one.")
    return _open_battle(battle)


@bp.post("/battles/<token>/vote")
def vote(token: str):
    db = db_session()
    public_id = _signer().unsign(token)
    if public_id is None:
        abort(404, description="No such battle. Start a new one.")
    if not terms_accepted():
        return _terms_required(token)
    try:
        settings = current_app.extensions["arena.settings"]
        cast_vote(db, public_id, request.form.get("outcome", ""), min_dwell_ms=settings.min_dwell_ms)
        db.commit()
    except VoteRejected as rejected:
        db.rollback()
        if htmx:
            body = render_template("battle/_vote_error.html", message=rejected.message)
            return make_response(body, rejected.status, retarget="#vote-status", reswap="innerHTML")
        abort(rejected.status, description=rejected.message)
    if htmx:
        return render_template("battle/_reveal.html", battle=_revealed(_load(token)))
    # Post/Redirect/Get: reloading the reveal page must not post the vote again.
    return redirect(url_for("battle.show_battle", token=token), code=303)


def _terms_required(token: str):
    """The reason, with the accept control beside it (in the status region for htmx, a page without JS)."""
    rejected = TermsNotAccepted()
    if htmx:
        body = render_template("terms/_required.html", message=rejected.message, battle_token=token)
        return make_response(body, rejected.status, retarget="#vote-status", reswap="innerHTML")
    return _page_or_partial("terms/_required.html", rejected.status, message=rejected.message, battle_token=token)
