"""Accessibility in a real Chromium: axe-core on every public page, focus after htmx swaps, reduced motion.

axe-core is vendored (static/vendor/axe-core-4.14.1, from `npm pack axe-core@4.14.1`) and only these tests load
it. The CSP forbids inline script, so its source goes in through Playwright's evaluate, which the page's CSP
does not govern, rather than through a <script> tag.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from arena.config import PROJECT_ROOT
from tests.conftest import parse_battle_page
from tests.test_analysis import eq_arena  # noqa: F401 - a fixture: imported votes, ratings and EQ scores
from tests.test_cli import run_arena

pytestmark = pytest.mark.e2e

AXE_SOURCE = (PROJECT_ROOT / "static" / "vendor" / "axe-core-4.14.1" / "axe.min.js").read_text(encoding="utf-8")
BLOCKING_IMPACTS = {"serious", "critical"}


def axe_violations(page: Page) -> list[dict]:
    """Every axe violation on the page as it is now (all rules axe runs by default: WCAG A/AA and best practice)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")


def describe(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        targets = "; ".join(" ".join(node["target"]) for node in v["nodes"][:8])
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} -> {targets}")
    return "\n".join(lines)


def assert_no_serious_violations(page: Page) -> list[dict]:
    violations = axe_violations(page)
    blocking = [v for v in violations if v["impact"] in BLOCKING_IMPACTS]
    assert not blocking, f"axe on {page.url}:\n{describe(blocking)}"
    return violations


def cast_votes(client, n: int) -> None:
    for k in range(n):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        client.post(action, data={"outcome": ("model_a", "model_b", "tie")[k % 3], "csrf_token": csrf})


def recompute_ratings(database_url: str) -> None:
    from arena.db import make_engine, make_session_factory
    from arena.services.recompute import RecomputeRequest, recompute

    engine = make_engine(database_url)
    recompute(make_session_factory(engine), make_session_factory(engine, read_only=True), RecomputeRequest(rounds=30))
    engine.dispose()


def test_axe_finds_a_violation_it_must_find(page, live_server, demo_loaded):
    # The harness itself works: an unlabelled button injected into the page is reported as critical.
    page.goto(live_server + "/")
    page.evaluate("document.querySelector('main').append(document.createElement('button'))")
    violations = axe_violations(page)
    assert any(v["id"] == "button-name" and v["impact"] == "critical" for v in violations), describe(violations)


def test_battle_page_and_htmx_reveal(page, live_server, demo_loaded, console_errors):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Reply A")).to_be_visible()
    assert_no_serious_violations(page)
    page.get_by_role("button", name="A is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()
    assert_no_serious_violations(page)
    assert console_errors == []


def test_reveal_page_without_javascript(browser, live_server, demo_loaded):
    # Vote with scripts off (a full-page POST and redirect), then audit the page that visitor lands on.
    no_js = browser.new_context(java_script_enabled=False)
    voter = no_js.new_page()
    voter.goto(live_server + "/")
    voter.get_by_role("button", name="Tie").click()
    expect(voter.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    reveal_url = voter.url
    no_js.close()
    assert re.search(r"/battles/[^/]+$", reveal_url)
    context = browser.new_context()
    page = context.new_page()
    page.goto(reveal_url)
    expect(page.locator(".model-name")).to_have_count(2)
    assert_no_serious_violations(page)
    context.close()


def test_empty_arena_and_error_pages(page, live_server):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="No battles yet")).to_be_visible()
    assert_no_serious_violations(page)
    response = page.goto(live_server + "/battles/not-a-battle")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    assert_no_serious_violations(page)


def test_vote_error_in_place(page, live_server, demo_loaded, client, console_errors):
    # A rejected vote swaps its reason into the status region; that state is audited too.
    page.goto(live_server + "/")
    action = page.locator("form.vote").get_attribute("action")
    _, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    client.post(action, data={"outcome": "model_a", "csrf_token": csrf})
    page.get_by_role("button", name="B is better").click()
    expect(page.locator("#vote-status").get_by_role("alert")).to_contain_text("already has a vote")
    assert_no_serious_violations(page)


def test_leaderboard_and_a_second_group_tab(page, live_server, demo_loaded, client, database_url, console_errors):
    cast_votes(client, 60)
    recompute_ratings(database_url)
    page.goto(live_server + "/leaderboard")
    expect(page.locator("svg.whiskers")).to_be_visible()
    expect(page.locator("svg.heatmap")).to_be_visible()
    assert_no_serious_violations(page)
    page.get_by_role("link", name="Negative, low energy").click()
    expect(page.locator("#board")).to_have_attribute("data-category", "Negative, low energy")
    assert_no_serious_violations(page)
    assert console_errors == []


def test_leaderboard_before_any_rating_run(page, live_server):
    page.goto(live_server + "/leaderboard")
    expect(page.get_by_text("No ratings yet")).to_be_visible()
    assert_no_serious_violations(page)


def test_analysis_page_with_its_three_charts(page, live_server, eq_arena, console_errors):  # noqa: F811
    assert run_arena("analysis", "eq", "--database-url", eq_arena).returncode == 0
    page.goto(live_server + "/analysis")
    expect(page.locator("svg.whiskers")).to_have_count(2)
    expect(page.locator("svg.scatter")).to_be_visible()
    assert_no_serious_violations(page)
    assert console_errors == []
