"""Shared battles (arena.voting.sharing): the reveal's share link, and the public page it leads to."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from sqlalchemy import select

from arena.models import PromptEmotion
from arena.taxonomy import GROUP_OF
from arena.voting.sharing import NotShareable, ShareLinks, shareable_pair, shared_page
from arena.voting.voting import find_battle, find_reveal
from arena.web import read_session

bp = Blueprint("sharing", __name__)


def _links() -> ShareLinks:
    return current_app.extensions["arena.share_links"]


def share_url(reveal, battle_token: str | None = None) -> str | None:
    """The reveal's share link, offered where sharing can work: a battle from the bank whose names the voter may
    see (the route checks the rest). `battle_token`: the battle's signed id when the caller has it already."""
    if not reveal.names_shown or reveal.source != "arena":
        return None
    token = battle_token or current_app.extensions["arena.battle_ids"].sign(reveal.public_id)
    return url_for("sharing.share_battle", token=token)


def public_page_of(battle) -> str | None:
    """The shared page of a voted battle from the bank, or None when it has none (a visitor's own message, a live
    conversation, a flagged or withdrawn message)."""
    try:
        return url_for("sharing.shared", token=_links().token(shareable_pair(battle)))
    except NotShareable:
        return None


@bp.get("/battles/<token>/share")
def share_battle(token: str):
    """From a voted battle to its shared page (a stranger at the battle's own address is sent there too); an open
    battle has no shared page, so the names never leave before the vote."""
    public_id = current_app.extensions["arena.battle_ids"].unsign(token)
    session = read_session()
    battle = find_battle(session, public_id) if public_id else None
    if battle is None or battle.status != "voted":
        abort(404, description="A battle can be shared only after its vote.")
    count_unverified = current_app.extensions["arena.settings"].count_unverified
    reveal = find_reveal(session, battle.public_id, count_unverified=count_unverified)
    if reveal is None:
        abort(404, description="A battle can be shared only after its vote.")
    if not reveal.names_shown:
        abort(403, description="This battle can be shared once your browser has done its one-time check (the "
                               "names show then too).")  # fmt: skip
    try:
        pair = shareable_pair(battle)
    except NotShareable as refused:
        abort(403, description=f"This battle cannot be shared: {refused}.")
    return redirect(url_for("sharing.shared", token=_links().token(pair)), code=303)


@bp.get("/shared/<token>")
def shared(token: str):
    pair = _links().pair(token)
    session = read_session()
    page = shared_page(session, pair) if pair else None
    if page is None:
        abort(404, description="No such shared battle (or it is no longer public).")
    categories = session.scalars(
        select(PromptEmotion.category).where(PromptEmotion.prompt_id == page.prompt_id)
        .order_by(PromptEmotion.intensity.desc(), PromptEmotion.category)
    ).all()  # fmt: skip
    groups = list(dict.fromkeys(GROUP_OF[c] for c in categories if c in GROUP_OF))
    return render_template("sharing/page.html", page=page, groups=groups,
                           url=url_for("sharing.shared", token=token, _external=True))  # fmt: skip
