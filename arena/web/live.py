"""Live battles ("write your own"): the visitor's message, the crisis screen, then one SSE stream carrying both
anonymous replies; then, until the vote, the next message to the same two models (a conversation of up to
ARENA_LIVE_MAX_TURNS exchanges), and after the vote the same conversation with two new models. Event names are
'a', 'b', 'done', 'failed' and 'close'; no event has an id; payloads are escaped text or rendered partials that
never name a model. Every message, the first or a later one, passes the same checks: its length, the crisis
screen and moderation, the live gate (streams and the day's budget) and the rate limits; only the visitor who
wrote a conversation may add to it or open its streams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from flask_htmx import make_response
from flask_wtf.csrf import generate_csrf
from markupsafe import escape

from arena.llm import live
from arena.models import Battle
from arena.voting.conversations import BattleConversation, Message, battle_conversation
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


# ---- what the page shows of a conversation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Carried:
    """An exchange a continued conversation carried over: the visitor's message and the answer they kept."""

    number: int
    message: str
    answer: str


@dataclass(frozen=True)
class LiveConversation:
    """All a live page may know of a conversation: texts by exchange, never a model. `own` holds the exchanges
    this battle's two models answered (numbered from 0, for templates/battle/_conversation.html), `exchanges`
    their count."""

    carried: tuple[Carried, ...]
    own: BattleConversation
    exchanges: int

    @property
    def total(self) -> int:
        return len(self.carried) + self.exchanges


def _only(messages: tuple[Message, ...], idx: int, role: str) -> str:
    return next((m.content for m in messages if m.idx == idx and m.role == role), "")


def conversation_view(battle: Battle) -> LiveConversation:
    """The completed exchanges of a live battle, those carried over from an earlier pair first."""
    shown = battle_conversation(battle)
    # A live battle from before conversations has no conversation row: one exchange, nothing carried.
    carried_count = int(((battle.conversation.meta or {}) if battle.conversation else {}).get("carried_exchanges", 0))
    answered = sorted({m.idx for m in shown.a if m.role == "assistant"})
    carried = tuple(Carried(idx + 1, _only(shown.a, idx, "user"), _only(shown.a, idx, "assistant"))
                    for idx in answered if idx < carried_count)  # fmt: skip

    def renumbered(messages: tuple[Message, ...]) -> tuple[Message, ...]:
        return tuple(Message(m.role, m.content, m.author, m.idx - carried_count) for m in messages
                     if m.idx >= carried_count and m.idx in answered)  # fmt: skip

    own = BattleConversation("shared", renumbered(shown.a), renumbered(shown.b))
    return LiveConversation(carried, own, len(answered) - len(carried))


def _writing_context(battle: Battle) -> dict:
    settings = _settings()
    # Anyone holding the link may read an open battle; only its writer is offered the next message.
    can_write = live.exchanges_shown(battle) < settings.live_max_turns and existing_visitor_key() == battle.judge_key
    return {"max_turns": settings.live_max_turns, "max_chars": settings.live_max_chars, "can_write": can_write}


def _conversation_context(battle: Battle, terms_needed: bool) -> dict:
    return {"battle": anonymous(battle), "view": conversation_view(battle), "labels": OUTCOME_LABELS,
            "terms_needed": terms_needed, **_writing_context(battle)}  # fmt: skip


def conversation_page(battle: Battle):
    """An open live conversation whose latest exchange is complete (battle.show_battle sends it here)."""
    return _page_or_partial("live/_conversation.html", **_conversation_context(battle, not terms_accepted()))


def reveal_context(public_id: str) -> dict:
    """What the reveal of a live conversation adds: every exchange with the models named, and the form that goes
    on with two new models (once, up to ARENA_LIVE_MAX_TURNS exchanges, only for the visitor who wrote it)."""
    battle = find_battle(db_session(), public_id)
    if battle is None or battle.conversation is None or battle.reply_a_id is None:
        return {}
    token = current_app.extensions["arena.battle_ids"].sign(battle.public_id)
    context = {"view": conversation_view(battle), "token": token, **_writing_context(battle)}
    try:
        live.check_continuation(battle, max_turns=_settings().live_max_turns)
        context["can_continue"] = existing_visitor_key() == battle.judge_key
    except live.TurnRefused as refused:
        context["can_continue"], context["continue_refused"] = False, refused.reason
    return context


