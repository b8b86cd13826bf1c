"""Live battles ("write your own"): the visitor's message, the crisis screen, then one SSE stream carrying both
anonymous replies. Event names are 'a', 'b', 'done', 'failed' and 'close'; no event has an id; payloads are
escaped text or rendered partials that never name a model."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from arena.llm import live
from arena.voting.crisis import screen
from arena.voting.voting import find_battle
from arena.web import db_session, htmx, read_session
from arena.web.battle import OUTCOME_LABELS, anonymous
from arena.web.bidi import strip_bidi
from arena.web.limits import network_limit_key
from arena.web.live_gate import Refusal, Ticket
from arena.web.visitor import commit_identity, existing_visitor_key, terms_accepted, visitor_key

bp = Blueprint("live", __name__)


def _settings():
    return current_app.extensions["arena.settings"]


def _page_or_partial(partial: str, status: int = 200, **context):
    context.setdefault("max_chars", _settings().live_max_chars)
    if htmx:
        return render_template(partial, **context), status
    return render_template("live/page.html", partial=partial, **context), status


@bp.get("/live")
def write_your_own():
    # Start the visitor's session here, so the limit on writing counts this visitor from the first message.
    visitor_key()
    # Said before the visitor types, not after: a message written for nothing is a message lost.
    available = len(live.live_models(read_session())) >= 2
    return _page_or_partial("live/_form.html", message="", available=available)


@bp.post("/live")
def start():
    settings = _settings()
    text = (request.form.get("message") or "").strip()
    if not text:
        return _page_or_partial("live/_form.html", 400, message=text, error="Write a message first.")
    if len(text) > settings.live_max_chars:
        error = f"Your message is {len(text)} characters long; the limit is {settings.live_max_chars}."
        return _page_or_partial("live/_form.html", 400, message=text, error=error)
    refusal = _gate().busy(network_limit_key())
    if refusal is not None:
        return _busy(refusal)
    key = visitor_key()
    # Two paid model calls: a commitment, so a new identity spends its network's slot here (429 over the cap).
    commit_identity()
    db = db_session()
    signals = screen(text)
    flags = [f"crisis:{s.category}" for s in signals]
    if not signals:
        flags = live.moderation_flags(
            text,
            model=settings.moderation_model,
            api_base=settings.moderation_api_base,
            api_key_env=settings.moderation_api_key_env,
        )
    if signals or "moderation" in flags:
        live.record_crisis_message(db, text, visitor_key=key, flags=flags)
        db.commit()
        return _page_or_partial("live/_crisis.html")
    try:
        battle = live.start_live_battle(
            db,
            text,
            visitor_key=key,
            judge_key=key,
            flags=flags,
            ttl=timedelta(seconds=settings.battle_ttl_seconds),
        )
    except live.NoLiveModels:
        # The models went away between the form and the send: the text stays in the box.
        db.rollback()
        error = (
            "Live battles are not available here right now, so your message was not sent or kept. "
            "It is still in the box below."
        )
        return _page_or_partial("live/_form.html", 503, message=text, error=error)
    db.commit()
    token = current_app.extensions["arena.battle_ids"].sign(battle.public_id)
    return _page_or_partial("live/_stream.html", prompt=battle.prompt.text, token=token, labels=OUTCOME_LABELS)


def _gate():
    return current_app.extensions["arena.live_gate"]


def _busy(refusal: Refusal):
    """503 with Retry-After: nothing was stored or sent, so trying again later loses nothing."""
    body, status = _page_or_partial("live/_busy.html", 503, reason=refusal.reason)
    return Response(body, status, headers={"Retry-After": str(refusal.retry_after)})


def _event(name: str, data: str = "") -> str:
    # One `data:` line per line of payload (SSE joins them with newlines); never an `id:`.
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


@bp.get("/live/<token>/stream")
def stream(token: str):
    public_id = current_app.extensions["arena.battle_ids"].unsign(token)
    if public_id is None:
        abort(404, description="No such battle.")
    # Only the visitor who wrote the message may open its stream: anyone else holding the token (a shared link,
    # a copied URL) would otherwise start it, or take it over and end the writer's. Checked before anything runs.
    battle = find_battle(db_session(), public_id)
    owner = existing_visitor_key()
    if battle is None or battle.source != "live" or owner is None or battle.judge_key != owner:
        abort(403, description="This live battle belongs to the visitor who wrote its message; write your own.")
    # The token the final vote form carries, made now: once the stream has started the session cannot be saved.
    generate_csrf()
    factory = current_app.extensions["arena.session_factory"]
    timeout = _settings().live_timeout_seconds
    terms_needed = not terms_accepted()
    # End the request's transaction before the stream's own: on SQLite it holds the write lock (arena.db).
    db_session().rollback()
    ticket: Ticket | None = None
    estimate = live.pending_battle_cost(factory, public_id)
    if estimate is not None:
        # Admitted before the battle is claimed: a refused stream leaves it pending, and the page's event source
        # asks again after Retry-After.
        admitted = _gate().admit(network_limit_key(), estimate)
        if isinstance(admitted, Refusal):
            return Response(admitted.reason, 503, mimetype="text/plain",
                            headers={"Retry-After": str(admitted.retry_after)})  # fmt: skip
        ticket = admitted

    def events():
        for event in live.stream_battle(factory, public_id, timeout_seconds=timeout):
            if event.name in ("a", "b"):
                yield _event(event.name, str(escape(strip_bidi(event.text))))
            elif event.name == "done":
                if ticket is not None:
                    ticket.close(event.cost_usd)
                with factory() as s:
                    battle = find_battle(s, public_id)
                    context = {"battle": anonymous(battle), "labels": OUTCOME_LABELS, "terms_needed": terms_needed}
                    html = render_template("battle/_battle.html", **context)
                yield _event("done", html)
            else:
                yield _event("failed", render_template("live/_failed.html", reason=event.text))
        # The browser closes on this event; otherwise EventSource would reconnect when the response ends.
        yield _event("close")

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    response = Response(stream_with_context(events()), mimetype="text/event-stream", headers=headers)
    if ticket is not None:
        # However else the stream ends (failed, the visitor gone, never started): free the slot; the reserved
        # estimate stays spent, since the calls may have been billed.
        response.call_on_close(ticket.close)
    return response
