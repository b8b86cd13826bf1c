"""A transcript battle of eight exchanges a side in a real Chromium at a phone's width (390x844) and a laptop's
(1366x900): earlier exchanges folded and the latest open, the vote bar on screen wherever the reader is, the two
sides side by side on the laptop and one under the other on the phone, nothing scrolling sideways even with every
fold open, axe clean, and the vote (with the number of exchanges) and its reveal working. With scripts held back
(a slow network), the vote is a plain form POST and still lands.

ARENA_SCREENSHOT_DIR=static/screenshots writes conversation-390.png and conversation-1366.png (README's table)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from arena.models import Vote
from tests.e2e.test_accessibility import assert_no_serious_violations
from tests.e2e.test_phone_layout import (
    PHONE,
    VIEWPORTS,
    assert_no_sideways_scroll,
    open_page,
    vote_buttons_on_screen,
)
from tests.transcripts_data import load_transcripts

pytestmark = pytest.mark.e2e

# Both have all eight answers in both scenarios, so every battle drawn shows eight exchanges a side.
MODELS = ["claude-fable-5", "claude-opus-4-7"]


@pytest.fixture
def transcripts(session_factory):
    load_transcripts(session_factory, MODELS)


def scroll_to(page: Page, fraction: float) -> None:
    page.evaluate(
        "f => { const b = document.getElementById('battle');"
        " window.scrollTo(0, b.offsetTop + (b.offsetHeight - innerHeight) * f); }",
        fraction,
    )


def stored_turns(session_factory) -> list[int]:
    with session_factory() as s:
        return list(s.scalars(select(Vote.turns)))


@pytest.mark.parametrize("size", VIEWPORTS)
def test_eight_exchanges_read_on_a_phone_and_a_laptop(
    browser, live_server, transcripts, session_factory, size, console_errors
):
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Which conversation would you rather have had?")).to_be_in_viewport()
    expect(page.get_by_text("its own copy")).to_be_visible()
    folds = page.locator("details.exchange")
    expect(folds).to_have_count(8)
    # Earlier exchanges folded, the latest open: its two sides visible, an earlier one's hidden until opened.
    assert folds.evaluate_all("ds => ds.map(d => d.open)") == [False] * 7 + [True]
    latest = folds.last
    side_a = latest.get_by_role("heading", name="A's conversation")
    side_b = latest.get_by_role("heading", name="B's conversation")
    expect(side_a).to_be_visible()
    expect(folds.first.get_by_role("heading", name="Reply A")).to_be_hidden()
    a, b = side_a.bounding_box(), side_b.bounding_box()
    if viewport is PHONE:
        assert b["y"] > a["y"] + 100  # one under the other
    else:
        assert abs(a["y"] - b["y"]) < 2 and b["x"] > a["x"] + 300  # side by side
    if os.environ.get("ARENA_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["ARENA_SCREENSHOT_DIR"]) / f"conversation-{viewport['width']}.png"))
    # The vote bar is within reach at the top, in the middle and at the end of the conversation.
    for fraction in (0, 0.5, 1):
        scroll_to(page, fraction)
        vote_buttons_on_screen(page)
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)
    # An earlier exchange opens in place; with every one open nothing scrolls sideways, axe still clean.
    folds.nth(2).locator("summary").click()
    expect(folds.nth(2).get_by_role("heading", name="A's conversation")).to_be_visible()
    folds.evaluate_all("ds => ds.forEach(d => { d.open = true; })")
    scroll_to(page, 0.5)
    vote_buttons_on_screen(page)
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)

    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_in_viewport()
    expect(page.locator(".reveal-names strong")).to_have_count(2)
    expect(page.locator("details.exchange")).to_have_count(8)
    expect(page.locator("details.exchange").last.locator(".badge")).to_have_text("your pick")
    assert stored_turns(session_factory) == [8]
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)
    assert console_errors == []
    page.context.close()


def test_the_vote_works_before_the_scripts_arrive(browser, live_server, transcripts, session_factory):
    # Every script is held back (a throttled network): the page is read and voted on as plain HTML.
    page = open_page(browser, PHONE)
    held = []
    scripts = re.compile(r"\.m?js(\?.*)?$")

    def hold(route) -> None:
        held.append(route)

    page.route(scripts, hold)
    page.goto(live_server + "/", wait_until="commit")
    button = page.get_by_role("button", name="A is better")
    expect(button).to_be_visible()
    assert page.evaluate("typeof window.htmx") == "undefined"
    expect(page.locator("details.exchange")).to_have_count(8)
    button.click(no_wait_after=True)
    expect(page.get_by_role("heading", name=re.compile("You voted: A is better"))).to_be_visible()
    assert re.search(r"/battles/[^/]+$", page.url)
    assert stored_turns(session_factory) == [8]
    assert held, "no script request was held back"
    page.context.close()
