"""Keep talking, in a real Chromium at a phone's width (390x844) and a laptop's (1366x900): three messages to the
same two anonymous models, earlier exchanges folded and the latest open, the vote bar within reach while
reading, nothing scrolling sideways, axe clean; the vote at the third exchange stores three turns and the reveal
offers to go on with two new models. Set ARENA_SCREENSHOT_DIR to keep the screenshots (README's come from here)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from arena.db import transaction
from arena.models import Battle, Model, Vote
from tests.e2e.test_accessibility import assert_no_serious_violations
from tests.e2e.test_phone_layout import VIEWPORTS, assert_no_sideways_scroll, open_page, vote_buttons_on_screen

pytestmark = pytest.mark.e2e

KEY_ENV = "ARENA_TEST_LIVE_KEY"
MESSAGES = (
    "My best friend is moving abroad next month and I keep pretending I'm fine about it.",
    "We had dinner last night and I didn't say anything. I just talked about work.",
    "I think I'm scared that if I tell her, I'll cry and make it about me.",
)


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "test-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def add_models(session_factory, llm_server) -> list[str]:
    """Two live models whose replies are a few paragraphs long (a phone has to scroll them); returns their
    names."""
    words = {"warm-one": ("gentle", "steady"), "warm-two": ("honest", "quiet")}
    with transaction(session_factory) as s:
        for name in words:
            s.add(Model(slug=f"live-{name}", display_name=f"Live {name}", litellm_model=f"openai/{name}",
                        meta={"api_base": llm_server.url, "api_key_env": KEY_ENV}))  # fmt: skip
    for name, (first, second) in words.items():
        llm_server.replies[name] = lambda messages, first=first, second=second: (
            f"That sounds {first} and hard at the same time. "
            + " ".join(f"Part {i} of a {second} answer to message {len(messages) // 2 + 1}." for i in range(12))
            + "\n\nWhat would you most want her to know before she goes?"
        )
    return [n for name in words for n in (name, f"live-{name}", f"Live {name}")]


def exchange(page: Page, number: int):
    return page.locator(f'details.exchange[data-exchange="{number}"]')


def keep(page: Page, size: str, name: str) -> None:
    folder = os.environ.get("ARENA_SCREENSHOT_DIR")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}-{VIEWPORTS[size]['width']}.png"), full_page=True)


@pytest.mark.parametrize("size", VIEWPORTS)
def test_a_three_message_conversation_reads_and_votes_at_both_widths(
    browser, live_server, session_factory, llm_server, size
):
    names = add_models(session_factory, llm_server)
    viewport = VIEWPORTS[size]
    page = open_page(browser, viewport)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(live_server + "/live")
    page.get_by_label("Your message").fill(MESSAGES[0])
    page.get_by_role("button", name="Ask two models").click()
    expect(exchange(page, 1)).to_have_attribute("open", "", timeout=20_000)
    for number, message in enumerate(MESSAGES[1:], start=2):
        page.get_by_label(re.compile("Your next message")).fill(message)
        page.get_by_role("button", name="Send to both").click()
        # While the replies stream, the earlier exchanges are folded and the vote waits.
        expect(page.locator("#live-outcome button").first).to_be_disabled()
        expect(exchange(page, number)).to_have_attribute("open", "", timeout=20_000)

    expect(page.locator("details.exchange")).to_have_count(3)
    expect(page.locator("details.exchange[open]")).to_have_count(1)
    for number in (1, 2):
        expect(exchange(page, number)).not_to_have_attribute("open", "")
    expect(exchange(page, 3).locator("blockquote.message-text")).to_have_text(MESSAGES[2])
    content = page.content()
    for name in names:
        assert name not in content, f"{name!r} reached the page before the vote"

    vote_buttons_on_screen(page)  # at the top of the conversation
    page.evaluate(
        "() => { const b = document.getElementById('battle');"
        " window.scrollTo(0, b.offsetTop + b.offsetHeight / 2 - innerHeight / 2); }"
    )
    vote_buttons_on_screen(page)  # halfway through the latest exchange
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)
    # An earlier exchange opens on a tap, and still nothing scrolls sideways.
    exchange(page, 1).locator("summary").click()
    expect(exchange(page, 1).locator("blockquote.message-text")).to_be_visible()
    assert_no_sideways_scroll(page, viewport)
    exchange(page, 1).locator("summary").click()
    page.evaluate("window.scrollTo(0, 0)")
    keep(page, size, "live")

    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_in_viewport()
    expect(page.get_by_role("heading", name="Keep talking, with two new models")).to_be_visible()
    expect(page.locator("details.exchange")).to_have_count(3)
    assert_no_sideways_scroll(page, viewport)
    assert_no_serious_violations(page)
    keep(page, size, "live-reveal")
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        assert s.scalars(select(Vote.turns)).one() == 3
        expect(page.locator(".reveal-names")).to_contain_text(battle.model_b.display_name)
    assert errors == []
