"""The vote loop: show an anonymous battle, take one vote, reveal the models."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for
from flask_htmx import make_response

from arena.models import Battle, utcnow
from arena.voting.conversations import BattleConversation, battle_conversation
from arena.voting.edits import draw_edit
from arena.voting.message_emotion import message_emotion
from arena.voting.my_ranking import MIN_VOTES
from arena.voting.pairing import Draw, NoBattleAvailable
from arena.voting.reasons import chips, reasons_of, set_reason
from arena.voting.repeats import draw_repeat
from arena.voting.retired_keys import RetiredKey
from arena.voting.terms import TermsNotAccepted
from arena.voting.voting import (
    NotYourBattle,
    RetiredVisitor,
    Reveal,
    VoteRejected,
    battle_texts,
    cast_vote,
    create_battle,
    find_battle,
    find_reveal,
    is_expired,
)
from arena.web import db_session, htmx, unshared_read_session
from arena.web.limits import network_hash
from arena.web.sharing import public_page_of, share_url
from arena.web.visitor import (
    commit_identity,
    existing_visitor_key,
    forget_visitor,
    proof_paid,
    terms_accepted,
    visitor_key,
)

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
    # A multi-turn battle's whole conversation (templates/battle/_conversation.html); None for one exchange.
    conversation: BattleConversation | None = None


def _signer():
    return current_app.extensions["arena.battle_ids"]


def anonymous(battle: Battle) -> AnonymousBattle:
    reply_a, reply_b = battle_texts(battle.reply_a.text, battle.reply_b.text, battle.arm_a, battle.arm_b)
    return AnonymousBattle(
        token=_signer().sign(battle.public_id),
        prompt=battle.prompt.text,
        reply_a=reply_a,
        reply_b=reply_b,
        conversation=battle_conversation(battle) if battle.conversation is not None else None,
    )


def _reveal_page(reveal: Reveal, tagged: set[tuple[str, str]] | None = None):
    """`tagged`: the vote's reasons when known (none, right after the vote: no read for them on the vote path)."""
    key = existing_visitor_key()
    # Everything the reveal reads beyond the vote's own statements is read apart from the writing session: on
    # SQLite a read on the request's writing session, after the vote committed, would begin a new write
    # transaction and hold the write lock until the request ends, rendering included, so every other vote and
    # battle waited on it.
    # A request still inside a transaction of its writing session (a reloaded reveal read its battle there)
    # reads on, in it: both sessions draw from one pool, and threads each holding one connection while waiting
    # for a second would empty it under load. These reads (the counter, the emotion) need no common snapshot, so
    # on PostgreSQL each is a transaction of its own: no BEGIN and ROLLBACK round trips around them.
    writing = g.get("db_session")
    read = writing if writing is not None and writing.in_transaction() else unshared_read_session()
    # The counter under "New battle": votes cast, and how many more until Your ranking appears.
    votes = current_app.extensions["arena.own_votes"].count(read, key) if key is not None else 0
    progress = {"votes_cast": votes, "votes_needed": MIN_VOTES,
                "ranking_ready": reveal.names_shown and votes >= MIN_VOTES}  # fmt: skip
    if reveal.source == "live":
        # Imported here: the live blueprint builds on this module.
        from arena.web.live import reveal_page

        return reveal_page(reveal, outcome_label=OUTCOME_LABELS[reveal.outcome],
                           battle_token=_signer().sign(reveal.public_id), **progress)  # fmt: skip
    conversation = None
    if reveal.turns is not None:
        # A multi-turn battle's reveal shows the whole conversation again: read after the vote's two statements,
        # only for these battles.
        battle = find_battle(read, reveal.public_id)
        conversation = battle_conversation(battle) if battle is not None else None
    if tagged is None:
        tagged = reasons_of(read, reveal.public_id)
    # battle_token: the reveal's check form (terms/_verify.html) brings this reveal back counted once it is paid.
    battle_token = _signer().sign(reveal.public_id)
    return _page_or_partial("battle/_reveal.html", battle=reveal, outcome_label=OUTCOME_LABELS[reveal.outcome],
                            conversation=conversation, emotion=message_emotion(read, reveal.public_id),
                            share_url=share_url(reveal, battle_token), battle_token=battle_token,
                            reason_chips=chips(tagged), **progress)  # fmt: skip


