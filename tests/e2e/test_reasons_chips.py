"""Why people voted, on a phone (390x844) in a real Chromium: one tap on a reason chip after the vote stores it,
the keyboard works the chips too, "New battle" stays in the bottom bar, nothing scrolls sideways, axe is clean."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena.models import VoteReason
from tests.e2e.test_accessibility import assert_no_serious_violations
from tests.e2e.test_phone_layout import PHONE, assert_no_sideways_scroll, open_page

pytestmark = pytest.mark.e2e


def test_one_tap_on_a_phone_stores_a_reason_and_keeps_new_battle_in_reach(
    browser, live_server, demo_loaded, session_factory, console_errors
):
    page = open_page(browser, PHONE)
    page.goto(live_server + "/")
    page.get_by_role("button", name="A is better").tap()
    expect(page.get_by_role("heading", name=re.compile("You voted: A is better"))).to_be_in_viewport()

    heard = page.get_by_role("group", name="Reply A").get_by_role("button", name="Felt heard")
    expect(heard).to_have_attribute("aria-pressed", "false")
    heard.tap()
    expect(heard).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#reasons-status")).to_have_text("Saved.")
    expect(heard).to_be_focused()  # the swap keeps the focus on the chip just pressed
    with session_factory() as s:
        assert set(s.execute(select(VoteReason.side, VoteReason.reason)).tuples()) == {("a", "felt_heard")}

    # The keyboard: a focused chip is a button, Enter presses it.
    cold = page.get_by_role("group", name="Reply B").get_by_role("button", name="Cold")
    cold.focus()
    page.keyboard.press("Enter")
    expect(cold).to_have_attribute("aria-pressed", "true")
    with session_factory() as s:
        assert set(s.execute(select(VoteReason.side, VoteReason.reason)).tuples()) == {
            ("a", "felt_heard"),
            ("b", "cold"),
        }

    new_battle = page.get_by_role("link", name=re.compile("New battle"))
    expect(new_battle).to_be_in_viewport(ratio=1)
    box = new_battle.bounding_box()
    assert box["y"] + box["height"] <= PHONE["height"] and box["y"] > PHONE["height"] - 150, box
    assert_no_sideways_scroll(page, PHONE)
    assert_no_serious_violations(page)
    if os.environ.get("ARENA_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["ARENA_SCREENSHOT_DIR"]) / "reasons-390.png"))
    assert console_errors == []
    page.context.close()
