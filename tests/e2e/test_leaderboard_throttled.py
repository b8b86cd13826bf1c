"""The leaderboard on a slow phone's link (150 ms round trip, 1.6 Mbit/s, Chrome DevTools' numbers) at a phone's
width (390x844) and a laptop's (1366x900), in a real Chromium: with every script held back the board is already
usable as plain HTML (its table, the Flip figures on every row of an emotion board, the provenance line, the
board links), nothing scrolls sideways before or after the scripts arrive, and axe stays clean.
ARENA_SCREENSHOT_DIR=static/screenshots writes README's leaderboard-board-390.png and leaderboard-board-1366.png
(an emotion board, scripts loaded, on the throttled link)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from arena.db import make_engine, make_session_factory, transaction
from arena.models import Model
from arena.taxonomy import EMONET_GROUPS
from tests.e2e.conftest import throttle
from tests.e2e.test_accessibility import assert_no_serious_violations, cast_votes, recompute_ratings
from tests.e2e.test_phone_layout import PHONE, VIEWPORTS, assert_no_sideways_scroll

pytestmark = pytest.mark.e2e


def busiest_board(client) -> tuple[str, list[dict]]:
    """The emotion group board with the most votes, and its rows."""
    boards = []
    for group in EMONET_GROUPS:
        answer = client.get("/api/leaderboard", query_string={"category": group})
        if answer.status_code == 200:
            boards.append((answer.get_json()["n_votes"], group, answer.get_json()["ratings"]))
    n_votes, group, rows = max(boards)
    return group, rows


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_board_on_a_throttled_link_before_and_after_its_scripts(
    browser, live_server, demo_loaded, client, database_url, size
):
    cast_votes(client, 150)
    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as s:  # one row with a configuration: its provenance line
        slug = s.scalars(select(Model.slug).order_by(Model.slug)).first()
        s.execute(update(Model).where(Model.slug == slug).values(config_hash="cd" * 32))
    engine.dispose()
    recompute_ratings(database_url)
    group, rows = busiest_board(client)
    flips = [r["votes_to_flip_above"] for r in rows[1:]]
    # Every neighbour pair of an emotion board is worked out (a dash only where no removal swaps them).
    assert sum(k is not None for k in flips) >= 2, flips

    viewport = VIEWPORTS[size]
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    try:
        page = context.new_page()
        held = []
        page.route("**/*.js", lambda route: held.append(route))  # every script held back until released below
        throttle(page)
        started = time.monotonic()
        page.goto(f"{live_server}/leaderboard?category={quote(group)}", wait_until="commit")
        table = page.get_by_role("table").first
        expect(table).to_be_visible(timeout=20_000)
        shown = time.monotonic() - started
        # Plain HTML, no script has run: the board, its Flip figures and the provenance line are there.
        assert held and page.evaluate("typeof htmx") == "undefined"
        expect(page.locator(".provenance").first).to_be_visible()
        expect(page.get_by_text("config cdcdcdcd")).to_be_visible()
        expect(page.locator("#top-flip")).to_contain_text("would swap #1")
        if phone:  # the Flip figure folds into each row's tap-to-open detail
            detail = page.locator("details.row-details").nth(1)
            detail.locator("summary").tap()
            expect(detail).to_contain_text("would swap it with the model above")
        else:
            expect(page.get_by_role("columnheader", name="Flip")).to_be_visible()
            figures = page.locator("tbody tr td:last-child").all_inner_texts()
            assert sum(f.strip().replace(",", "").isdigit() for f in figures) >= 2, figures
        assert_no_sideways_scroll(page, viewport)
        print(f"\n{size}: the board readable {shown:.2f} s after the request, before any script")  # with -s
        for route in held:  # the scripts arrive, still on the throttled link
            route.continue_()
        page.unroute("**/*.js")
        page.wait_for_load_state("load", timeout=30_000)
        expect(page.locator("#board")).to_be_visible()
        page.wait_for_function("typeof htmx !== 'undefined'", timeout=30_000)
        assert_no_sideways_scroll(page, viewport)
        # A board link works as a link with scripts and without: the overall board.
        page.get_by_role("link", name="Overall").first.click()
        expect(page.locator("#board")).to_have_attribute("data-category", "overall", timeout=30_000)
        assert_no_sideways_scroll(page, viewport)
        page.go_back()
        expect(page.locator("#board")).to_have_attribute("data-category", group, timeout=30_000)
        assert_no_serious_violations(page)
        folder = os.environ.get("ARENA_SCREENSHOT_DIR")
        if folder:
            page.screenshot(path=str(Path(folder) / f"leaderboard-board-{viewport['width']}.png"))
    finally:
        context.close()