def _open_battle(shown: AnonymousBattle):
    # Until the visitor accepts the terms, the battle shows the accept control and its vote buttons are off.
    return _page_or_partial(
        "battle/_battle.html", battle=shown, labels=OUTCOME_LABELS, terms_needed=not terms_accepted()
    )


def _page_or_partial(partial: str, status: int = 200, **context):
    if htmx:
        return render_template(partial, swapped=True, **context), status
    return render_template("battle/page.html", partial=partial, **context), status


def _load(token: str) -> Battle:
    public_id = _signer().unsign(token)
    battle = find_battle(db_session(), public_id) if public_id else None
    if battle is None or battle.prompt is None:
        abort(404, description="No such battle. Start a new one.")
    return battle


def _start_battle(ttl: timedelta) -> tuple[Draw, str]:
    """Draw a battle and store it open for this visitor; returns the draw and the battle's public id. A browser
    still carrying a key deleted under privacy is given a new identity first."""
    try:
        return _store_battle(ttl)
    except RetiredKey:
        forget_visitor()
        return _store_battle(ttl)


def _draw(session, pool) -> Draw:
    """A fresh draw or, at the rate ARENA_REPEAT_SHARE sets, a repeat of a battle already voted on, or at the rate
    ARENA_EDIT_SHARE sets, a reply against its edit."""
    settings = current_app.extensions["arena.settings"]
    key = existing_visitor_key()
    if settings.repeat_share > 0 and _chance.random() < settings.repeat_share:
        repeat = draw_repeat(session, key, _chance)
        if repeat is not None:
            return repeat
    seen = current_app.extensions["arena.seen"].of(session, key)
    if settings.edit_share > 0 and _chance.random() < settings.edit_share:
        edit = draw_edit(session, seen, _chance)
        if edit is not None:
            return edit
    return pool.draw(session, seen=seen)


_chance = random.SystemRandom()


def _store_battle(ttl: timedelta) -> tuple[Draw, str]:
    pool = current_app.extensions["arena.pairing"]
    if current_app.extensions["arena.engine"].dialect.name == "sqlite":
        # The draw in its own short read transaction, ended before the write: the write lock is then held for the
        # insert alone, and no open reader holds back the WAL checkpoint (which made every commit pay for one).
        with current_app.extensions["arena.read_session_factory"]() as read:
            draw = _draw(read, pool)
        db = db_session()
        public_id = create_battle(db, draw, judge_key=visitor_key(), ttl=ttl)
        db.commit()
        return draw, public_id
    # Elsewhere each statement is its own transaction: the draw only reads and the insert is one statement, so a
    # BEGIN and a COMMIT would only add two round trips to the database on every page view.
    with current_app.extensions["arena.autocommit_session_factory"]() as db:
        draw = _draw(db, pool)
        if draw.conversation is None:
            return draw, create_battle(db, draw, judge_key=visitor_key(), ttl=ttl)
    # A transcript battle is two rows (the battle and its conversation): one transaction, or neither.
    db = db_session()
    public_id = create_battle(db, draw, judge_key=visitor_key(), ttl=ttl)
    db.commit()
    return draw, public_id


@bp.get("/")
def new_battle():
    settings = current_app.extensions["arena.settings"]
    try:
        draw, public_id = _start_battle(timedelta(seconds=settings.battle_ttl_seconds))
    except NoBattleAvailable:
        return _page_or_partial("battle/_empty.html")
    return _open_battle(
        AnonymousBattle(
            _signer().sign(public_id), draw.prompt_text, draw.reply_a_text, draw.reply_b_text, draw.conversation
        )
    )


@bp.get("/battles/<token>")
def show_battle(token: str):
    battle = _load(token)
    count_unverified = current_app.extensions["arena.settings"].count_unverified
    reveal = None
    if battle.status == "voted":
        reveal = find_reveal(db_session(), battle.public_id, count_unverified=count_unverified)
    if battle.judge_key is not None and battle.judge_key != existing_visitor_key():
        # A battle's page is its visitor's: the reveal says how they voted, and a live battle holds their own
        # message. Anyone else holding the address (a copied reveal URL) is sent to the public page of the pair,
        # which names the models and nothing of the voter; only where the voter could see the names too, so a
        # second browser is no way round the reveal's price.
        if reveal is not None and reveal.names_shown and (public := public_page_of(battle)) is not None:
            return redirect(public, code=303)
        abort(403, description="This battle was shown to another visitor, and its page is theirs. Start your own.")
    if reveal is not None:
        return _reveal_page(reveal)
    if is_expired(battle, utcnow()):
        abort(410, description="This battle has expired. Start a new one.")
    if battle.reply_a_id is None or battle.reply_b_id is None:
        # A live battle whose replies are still being written (or were never asked for): nothing to show yet.
        abort(409, description="This live battle's replies are not complete yet; they appear on the page where "
                               "you wrote your message.")  # fmt: skip
    if battle.source == "live" and battle.conversation is not None:
        from arena.web.live import conversation_page

        return conversation_page(battle)
    return _open_battle(anonymous(battle))


