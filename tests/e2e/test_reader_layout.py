"""What a lay visitor sees in a real Chromium at a phone's width (390x844) and a laptop's (1366x900): the first
screen says the replies come from AI, "New battle" stays in the bottom bar where the vote buttons were, the vote
counter, and the board's Score sentence. Set ARENA_SCREENSHOT_DIR=static/screenshots to write README's battle-,
reveal-, leaderboard- and ranking- screenshots from here."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_accessibility import assert_no_serious_violations, cast_votes, recompute_ratings
from tests.e2e.test_phone_layout import LAPTOP, PHONE, VIEWPORTS, open_page

pytestmark = pytest.mark.e2e

AI_SENTENCE = "Both replies are written by AI models; you see which models after your vote."
# The bottom band a thumb reaches without moving the hand.
THUMB_BAND_PX = 150


def screenshot(page: Page, name: str, viewport: dict) -> None:
    folder = os.environ.get("ARENA_SCREENSHOT_DIR")
    if folder:
        # After the swapped-in battle or reveal has faded in (#battle.htmx-added, 0.2 s).
        if page.locator("#battle").count():
            expect(page.locator("#battle")).to_have_css("opacity", "1")
        page.screenshot(path=str(Path(folder) / f"{name}-{viewport['width']}.png"))


def vote_in_page(page: Page, button: str = "Tie") -> None:
    page.get_by_role("button", name=button).click()
    expect(page.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_first_screen_and_the_reveal_bar(browser, live_server, demo_loaded, size, console_errors):
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/")
    # A fresh visit: the AI sentence is on the first screen, above the message.
    expect(page.get_by_text(AI_SENTENCE)).to_be_in_viewport(ratio=1)
    screenshot(page, "battle", viewport)
    vote_bar = page.locator("form.vote-bar").bounding_box()

    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_in_viewport()
    new_battle = page.get_by_role("link", name=re.compile("New battle"))
    expect(new_battle).to_be_focused()
    expect(new_battle).to_be_in_viewport(ratio=1)
    box = new_battle.bounding_box()
    if size == "phone":
        # Where the vote buttons were: the bottom of the screen, in thumb reach.
        assert box["y"] >= viewport["height"] - THUMB_BAND_PX, box
        assert vote_bar["y"] >= viewport["height"] - 2 * THUMB_BAND_PX
    expect(page.locator(".vote-counter")).to_have_text(re.compile(r"1 vote cast:\s+9 more until your ranking\."))
    expect(page.locator(".message-emotion a")).to_have_attribute("href", re.compile(r"^/leaderboard\?category="))
    screenshot(page, "reveal", viewport)
    assert_no_serious_violations(page)

    # The bar stays put while the visitor scrolls the replies, and takes them to a new message.
    page.mouse.wheel(0, 400)
    expect(new_battle).to_be_in_viewport(ratio=1)
    first = page.locator(".message-text").first.inner_text()
    new_battle.click()
    expect(page.get_by_role("button", name="Tie")).to_be_visible()
    assert page.locator(".message-text").first.inner_text() != first
    assert console_errors == []
    page.context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_board_and_your_ranking_read_plainly(browser, live_server, demo_loaded, client, database_url, size):
    cast_votes(client, 60)
    recompute_ratings(database_url)
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/leaderboard")
    expect(page.locator("#score-note")).to_be_visible()
    expect(page.locator("#score-note")).to_contain_text("100 points ahead means its reply is preferred about 64%")
    screenshot(page, "leaderboard", viewport)
    page.goto(live_server + "/")
    for k in range(10):
        if k:
            page.get_by_role("link", name=re.compile("New battle")).click()
        vote_in_page(page, ("A is better", "B is better", "Tie")[k % 3])
    expect(page.locator(".vote-counter")).to_contain_text("10 votes cast.")
    page.get_by_role("link", name="See your ranking").click()
    expect(page.get_by_role("heading", name="Your ranking", exact=True).first).to_be_visible()
    expect(page.get_by_role("columnheader", name=re.compile("Your battles"))).to_be_visible()
    screenshot(page, "ranking", viewport)
    assert_no_serious_violations(page)
    page.context.close()


assert PHONE["height"] == 844 and LAPTOP["width"] == 1366
