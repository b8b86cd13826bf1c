"""/analysis on the demo (issue 21, items 4 and 6) in Chromium at a phone's and a laptop's size: the position
effect in plain words, the illustrative EQ half, the prediction table; axe clean, no sideways scroll."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page
from tests.e2e.test_accessibility import assert_no_serious_violations, low_contrast_chart_labels
from tests.e2e.test_phone_layout import VIEWPORTS, assert_no_sideways_scroll, open_page, small_chart_text

pytestmark = pytest.mark.e2e

OUTCOMES = ("model_a", "model_b", "tie", "model_a", "both_bad")


@pytest.mark.parametrize("size", VIEWPORTS)
def test_demo_analysis_reads_at_any_width(browser, app, live_server, demo_loaded, database_url, size, console_errors):
    # 60 votes from six visitors (a fresh client is a new visitor), so the prediction has voters to fold.
    clients = [app.test_client() for _ in range(6)]
    for k in range(60):
        client = clients[k // 10]
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        client.post(action, data={"outcome": OUTCOMES[k % 5], "csrf_token": csrf})
    for command in (("ratings", "recompute", "--bootstrap", "20"), ("analysis", "eq"), ("analysis", "predict")):
        result = run_arena(*command, "--database-url", database_url)
        assert result.returncode == 0, result.stderr
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(live_server + "/analysis")
    expect(page.get_by_text(re.compile(r"Replies shown first win \d+ points? (more|less) often"))).to_be_visible()
    expect(page.get_by_text("Illustrative, not real benchmark scores.")).to_be_visible()
    expect(page.locator("svg.scatter:visible")).to_have_count(1)
    expect(page.get_by_role("heading", name="Which explanation predicts new votes")).to_be_visible()
    expect(page.get_by_text(re.compile(r"predicts them best"))).to_be_visible()
    assert "position_a" not in page.content()
    assert_no_sideways_scroll(page, viewport)
    assert small_chart_text(page) == []
    assert low_contrast_chart_labels(page) == []
    assert_no_serious_violations(page)
    page.locator("details.technical summary").click()
    assert_no_serious_violations(page)
    assert_no_sideways_scroll(page, viewport)
    page.screenshot(path=f"/tmp/studypage-analysis-{viewport['width']}.png", full_page=True)
    assert console_errors == []
    page.context.close()
