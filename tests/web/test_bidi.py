"""Bidirectional control characters in model names and replies never reach a page (arena/web/bidi.py)."""

from __future__ import annotations

from sqlalchemy import select

from arena.db import transaction
from arena.models import Model, Reply
from tests.conftest import parse_battle_page

CONTROLS = "\u202e\u202d\u2066\u2067\u2068\u2069\u200f"


def test_bidi_controls_cannot_reorder_names_or_replies(client, demo_loaded, session_factory):
    with transaction(session_factory) as s:
        for model in s.scalars(select(Model)):
            model.display_name = f"\u202e{model.display_name}\u202c"
        for reply in s.scalars(select(Reply)):
            reply.text = f"\u2067{reply.text}\u2069 \u202eesrever"
    page = client.get("/").get_data(as_text=True)
    assert not set(CONTROLS) & set(page)
    assert "esrever" in page
    action, csrf = parse_battle_page(page)
    reveal = client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers={"HX-Request": "true"})
    assert reveal.status_code == 200 and not set(CONTROLS) & set(reveal.get_data(as_text=True))
    for path in ("/leaderboard", "/analysis", "/privacy"):
        assert not set(CONTROLS) & set(client.get(path).get_data(as_text=True)), path


def test_finalize_passes_clean_values_through_and_strips_the_rest():
    from markupsafe import Markup

    from arena.web.bidi import finalize, strip_bidi

    clean = "plain <text> with no controls, \u05d0 Hebrew and \u0627 Arabic letters"
    assert finalize(clean) is clean and finalize(7) == 7
    markup = Markup("<p>reply</p>")
    assert finalize(markup) is markup
    assert finalize(Markup("<p>\u202erev</p>")) == Markup("<p>rev</p>")
    assert type(finalize(Markup("<p>\u202erev</p>"))) is Markup
    assert finalize("a\u2066b\u200fc\u061c") == "abc"
    assert strip_bidi("a\u202eb") == "ab" and strip_bidi(Markup("<b>\u202ex</b>")) == Markup("<b>x</b>")