def reveal_page(reveal, **context):
    """The reveal of a voted live battle (battle._reveal_page sends it here), on the live page, whose script
    streams the replies of a continuation."""
    return _page_or_partial("live/_reveal.html", battle=reveal, swapped=bool(htmx),
                            **reveal_context(reveal.public_id), **context)  # fmt: skip


def _stream_page(battle: Battle, message: str, earlier: LiveConversation | None = None):
    token = current_app.extensions["arena.battle_ids"].sign(battle.public_id)
    return _page_or_partial("live/_stream.html", prompt=message, token=token, labels=OUTCOME_LABELS,
                            earlier=earlier)  # fmt: skip


# ---- writing ------------------------------------------------------------------------------------------------------


def _message_error(text: str) -> str | None:
    limit = _settings().live_max_chars
    if not text:
        return "Write a message first."
    if len(text) > limit:
        return f"Your message is {len(text)} characters long; the limit is {limit}."
    return None


def _screen(text: str) -> tuple[list[str], bool]:
    """The message's flags, and whether it must not reach a model: the crisis screen, then (only if that found
    nothing) the moderation model."""
    settings = _settings()
    signals = screen(text)
    flags = [f"crisis:{s.category}" for s in signals]
    if not signals:
        flags = live.moderation_flags(
            text,
            model=settings.moderation_model,
            api_base=settings.moderation_api_base,
            api_key_env=settings.moderation_api_key_env,
        )
    return flags, bool(signals) or "moderation" in flags


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
    error = _message_error(text)
    if error:
        return _page_or_partial("live/_form.html", 400, message=text, error=error)
    refusal = _gate().busy(network_limit_key())
    if refusal is not None:
        return _busy(refusal)
    key = visitor_key()
    # Two paid model calls: a commitment, so a new identity spends its network's slot here (429 over the cap).
    commit_identity()
    db = db_session()
    flags, crisis = _screen(text)
    if crisis:
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
    return _stream_page(battle, battle.prompt.text)


def _own_battle(token: str) -> Battle:
    """The live battle behind `token`, if this visitor wrote it: 404 for a forged token, 403 for anyone else
    (a shared link or copied URL must not let a stranger write into, or start the stream of, someone's
    conversation)."""
    public_id = current_app.extensions["arena.battle_ids"].unsign(token)
    if public_id is None:
        abort(404, description="No such battle.")
    battle = find_battle(db_session(), public_id)
    owner = existing_visitor_key()
    if battle is None or battle.source != "live" or owner is None or battle.judge_key != owner:
        abort(403, description="This live battle belongs to the visitor who wrote its message; write your own.")
    return battle


def _refused(status: int, reason: str, target: str, retry_after: int | None = None):
    """The reason beside the form that was sent (the conversation and the typed text stay on the page), or an
    error page without htmx. Nothing was stored."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    if htmx:
        body = render_template("battle/_vote_error.html", message=reason)
        response = make_response(body, status, retarget=target, reswap="innerHTML")
        response.headers.update(headers)
        return response
    body, _ = _page_or_partial("live/_refused.html", status, reason=reason)
    return Response(body, status, headers=headers)


def _write_later(token: str, target: str):
    """What a later message and a continuation share before anything is stored: the owner, the text, the gate.
    Returns (battle, text) or a response refusing it."""
    battle = _own_battle(token)
    text = (request.form.get("message") or "").strip()
    error = _message_error(text)
    if error:
        return _refused(400, error, target)
    return battle, text


@bp.post("/live/<token>/messages")
def next_message(token: str):
    """The visitor's next message to the same two models; its answers come over the stream, as the first did."""
    target = "#next-status"
    checked = _write_later(token, target)
    if not isinstance(checked, tuple):
        return checked
    battle, text = checked
    max_turns = _settings().live_max_turns
    try:
        live.check_next_message(battle, max_turns=max_turns)
    except live.TurnRefused as refused:
        return _refused(refused.status, refused.reason, target)
    refusal = _gate().busy(network_limit_key())
    if refusal is not None:
        return _refused(503, f"{refusal.reason} Your message was not sent or kept.", target, refusal.retry_after)
    db = db_session()
    flags, crisis = _screen(text)
    if crisis:
        # As at the first message: kept flagged, sent to no model, and nothing more is contested.
        live.record_crisis_message(db, text, visitor_key=battle.judge_key, flags=flags)
        live.end_for_crisis(db, battle)
        db.commit()
        return _page_or_partial("live/_crisis.html")
    earlier = conversation_view(battle)
    try:
        live.next_message(db, battle, text, flags=flags, max_turns=max_turns)
    except live.TurnRefused as refused:
        db.rollback()
        return _refused(refused.status, refused.reason, target)
    db.commit()
    return _stream_page(battle, text, earlier)


