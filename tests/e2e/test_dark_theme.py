"""The dark theme (prefers-color-scheme: dark) in a real Chromium at a phone's width (390x844) and a laptop's
(1366x900): the page really turns dark, axe finds nothing serious on the battle, the reveal, a shared battle, the
leaderboard (with its charts: every SVG label 4.5:1 against what it is drawn on) and the analysis page, and the
chart lines stand out 3:1 from the card behind them.

ARENA_SCREENSHOT_DIR=static/screenshots writes battle-dark-*.png, leaderboard-dark-*.png and shared-dark-*.png
(README's table)."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from werkzeug.serving import make_server

from arena import create_app
from tests.arena_cli import run_arena
from tests.conftest import make_settings
from tests.e2e.test_accessibility import (
    assert_no_serious_violations,
    cast_votes,
    contrast,
    low_contrast_chart_labels,
    recompute_ratings,
    rgb,
)
from tests.e2e.test_phone_layout import PHONE, VIEWPORTS, assert_no_sideways_scroll

pytestmark = pytest.mark.e2e

# Each chart line's stroke and the background of the chart box it is drawn in.
CHART_STROKES = """() => [...document.querySelectorAll('svg line, svg circle')]
  .filter(el => el.getClientRects().length > 0)
  .map(el => {
    const s = getComputedStyle(el);
    const paint = el.tagName === 'circle' ? s.fill : s.stroke;
    let node = el.closest('svg'), bg = 'rgb(255, 255, 255)';
    for (; node; node = node.parentElement) {
      const c = getComputedStyle(node).backgroundColor;
      if (c && !/rgba\\(.*,\\s*0\\)$/.test(c) && c !== 'transparent') { bg = c; break; }
    }
    return {tag: el.tagName, paint, bg, grid: el.getAttribute('stroke') === '#e3e6ea'};
  })"""


def dark_page(browser, viewport: dict) -> Page:
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone, color_scheme="dark")
    return context.new_page()


def assert_dark(page: Page) -> None:
    colours = page.evaluate(
        "() => ({page: getComputedStyle(document.documentElement).backgroundColor,"
        " ink: getComputedStyle(document.body).color})"
    )
    page_bg, ink = rgb(colours["page"]), rgb(colours["ink"])
    assert sum(page_bg) < 0.5 and sum(ink) > 2.4, colours  # a dark page and light text, not the light theme
    assert contrast(page_bg, ink) >= 7, colours


def low_contrast_chart_lines(page: Page) -> list[str]:
    # Grid lines are background structure (WCAG 1.4.11 asks 3:1 of the marks that carry the data, not of them).
    marks = [m for m in page.evaluate(CHART_STROKES) if not m["grid"]]
    assert marks, "no chart lines on the page"
    return [f"{m['tag']} {m['paint']} on {m['bg']}" for m in marks if contrast(rgb(m["paint"]), rgb(m["bg"])) < 3]


def screenshot(page: Page, name: str, viewport: dict) -> None:
    if os.environ.get("ARENA_SCREENSHOT_DIR"):
        page.screenshot(path=str(Path(os.environ["ARENA_SCREENSHOT_DIR"]) / f"{name}-dark-{viewport['width']}.png"))


@pytest.mark.parametrize("size", VIEWPORTS)
def test_battle_reveal_and_shared_page_in_the_dark(browser, live_server, demo_loaded, size, console_errors):
    viewport = VIEWPORTS[size]
    page = dark_page(browser, viewport)
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Which reply would you rather receive?")).to_be_visible()
    assert_dark(page)
    assert_no_serious_violations(page)
    screenshot(page, "battle", viewport)
    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()
    assert_no_serious_violations(page)
    page.get_by_role("link", name="Share these two replies").click()
    expect(page.get_by_role("heading", name="Two AI replies to one message")).to_be_visible()
    assert "/shared/" in page.url
    expect(page.locator(".model-name")).to_have_count(2)
    assert_dark(page)
    assert_no_serious_violations(page)
    assert_no_sideways_scroll(page, viewport)
    screenshot(page, "shared", viewport)
    assert console_errors == []


@pytest.mark.parametrize("size", VIEWPORTS)
def test_leaderboard_and_its_charts_in_the_dark(browser, live_server, demo_loaded, client, database_url, size):
    cast_votes(client, 60)
    recompute_ratings(database_url)
    viewport = VIEWPORTS[size]
    page = dark_page(browser, viewport)
    page.goto(live_server + "/leaderboard")
    expect(page.locator("svg.whiskers:visible")).to_be_visible()
    assert_dark(page)
    assert_no_serious_violations(page)
    assert low_contrast_chart_labels(page) == []
    assert low_contrast_chart_lines(page) == []
    screenshot(page, "leaderboard", viewport)
    page.get_by_role("link", name="Negative, low energy").click()
    expect(page.locator("#board")).to_have_attribute("data-category", "Negative, low energy")
    assert_no_serious_violations(page)
    assert low_contrast_chart_labels(page) == []


def test_analysis_charts_in_the_dark(browser, live_server, eq_arena):
    assert run_arena("analysis", "eq", "--database-url", eq_arena).returncode == 0
    page = dark_page(browser, VIEWPORTS["laptop"])
    page.goto(live_server + "/analysis")
    expect(page.locator("svg.scatter:visible")).to_be_visible()
    assert_dark(page)
    assert_no_serious_violations(page)
    assert low_contrast_chart_labels(page) == []
    assert low_contrast_chart_lines(page) == []


def test_the_light_theme_stays_light(page, live_server, demo_loaded):
    # The dark rules apply only on request: a browser without the preference keeps the light page.
    page.emulate_media(color_scheme="light")
    page.goto(live_server + "/")
    background = rgb(page.evaluate("getComputedStyle(document.documentElement).backgroundColor"))
    assert sum(background) > 2.7


def test_a_new_visitor_in_the_dark_accepts_votes_and_shares(browser, database_url, demo_loaded, console_errors):
    # As the site is run: the terms and the proof-of-work widget (which follows the page's colour scheme) first.
    app = create_app(make_settings(database_url, require_terms=True, count_unverified=False, pow_difficulty=2000))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        page = dark_page(browser, PHONE)
        page.goto(f"http://127.0.0.1:{server.server_port}/")
        solution = page.locator('form.terms-accept input[name="altcha"]')
        expect(solution).to_have_value(re.compile(r"^[A-Za-z0-9+/=]{40,}$"), timeout=20_000)
        assert_dark(page)
        assert_no_serious_violations(page)
        page.get_by_role("button", name="I accept the terms").click()
        page.get_by_role("button", name="A is better").click()
        expect(page.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()
        assert_no_serious_violations(page)
        page.get_by_role("link", name="Share these two replies").click()
        expect(page.locator(".model-name")).to_have_count(2)
        assert_no_serious_violations(page)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        app.extensions["arena.engine"].dispose()
