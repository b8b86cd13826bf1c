"""Why people voted: reason chips on the reveal, one tap each, only for the battle's own visitor after the vote."""

from __future__ import annotations

import re

from sqlalchemy import select

from arena.models import Battle, Vote, VoteReason
from tests.conftest import CSRF_INPUT, parse_battle_page

HX = {"HX-Request": "true"}


def stored(session_factory) -> set[tuple[str, str]]:
    with session_factory() as s:
        return set(s.execute(select(VoteReason.side, VoteReason.reason)).tuples())


def voted(client) -> tuple[str, str]:
    """Vote on a fresh battle; returns the reasons URL and the CSRF token."""
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    assert client.post(action, data={"outcome": "model_a", "csrf_token": csrf}).status_code == 303
    return action.replace("/vote", "/reasons"), csrf


def chip_state(html: str, side: str, reason: str) -> str:
    found = re.search(rf'aria-pressed="(true|false)" data-reason="{side}-{reason}"', html)
    assert found, f"no chip for {side} {reason}"
    return found.group(1)


def test_the_reveal_offers_the_chips_per_side_without_requiring_them(client, demo_loaded):
    action, _ = voted(client)
    html = client.get(action.replace("/reasons", "")).get_data(as_text=True)
    assert 'id="reasons"' in html and "Optional" in html
    for side in ("a", "b"):
        for reason in ("felt_heard", "practical_help", "too_long", "preachy", "cold", "flattering", "unsafe"):
            assert chip_state(html, side, reason) == "false"
    # Each chip posts by itself (its own form), with htmx and without.
    assert html.count(f'hx-post="{action}"') == 14 and html.count(f'action="{action}"') == 14
    assert "New battle" in html


def test_one_tap_stores_a_second_tap_clears_and_repeats_change_nothing(client, demo_loaded, session_factory):
    action, csrf = voted(client)
    tap = {"side": "a", "reason": "felt_heard", "csrf_token": csrf}
    first = client.post(action, data=tap, headers=HX)
    assert first.status_code == 200 and "<html" not in first.get_data(as_text=True)
    assert chip_state(first.get_data(as_text=True), "a", "felt_heard") == "true"
    assert stored(session_factory) == {("a", "felt_heard")}
    # The same tap again (a double click, a retried request) stores nothing more.
    assert client.post(action, data={**tap, "tagged": "1"}, headers=HX).status_code == 200
    assert stored(session_factory) == {("a", "felt_heard")}
    # The pressed chip's form says tagged=0: its next tap clears it.
    assert 'name="tagged" value="0"' in first.get_data(as_text=True)
    client.post(action, data={"side": "b", "reason": "too_long", "csrf_token": csrf}, headers=HX)
    cleared = client.post(action, data={**tap, "tagged": "0"}, headers=HX)
    assert chip_state(cleared.get_data(as_text=True), "a", "felt_heard") == "false"
    assert stored(session_factory) == {("b", "too_long")}
    with session_factory() as s:  # the vote itself is untouched
        assert s.scalars(select(Vote.outcome)).all() == ["model_a"]


def test_without_javascript_a_tap_is_a_form_post_back_to_the_reveal(client, demo_loaded, session_factory):
    action, csrf = voted(client)
    response = client.post(action, data={"side": "b", "reason": "preachy", "tagged": "1", "csrf_token": csrf})
    assert response.status_code == 303 and response.headers["Location"].endswith(
        action.replace("/reasons", "") + "#reasons"
    )
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert chip_state(html, "b", "preachy") == "true" and chip_state(html, "a", "preachy") == "false"
    assert stored(session_factory) == {("b", "preachy")}


def test_a_stranger_is_refused_and_nothing_is_stored(client, app, demo_loaded, session_factory):
    action, _ = voted(client)
    stranger = app.test_client()
    csrf = CSRF_INPUT.search(stranger.get("/").get_data(as_text=True)).group(1)
    refused = stranger.post(action, data={"side": "a", "reason": "cold", "csrf_token": csrf})
    assert refused.status_code == 403 and "another visitor" in refused.get_data(as_text=True)
    partial = stranger.post(action, data={"side": "a", "reason": "cold", "csrf_token": csrf}, headers=HX)
    assert partial.status_code == 403 and partial.headers["HX-Retarget"] == "#reasons-status"
    assert stored(session_factory) == set()


def test_before_the_vote_bad_tags_and_missing_csrf_are_refused(client, app, demo_loaded, session_factory):
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    reasons = action.replace("/vote", "/reasons")
    early = client.post(reasons, data={"side": "a", "reason": "felt_heard", "csrf_token": csrf})
    assert early.status_code == 409 and "vote first" in early.get_data(as_text=True)
    client.post(action, data={"outcome": "tie", "csrf_token": csrf})
    for bad, words in (({"side": "c", "reason": "cold"}, "side must be"),
                       ({"side": "a", "reason": "boring"}, "reason must be one of"),
                       ({"reason": "cold"}, "side must be")):  # fmt: skip
        refused = client.post(reasons, data={**bad, "csrf_token": csrf})
        assert refused.status_code == 400 and words in refused.get_data(as_text=True)
    assert client.post(reasons, data={"side": "a", "reason": "cold"}).status_code == 400  # no CSRF token
    signer = app.extensions["arena.battle_ids"]
    unknown = f"/battles/{signer.sign('no-such-battle')}/reasons"
    assert client.post(unknown, data={"side": "a", "reason": "cold", "csrf_token": csrf}).status_code == 404
    assert stored(session_factory) == set()
    with session_factory() as s:
        assert s.scalars(select(Battle.status)).all() == ["voted"]
