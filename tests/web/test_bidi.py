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
