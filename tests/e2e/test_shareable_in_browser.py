"""Shareable addresses in a real Chromium: a board tab or board choice pushes its address (?category=, ?order=)
and retitles the page; the address opens that board directly, with or without scripts; back and forward restore
whole pages even when htmx kept no copy; and a reveal's share link leads to a public page."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_accessibility import assert_no_serious_violations, cast_votes, recompute_ratings
from tests.jobs.test_sessions_boards import recompute_json, session_arena  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e

GROUP = "Negative, low energy"


def query(page: Page) -> dict:
    return parse_qs(urlsplit(page.url).query)


@pytest.fixture
def rated(demo_loaded, client, database_url):
    cast_votes(client, 60)
    recompute_ratings(database_url)


def test_a_tab_pushes_its_address_and_the_address_opens_the_board(page, live_server, rated, console_errors):
    page.goto(live_server + "/leaderboard")
    page.get_by_role("link", name=GROUP).click()
    expect(page.locator("#board")).to_have_attribute("data-category", GROUP)
    assert query(page) == {"category": [GROUP]}
    expect(page).to_have_title(f"Leaderboard: {GROUP} · EQ Arena")
    # The pushed address, opened afresh, is that board.
    page.goto(page.url)
    expect(page.locator("#board")).to_have_attribute("data-category", GROUP)
    expect(page.locator(f'meta[property="og:title"][content="Leaderboard: {GROUP} · EQ Arena"]')).to_have_count(1)
    # Back and forward, also when htmx kept no copy of the page (its cache is small and per tab): whole pages
    # each time, never a board fragment in place of the page.
    page.get_by_role("link", name="Overall").first.click()
    expect(page.locator("#board")).to_have_attribute("data-category", "overall")
    page.evaluate("sessionStorage.removeItem('htmx-history-cache')")
    page.go_back()
    expect(page.locator("#board")).to_have_attribute("data-category", GROUP)
    expect(page.locator("header.site-header")).to_have_count(1)
    expect(page.locator("footer.site-footer")).to_have_count(1)
    page.evaluate("sessionStorage.removeItem('htmx-history-cache')")
    page.go_forward()
    expect(page.locator("#board")).to_have_attribute("data-category", "overall")
    expect(page.locator("header.site-header")).to_have_count(1)
    assert_no_serious_violations(page)
    assert console_errors == []


def test_the_board_choice_pushes_its_address(page, live_server, database_url, session_arena):  # noqa: F811
    recompute_json(database_url, "--bootstrap", "30")
    page.goto(live_server + "/leaderboard")
    choice = page.get_by_role("navigation", name="Which votes")
    choice.get_by_role("link", name="Conversations").click()
    expect(page.locator("#board")).to_have_attribute("data-category", "conversations")
    assert query(page) == {"category": ["conversations"]}
    expect(page).to_have_title("Leaderboard: Conversations · EQ Arena")
    page.get_by_role("navigation", name="Which votes").get_by_role("link", name="First vote of each session").click()
    expect(page.locator("#board .snapshot-info").first).to_contain_text("360")
    assert query(page) == {"category": ["overall"], "order": ["first"]}
    page.reload()
    expect(page.locator("#board .snapshot-info").first).to_contain_text("360")
    expect(page.get_by_role("link", name="First vote of each session")).to_have_attribute("aria-current", "page")


def test_a_board_address_works_without_scripts(browser, live_server, rated):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server + "/leaderboard")
    page.get_by_role("link", name=GROUP).click()
    expect(page.locator("#board")).to_have_attribute("data-category", GROUP)
    assert query(page) == {"category": [GROUP]}
    context.close()


def test_the_reveal_links_to_a_public_page_another_browser_can_open(browser, page, live_server, demo_loaded):
    page.goto(live_server + "/")
    page.get_by_role("button", name="A is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()
    names = page.locator(".reveal-names strong").all_inner_texts()
    page.get_by_role("link", name="Share these two replies").click()
    expect(page.get_by_role("heading", name="Two AI replies to one message")).to_be_visible()
    shared = page.url
    assert re.search(r"/shared/[A-Za-z0-9_-]{36}$", shared)
    assert page.locator("#share-url").input_value() == shared
    # Someone else, with no cookie of the voter's: the same names, and no vote.
    stranger = browser.new_context()
    other = stranger.new_page()
    other.goto(shared)
    assert other.locator(".reveal-names strong").all_inner_texts() == names
    expect(other.get_by_text("your pick")).to_have_count(0)
    expect(other.get_by_text("You voted")).to_have_count(0)
    expect(other.locator("form")).to_have_count(0)
    assert_no_serious_violations(other)
    stranger.close()
