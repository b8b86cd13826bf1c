"""Your ranking in a real Chromium at a phone's and a laptop's width: reached from the reveal after the tenth vote,
the two boards side by side on a laptop and stacked on a phone, no sideways scrolling, axe clean."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accessibility import assert_no_serious_violations, cast_votes, recompute_ratings
from tests.e2e.test_phone_layout import VIEWPORTS, assert_no_sideways_scroll, open_page

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("size", VIEWPORTS)
def test_your_ranking_beside_the_crowds_at_any_width(browser, live_server, demo_loaded, client, database_url, size):
    cast_votes(client, 30)  # the crowd
    recompute_ratings(database_url)
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/me/ranking")
    expect(page.get_by_text("You have no votes yet")).to_be_visible()
    assert_no_serious_violations(page)

    page.goto(live_server + "/")
    for k in range(10):
        page.get_by_role("button", name=("A is better", "B is better", "Tie")[k % 3]).click()
        expect(page.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()
        link = page.get_by_role("link", name="See your ranking")
        if k < 9:
            expect(link).to_have_count(0)
            page.get_by_role("link", name=re.compile("New battle")).click()
            expect(page.get_by_role("button", name="Tie")).to_be_visible()
    link.click()
    expect(page.get_by_role("heading", name="Your ranking", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Your ranking")).to_have_attribute("aria-current", "page")
    yours = page.get_by_role("heading", name="Your ranking", level=2).bounding_box()
    crowd = page.get_by_role("heading", name="The crowd's leaderboard").bounding_box()
    if size == "phone":
        assert crowd["y"] > yours["y"] + 100 and abs(crowd["x"] - yours["x"]) < 2
    else:
        assert abs(crowd["y"] - yours["y"]) < 2 and crowd["x"] > yours["x"] + 300
    expect(page.locator(".ranking-pair table").first.locator("tbody tr")).to_have_count(6)
    expect(page.get_by_text(re.compile(r"Kendall's tau -?\d\.\d\d"))).to_be_visible()
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)
    page.context.close()