@bp.post("/live/<token>/continue")
def continue_conversation(token: str):
    """After the vote: the same conversation, with two new anonymous models, next in its evaluation session."""
    target = "#continue-status"
    checked = _write_later(token, target)
    if not isinstance(checked, tuple):
        return checked
    voted, text = checked
    settings = _settings()
    try:
        live.check_continuation(voted, max_turns=settings.live_max_turns)
    except live.TurnRefused as refused:
        return _refused(refused.status, refused.reason, target)
    refusal = _gate().busy(network_limit_key())
    if refusal is not None:
        return _refused(503, f"{refusal.reason} Your message was not sent or kept.", target, refusal.retry_after)
    db = db_session()
    flags, crisis = _screen(text)
    if crisis:
        live.record_crisis_message(db, text, visitor_key=voted.judge_key, flags=flags)
        db.commit()
        return _page_or_partial("live/_crisis.html")
    try:
        battle = live.continue_live_battle(db, voted, text, visitor_key=voted.judge_key, flags=flags,
                                           ttl=timedelta(seconds=settings.battle_ttl_seconds),
                                           max_turns=settings.live_max_turns)  # fmt: skip
    except live.TurnRefused as refused:
        db.rollback()
        return _refused(refused.status, refused.reason, target)
    except live.NoLiveModels:
        db.rollback()
        return _refused(503, "Live battles are not available here right now, so your message was not sent or "
                             "kept.", target)  # fmt: skip
    db.commit()
    return _stream_page(battle, text, conversation_view(battle))


def _gate():
    return current_app.extensions["arena.live_gate"]


def _busy(refusal: Refusal):
    """503 with Retry-After: nothing was stored or sent, so trying again later loses nothing."""
    body, status = _page_or_partial("live/_busy.html", 503, reason=refusal.reason)
    return Response(body, status, headers={"Retry-After": str(refusal.retry_after)})


# ---- the stream ---------------------------------------------------------------------------------------------------


def _event(name: str, data: str = "") -> str:
    # One `data:` line per line of payload (SSE joins them with newlines); never an `id:`.
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


@bp.get("/live/<token>/stream")
def stream(token: str):
    # Only the visitor who wrote the message may open its stream: checked before anything runs.
    battle = _own_battle(token)
    public_id = battle.public_id
    # A later exchange's page swaps the whole conversation back in if it fails; a first one has nothing to show.
    later = battle.reply_a_id is not None
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
        # Admitted before the exchange is claimed: a refused stream leaves it pending, and the page's event
        # source asks again after Retry-After.
        admitted = _gate().admit(network_limit_key(), estimate)
        if isinstance(admitted, Refusal):
            return Response(admitted.reason, 503, mimetype="text/plain",
                            headers={"Retry-After": str(admitted.retry_after)})  # fmt: skip
        ticket = admitted

    def conversation_html(battle: Battle, failed: str | None = None) -> str:
        context = _conversation_context(battle, terms_needed)
        return render_template("live/_conversation.html", failed=failed, **context)

    def events():
        for event in live.stream_battle(factory, public_id, timeout_seconds=timeout):
            if event.name in ("a", "b"):
                yield _event(event.name, str(escape(strip_bidi(event.text))))
                continue
            if event.name == "done" and ticket is not None:
                ticket.close(event.cost_usd)
            with factory() as s:
                battle = find_battle(s, public_id)
                if event.name == "done":
                    yield _event("done", conversation_html(battle))
                elif not later:
                    yield _event("failed", render_template("live/_failed.html", reason=event.text))
                elif battle is not None and battle.status == "open":
                    # A later exchange failed: the earlier ones stand, and the page shows them again, votable.
                    yield _event("failed", conversation_html(battle, failed=event.text))
                else:
                    token = current_app.extensions["arena.battle_ids"].sign(public_id)
                    yield _event("failed", render_template("live/_failed_turn.html", reason=event.text, token=token))
        # The browser closes on this event; otherwise EventSource would reconnect when the response ends.
        yield _event("close")

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    response = Response(stream_with_context(events()), mimetype="text/event-stream", headers=headers)
    if ticket is not None:
        # However else the stream ends (failed, the visitor gone, never started): free the slot; the reserved
        # estimate stays spent, since the calls may have been billed.
        response.call_on_close(ticket.close)
    return response
