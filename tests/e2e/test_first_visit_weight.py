"""A first visit is light on a slow link: the battle page with its accept form (and so the proof-of-work widget)
crosses the wire in at most 80 KB, pages without the form never fetch the widget, and a second page reuses every
versioned file without asking for it again."""

from __future__ import annotations

import pytest

from arena import create_app
from tests.conftest import make_settings

pytestmark = pytest.mark.e2e

FIRST_VISIT_BUDGET = 80 * 1024


@pytest.fixture
def app(database_url):
    # A new visitor on the site's defaults: terms to accept, and so the proof-of-work form on the first battle.
    app = create_app(make_settings(database_url, require_terms=True, count_unverified=False))
    yield app
    app.extensions["arena.engine"].dispose()


class Transfers:
    """What crossed the wire for a page, as DevTools counts it: each response's encoded bytes, headers included
    (a file taken from the browser's cache counts nothing)."""

    def __init__(self, page):
        self.seen: list[tuple[str, int]] = []
        self._urls: dict[str, str] = {}
        self._cdp = page.context.new_cdp_session(page)
        self._cdp.on("Network.requestWillBeSent", lambda e: self._urls.__setitem__(e["requestId"], e["request"]["url"]))
        self._cdp.on("Network.loadingFinished", self._finished)
        self._cdp.send("Network.enable")

    def _finished(self, event) -> None:
        if event["encodedDataLength"] > 0:
            self.seen.append((self._urls.get(event["requestId"], "?"), int(event["encodedDataLength"])))

    def total(self) -> int:
        return sum(size for _, size in self.seen)

    def urls(self) -> list[str]:
        return [url for url, _ in self.seen]

    def close(self) -> None:
        self._cdp.detach()


def test_the_first_battle_visit_fits_in_80_kb_and_the_widget_loads_only_with_its_form(
    browser, live_server, demo_loaded
):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        transfers = Transfers(page)
        page.goto(live_server + "/leaderboard")
        page.wait_for_load_state("networkidle")
        assert not any("altcha" in url for url in transfers.urls()), transfers.urls()
        transfers.close()

        transfers = Transfers(page)
        page.goto(live_server + "/")
        page.locator("form.terms-accept button[type=submit]").wait_for(state="visible")
        page.wait_for_load_state("networkidle")
        fetched = transfers.urls()
        assert any(url.endswith("altcha.min.js") for url in fetched)
        # The leaderboard's versioned files came from the browser's cache, not the wire.
        assert not any("arena.css" in url or "htmx" in url for url in fetched), fetched

        fresh = context.browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
        try:
            first = fresh.new_page()
            transfers = Transfers(first)
            first.goto(live_server + "/")
            first.locator("form.terms-accept button[type=submit]").wait_for(state="visible")
            first.wait_for_load_state("networkidle")
            weight = transfers.total()
            print(f"first battle visit: {weight / 1024:.1f} KB in {len(transfers.seen)} responses")
            assert weight <= FIRST_VISIT_BUDGET, sorted(transfers.seen, key=lambda s: -s[1])
        finally:
            fresh.close()
    finally:
        context.close()
