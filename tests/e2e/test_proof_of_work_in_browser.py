"""The proof-of-work in a real Chromium: the vendored ALTCHA widget solves this visitor's challenge while they read,
the solution goes with the terms, and the votes count; under the site's CSP, at phone and desktop widths, and
without JavaScript (the votes are kept as unverified)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena import create_app
from arena.models import TermsAcceptance, VisitorProof, Vote
from tests.conftest import make_settings
from tests.e2e.test_accessibility import assert_no_serious_violations

pytestmark = pytest.mark.e2e

# Small enough that the test does not wait on the solve; the benchmark times the real default.
DIFFICULTY = 2000


@pytest.fixture
def difficulty() -> int:
    return DIFFICULTY


@pytest.fixture
def app(database_url, difficulty):
    app = create_app(make_settings(database_url, require_terms=True, count_unverified=False,
                                   pow_difficulty=difficulty))  # fmt: skip
    yield app
    app.extensions["arena.engine"].dispose()


def stored(session_factory) -> tuple[int, int, list[tuple[bool, str | None]]]:
    with session_factory() as s:
        return (
            len(s.scalars(select(TermsAcceptance.id)).all()),
            len(s.scalars(select(VisitorProof.visitor_key)).all()),
            [tuple(row) for row in s.execute(select(Vote.counts_for_leaderboard, Vote.exclusion_reason))],
        )


@pytest.mark.parametrize("width, height", [(390, 844), (1366, 900)], ids=["phone", "desktop"])
def test_the_browser_pays_while_the_visitor_reads_and_the_vote_counts(
    page, live_server, demo_loaded, session_factory, console_errors, width, height
):
    page.set_viewport_size({"width": width, "height": height})
    page.goto(live_server + "/")
    widget = page.locator("form.terms-accept altcha-widget")
    # Solved on its own (auto="onload"): the solution sits in the form before the visitor clicks.
    solution = page.locator('form.terms-accept input[name="altcha"]')
    expect(solution).to_have_value(re.compile(r"^[A-Za-z0-9+/=]{40,}$"), timeout=20_000)
    expect(widget).to_be_visible()
    # The accept button stays on screen beside the widget: the widget does not push it off a phone.
    expect(page.get_by_role("button", name="I accept the terms")).to_be_in_viewport()
    assert_no_serious_violations(page)  # axe, with the widget in its solved state

    page.get_by_role("button", name="I accept the terms").click()
    vote_a = page.get_by_role("button", name="A is better")
    expect(vote_a).to_be_enabled()
    vote_a.click()
    expect(page.get_by_role("heading", name=re.compile("You voted: A is better"))).to_be_visible()
    expect(page.get_by_text("will not count")).to_have_count(0)
    assert stored(session_factory) == (1, 1, [(True, None)])
    # Paid once: the next pages load no widget at all.
    page.get_by_role("link", name=re.compile("New battle")).click()
    expect(page.get_by_role("button", name="Tie")).to_be_enabled()
    page.reload()
    assert page.locator('script[src$="proof.js"]').count() == 0
    assert console_errors == []


@pytest.mark.parametrize("difficulty", [20_000])  # a few seconds of work here
def test_accepting_before_the_solve_ends_waits_for_it(page, live_server, demo_loaded, session_factory):
    # A quick reader clicks at once: the widget finishes first and the acceptance carries the solution.
    page.goto(live_server + "/")
    expect(page.locator('form.terms-accept input[name="altcha"]')).not_to_have_value(re.compile("."))
    page.get_by_role("button", name="I accept the terms").click()
    expect(page.get_by_role("button", name="Tie")).to_be_enabled(timeout=20_000)
    page.get_by_role("button", name="Tie").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    assert stored(session_factory) == (1, 1, [(True, None)])


def test_without_javascript_the_vote_is_kept_as_unverified(browser, live_server, demo_loaded, session_factory):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(live_server + "/")
        page.get_by_role("button", name="I accept the terms").click()
        page.get_by_role("button", name="B is better").click()
        expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_visible()
        expect(page.get_by_text("will not count")).to_be_visible()
        expect(page.get_by_text("The check needs JavaScript")).to_be_visible()
        assert stored(session_factory) == (1, 0, [(False, "unverified")])
    finally:
        context.close()


# A visitor who skipped the check and comes back with JavaScript: tests/e2e/test_slow_phone_votes_count.py.