@bp.post("/battles/<token>/vote")
def vote(token: str):
    db = db_session()
    public_id = _signer().unsign(token)
    if public_id is None:
        abort(404, description="No such battle. Start a new one.")
    voter = existing_visitor_key()
    try:
        if voter is None:
            # No identity, so this browser was shown no battle: it dropped the cookie, or holds someone's link.
            raise NotYourBattle("this battle was shown to another visitor (or your browser did not keep its "
                                "cookie, which voting needs): start your own")  # fmt: skip
        if not terms_accepted():
            return _terms_required(token)
        settings = current_app.extensions["arena.settings"]
        if not settings.require_terms:
            # No terms to accept, so the vote is where an identity commits (and spends its network's slot).
            commit_identity()
        # The reveal comes back from the vote's own statements: exactly what was stored.
        reveal = cast_vote(db, public_id, request.form.get("outcome", ""), voter_key=voter,
                           network_hash=network_hash(), min_dwell_ms=settings.min_dwell_ms,
                           verified=settings.count_unverified or proof_paid())  # fmt: skip
        db.commit()
        jobs = current_app.extensions["arena.jobs"]
        if jobs is not None:
            jobs.notify()  # the vote committed: the schedule checks whether a recompute is due
    except VoteRejected as rejected:
        db.rollback()
        if isinstance(rejected, RetiredVisitor):
            forget_visitor()
        if htmx:
            body = render_template("battle/_vote_error.html", message=rejected.message)
            return make_response(body, rejected.status, retarget="#vote-status", reswap="innerHTML")
        abort(rejected.status, description=rejected.message)
    if htmx:
        return _reveal_page(reveal, tagged=set())
    # Post/Redirect/Get: reloading the reveal page must not post the vote again.
    return redirect(url_for("battle.show_battle", token=token), code=303)


def _terms_required(token: str):
    """The reason, with the accept control beside it (in the status region for htmx, a page without JS)."""
    rejected = TermsNotAccepted()
    if htmx:
        # The battle already shows the accept control when it was drawn before acceptance: say where it is
        # rather than show a second one. A battle drawn before a new terms version has none, so it comes here.
        in_battle = request.form.get("terms_shown") == "1"
        body = render_template(
            "terms/_required.html", message=rejected.message, battle_token=token, in_battle=in_battle
        )
        return make_response(body, rejected.status, retarget="#vote-status", reswap="innerHTML")
    return _page_or_partial("terms/_required.html", rejected.status, message=rejected.message, battle_token=token)


@bp.post("/battles/<token>/reasons")
def reasons(token: str):
    """One tap of a reason chip on the reveal: tag (tagged=1, the default) or untag (tagged=0) one side of the
    visitor's own vote. htmx gets the chips back as they now stand; a plain form post goes back to the reveal."""
    db = db_session()
    public_id = _signer().unsign(token)
    if public_id is None:
        abort(404, description="No such battle. Start a new one.")
    side, reason = request.form.get("side", ""), request.form.get("reason", "")
    try:
        set_reason(db, public_id, existing_visitor_key(), side, reason, request.form.get("tagged", "1") != "0")
        db.commit()
    except VoteRejected as rejected:
        db.rollback()
        if htmx:
            body = render_template("battle/_vote_error.html", message=rejected.message)
            return make_response(body, rejected.status, retarget="#reasons-status", reswap="innerHTML")
        abort(rejected.status, description=rejected.message)
    if htmx:
        return render_template("battle/_reasons.html", reason_chips=chips(reasons_of(db, public_id)),
                               battle_token=token, tapped=(side, reason))  # fmt: skip
    return redirect(url_for("battle.show_battle", token=token, _anchor="reasons"), code=303)
