"""The composite board ("Votes and judges") and the Acceptable column in Chromium: a phone and a laptop, axe
clean, no sideways scrolling, the judge's worth in human votes in words."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from arena.jobs.recompute import RecomputeRequest, recompute
from tests.e2e.test_accessibility import assert_no_serious_violations
from tests.jobs.test_composite_recompute import judged_arena

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("width,height", [(390, 844), (1366, 900)])
def test_composite_board_reads_on_a_phone_and_a_laptop(page, live_server, session_factory, width, height):
    judged_arena(session_factory)
    recompute(session_factory, session_factory, RecomputeRequest(rounds=30, filters=None))
    page.set_viewport_size({"width": width, "height": height})
    page.goto(live_server + "/leaderboard")
    page.get_by_role("link", name="Votes and judges").click()
    expect(page).to_have_url(live_server + "/leaderboard?category=composite")
    note = page.locator("#composite-note")
    expect(note).to_contain_text("judge-gpt counts as")
    expect(note).to_contain_text("people left out of the fit")
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    if width > 600:
        expect(page.locator("th", has_text="Acceptable")).to_be_visible()
    assert_no_serious_violations(page)
