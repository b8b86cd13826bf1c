"""The site at a phone's width (390x844) and a laptop's (1366x900) in a real Chromium: the vote bar within reach
while reading, the reveal's names on screen after a vote, no sideways scrolling, chart text at least 11 px as
rendered, and axe still clean at both widths."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.arena_cli import run_arena
from tests.e2e.test_accessibility import assert_no_serious_violations, cast_votes, recompute_ratings

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}
VIEWPORTS = {"phone": PHONE, "laptop": LAPTOP}
MIN_CHART_PX = 11

# The size each visible chart label is drawn at on screen: its font size times the SVG's scale (viewBox to box).
RENDERED_TEXT_SIZES = """() => [...document.querySelectorAll('svg text')]
  .filter(t => t.getClientRects().length > 0 && t.getBoundingClientRect().width > 0)
  .map(t => {
    const m = t.getScreenCTM();
    return {text: t.textContent.trim(), px: parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b)};
  })"""


def open_page(browser, viewport: dict) -> Page:
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    return context.new_page()


def assert_no_sideways_scroll(page: Page, viewport: dict) -> None:
    width = page.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert width <= viewport["width"], f"{page.url} is {width} px wide at {viewport['width']} px"


def small_chart_text(page: Page) -> list[dict]:
    sizes = page.evaluate(RENDERED_TEXT_SIZES)
    assert sizes, f"no chart text visible on {page.url}"
    return [s for s in sizes if s["px"] < MIN_CHART_PX]


def vote_buttons_on_screen(page: Page) -> None:
    for name in ("A is better", "B is better", "Tie", "Both are bad"):
        expect(page.get_by_role("button", name=name)).to_be_in_viewport(ratio=1)


@pytest.mark.parametrize("size", VIEWPORTS)
def test_vote_buttons_stay_within_reach_and_the_reveal_shows_the_names(
    browser, live_server, demo_loaded, size, console_errors
):
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/")
    expect(page.get_by_text("Which reply would you rather receive?")).to_be_in_viewport()
    vote_buttons_on_screen(page)  # at the top of the battle
    height = page.evaluate("document.getElementById('battle').getBoundingClientRect().height")
    if size == "phone":  # every demo battle is longer than a phone's screen: the bar must follow the reader
        assert height > viewport["height"]
    page.evaluate(
        "() => { const b = document.getElementById('battle');"
        " window.scrollTo(0, b.offsetTop + b.offsetHeight / 2 - innerHeight / 2); }"
    )
    vote_buttons_on_screen(page)  # halfway through it
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)

    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_in_viewport()
    names = page.locator(".reveal-names strong")
    expect(names).to_have_count(2)
    expect(names.first).to_be_in_viewport()
    expect(names.last).to_be_in_viewport()
    new_battle = page.get_by_role("link", name=re.compile("New battle"))
    expect(new_battle).to_be_focused()
    expect(new_battle).to_be_in_viewport()
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)
    page.context.close()


def test_desktop_keeps_replies_side_by_side(page, live_server, demo_loaded):
    page.set_viewport_size(LAPTOP)
    page.goto(live_server + "/")
    a = page.get_by_role("heading", name="Reply A").bounding_box()
    b = page.get_by_role("heading", name="Reply B").bounding_box()
    assert abs(a["y"] - b["y"]) < 2 and b["x"] > a["x"] + 300


@pytest.mark.parametrize("size", VIEWPORTS)
def test_leaderboard_fits_the_screen_with_readable_charts(
    browser, live_server, demo_loaded, client, database_url, size
):
    cast_votes(client, 60)
    recompute_ratings(database_url)
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/leaderboard")
    expect(page.locator("svg.heatmap")).to_be_visible()
    assert_no_sideways_scroll(page, viewport)
    assert small_chart_text(page) == []
    expect(page.get_by_role("columnheader", name="Battles")).to_be_visible()
    expect(page.get_by_text("1 plus the number of models that are clearly better")).to_be_visible()
    expect(page.get_by_text("Fewer than 30 battles so far")).to_be_visible()
    # Votes to flip, in plain words: how many votes would swap the top two, and the Flip column defined.
    top_flip = re.compile(r"How firm is the top spot\?\s+Removing \d+\s+of the [\d,]+ votes would swap #1")
    expect(page.get_by_text(top_flip)).to_be_visible()
    expect(page.get_by_text("The fewest votes whose removal would put this model above")).to_be_visible()
    # The heatmap names every model whole, in the drawing's accessible titles and the screen-reader table.
    assert page.locator("svg.heatmap title").filter(has_text="Structured Guide (demo persona)").count() >= 1
    assert page.locator("figure table th[scope=row]").filter(has_text="Structured Guide (demo persona)").count() == 1
    tabs = page.locator("nav.tabs")
    if size == "phone":
        # One row that scrolls sideways rather than a stack of buttons; the page itself does not move.
        assert tabs.evaluate("t => t.scrollWidth > t.clientWidth")
        assert tabs.bounding_box()["height"] < 60
        details = page.locator("details.row-details").first
        details.locator("summary").tap()
        expect(details.get_by_text(re.compile(r"95% CI \+\d+ / -\d+; win rate \d+%"))).to_be_visible()
    else:
        expect(page.get_by_role("columnheader", name="95% CI")).to_be_visible()
        expect(page.get_by_role("columnheader", name="Flip")).to_be_visible()
    assert_no_serious_violations(page)
    page.context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_analysis_charts_read_at_any_width(browser, live_server, eq_arena, size):
    assert run_arena("analysis", "eq", "--database-url", eq_arena).returncode == 0
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/analysis")
    expect(page.locator("svg.whiskers:visible")).to_have_count(2)
    expect(page.locator("svg.scatter:visible")).to_have_count(1)
    assert_no_sideways_scroll(page, viewport)
    assert small_chart_text(page) == []
    assert_no_serious_violations(page)
    page.context.close()


@pytest.mark.parametrize("size", VIEWPORTS)
def test_no_other_page_scrolls_sideways(browser, live_server, demo_loaded, size):
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    for path in ("/terms", "/privacy", "/live", "/leaderboard", "/analysis", "/no-such-page"):
        page.goto(live_server + path)
        assert_no_sideways_scroll(page, viewport)
    page.context.close()
