"""The leaderboard before any rating run: a helpful empty state with the vote count."""

from __future__ import annotations

from tests.conftest import parse_battle_page


def test_empty_leaderboard_explains_what_comes(client, demo_loaded):
    page = client.get("/leaderboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "No ratings yet" in html and "arena ratings recompute" in html
    assert "0 votes recorded" in html
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    client.post(action, data={"outcome": "tie", "csrf_token": csrf})
    assert "1 vote recorded" in client.get("/leaderboard").get_data(as_text=True)
