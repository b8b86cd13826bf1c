"""The leaderboard's provenance (retired tag, first/last seen, configuration hash, sampled share) at a phone's
width and a laptop's in a real Chromium: nothing scrolls the page sideways, and axe stays clean."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select, update

from arena.db import make_engine, make_session_factory, transaction
from arena.llm.registry import ModelSpec, upsert_model
from arena.models import Model
from tests.e2e.test_accessibility import assert_no_serious_violations, cast_votes, recompute_ratings
from tests.e2e.test_phone_layout import VIEWPORTS, assert_no_sideways_scroll, open_page

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("size", VIEWPORTS)
def test_leaderboard_provenance_fits_the_screen(browser, live_server, demo_loaded, client, database_url, size):
    cast_votes(client, 40)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        slugs = list(s.scalars(select(Model.slug).order_by(Model.slug)))
        # One persona's row as if it had been called with a configuration, another replaced by a new one.
        s.execute(update(Model).where(Model.slug == slugs[0]).values(config_hash="ab" * 32))
        assert upsert_model(s, ModelSpec(slugs[1], "openai/some-model-with-a-long-name-2026-12-01")) == "reconfigured"
    engine.dispose()
    recompute_ratings(database_url)
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    page.goto(live_server + "/leaderboard")
    expect(page.get_by_text("retired").first).to_be_visible()
    expect(page.locator(".provenance").first).to_be_visible()
    expect(page.get_by_text("config abababab")).to_be_visible()
    assert_no_sideways_scroll(page, viewport)
    if size == "laptop":
        expect(page.get_by_role("columnheader", name="Sampled")).to_be_visible()
    else:
        expect(page.locator(".narrow-only-inline").first).to_be_visible()
    assert_no_serious_violations(page)
    page.screenshot(path=f"/tmp/prov-leaderboard-{size}.png", full_page=True)
    page.context.close()
