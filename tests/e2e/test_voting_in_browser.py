"""A visitor votes in a real Chromium: by click, by keyboard, without JavaScript, and on a phone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena.models import Battle, Vote

pytestmark = pytest.mark.e2e


def votes(session_factory) -> list[str]:
    with session_factory() as s:
        return list(s.scalars(select(Vote.outcome).order_by(Vote.id)))


def last_battle_models(session_factory) -> tuple[str, str]:
    with session_factory() as s:
        battle = s.scalars(select(Battle).order_by(Battle.id.desc())).first()
        return battle.model_a.display_name, battle.model_b.display_name


def test_vote_by_click_reveals_models_in_place(page, live_server, demo_loaded, session_factory, console_errors):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="Reply A")).to_be_visible()
    expect(page.locator(".model-name")).to_have_count(0)
    page.get_by_role("button", name="A is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: A is better"))).to_be_visible()
    assert page.url == live_server + "/"  # htmx swapped the reveal in; no navigation
    model_a, model_b = last_battle_models(session_factory)
    expect(page.locator('.model-name[data-side="A"]')).to_have_text(model_a)
    expect(page.locator('.model-name[data-side="B"]')).to_have_text(model_b)
    expect(page.get_by_role("link", name=re.compile("New battle"))).to_be_focused()
    assert votes(session_factory) == ["model_a"]
    assert console_errors == []


def test_vote_by_keyboard_then_new_battle_by_keyboard(page, live_server, demo_loaded, session_factory, console_errors):
    page.goto(live_server + "/")
    expect(page.get_by_role("button", name="B is better")).to_have_attribute("aria-keyshortcuts", "B")
    # Each key waits until the last swap has finished (the reveal's link, or a new battle's form), as a person
    # waits to see what changed; where focus lands is tested in tests/e2e/test_accessibility.py.
    form = page.locator("form.vote")
    page.keyboard.press("b")
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("New battle"))).to_be_focused()
    page.keyboard.press("n")
    expect(page.get_by_role("button", name="Tie")).to_be_enabled()
    second = form.get_attribute("action")
    page.keyboard.press("t")
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("New battle"))).to_be_focused()
    page.keyboard.press("n")
    expect(page.get_by_role("button", name="Both are bad")).to_be_enabled()
    expect(form).not_to_have_attribute("action", second)
    page.keyboard.press("x")
    expect(page.get_by_role("heading", name=re.compile("You voted: Both are bad"))).to_be_visible()
    assert votes(session_factory) == ["model_b", "tie", "both_bad"]
    assert console_errors == []


def test_keys_pressed_before_the_swap_settles_still_go_through_htmx(
    page, live_server, demo_loaded, session_factory, console_errors
):
    """Between a swap and its settle htmx has not wired the new controls, so a click then is a plain form post
    or link (a full page load, focus lost). A long settle makes that window wide: keys pressed in it wait."""
    page.goto(live_server + "/")
    page.evaluate("window.htmx.config.defaultSettleDelay = 1500; window.stillThisPage = true")
    page.keyboard.press("b")
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_visible()
    # The reveal is in but not settled: its link must not be focused yet (Enter would follow it unwired).
    assert not page.evaluate("document.activeElement.matches('a.new-battle')")
    page.keyboard.press("n")
    expect(page.get_by_role("heading", name="Which reply would you rather receive?")).to_be_focused(timeout=10_000)
    page.keyboard.press("t")
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible(timeout=10_000)
    expect(page.get_by_role("link", name=re.compile("New battle"))).to_be_focused(timeout=10_000)
    assert page.evaluate("window.stillThisPage === true")  # every step was an htmx swap, never a page load
    assert votes(session_factory) == ["model_b", "tie"]
    assert console_errors == []


def test_new_battle_button_shows_a_fresh_battle(page, live_server, demo_loaded, session_factory):
    page.goto(live_server + "/")
    first_action = page.locator("form.vote").get_attribute("action")
    page.get_by_role("button", name="Tie").click()
    page.get_by_role("link", name=re.compile("New battle")).click()
    expect(page.locator("form.vote")).to_be_visible()
    assert page.locator("form.vote").get_attribute("action") != first_action
    with session_factory() as s:
        assert len(s.scalars(select(Battle)).all()) == 2


def test_voting_works_without_javascript(browser, live_server, demo_loaded, session_factory):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server + "/")
    page.get_by_role("button", name="Both are bad").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: Both are bad"))).to_be_visible()
    assert re.search(r"/battles/[^/]+$", page.url), page.url  # a full-page POST, then the reveal page
    model_a, _ = last_battle_models(session_factory)
    expect(page.locator('.model-name[data-side="A"]')).to_have_text(model_a)
    page.reload()  # Post/Redirect/Get: reloading never posts the vote again
    assert votes(session_factory) == ["both_bad"]
    page.get_by_role("link", name=re.compile("New battle")).click()
    expect(page.get_by_role("button", name="A is better")).to_be_visible()
    context.close()


def test_second_tab_gets_a_clear_message_for_a_duplicate_vote(browser, live_server, demo_loaded, session_factory):
    context = browser.new_context()
    first = context.new_page()
    first.goto(live_server + "/")
    battle_url = live_server + first.locator("form.vote").get_attribute("action").removesuffix("/vote")
    second = context.new_page()
    second.goto(battle_url)
    first.get_by_role("button", name="A is better").click()
    expect(first.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()
    second.get_by_role("button", name="B is better").click()
    expect(second.get_by_role("alert")).to_contain_text("already has a vote")
    assert votes(session_factory) == ["model_a"]
    context.close()


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 800)])
def test_battle_is_readable_on_phone_and_desktop(browser, live_server, demo_loaded, width, height, tmp_path):
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(live_server + "/")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"page scrolls sideways by {overflow}px at {width}px"
    boxes = [page.get_by_role("heading", name=f"Reply {side}").bounding_box() for side in "AB"]
    if width < 700:
        assert boxes[1]["y"] > boxes[0]["y"]  # stacked on a phone
    else:
        assert boxes[1]["x"] > boxes[0]["x"] and abs(boxes[1]["y"] - boxes[0]["y"]) < 2  # side by side
    font_px = page.evaluate("parseFloat(getComputedStyle(document.querySelector('.reply-body')).fontSize)")
    assert font_px >= 15
    for name in ("A is better", "B is better", "Tie", "Both are bad"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box["height"] >= 44 and box["x"] >= 0 and box["x"] + box["width"] <= width
    page.screenshot(path=str(tmp_path / f"battle-{width}.png"), full_page=True)
    context.close()


def test_leaderboard_tabs_switch_in_place(page, live_server, demo_loaded, client, database_url, console_errors):
    from arena.db import make_engine, make_session_factory
    from arena.jobs.recompute import RecomputeRequest, recompute
    from tests.conftest import parse_battle_page

    for k in range(60):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        client.post(action, data={"outcome": ("model_a", "model_b")[k % 2], "csrf_token": csrf})
    engine = make_engine(database_url)
    recompute(make_session_factory(engine), make_session_factory(engine, read_only=True), RecomputeRequest(rounds=30))
    engine.dispose()
    page.goto(live_server + "/leaderboard")
    expect(page.locator("table.ratings tbody tr")).to_have_count(6)
    expect(page.locator("svg.whiskers:visible")).to_be_visible()
    page.get_by_role("link", name="Negative, low energy").click()
    expect(page.locator("#board")).to_have_attribute("data-category", "Negative, low energy")
    expect(page.get_by_role("link", name="Negative, low energy")).to_have_attribute("aria-current", "page")
    assert "category=Negative" in page.url
    assert console_errors == []


@pytest.mark.parametrize("path", ["/leaderboard", "/analysis"])
def test_result_pages_fit_a_phone(browser, live_server, demo_loaded, client, database_url, path):
    from arena.db import make_engine, make_session_factory
    from arena.jobs.analysis import analyse
    from arena.jobs.recompute import RecomputeRequest, recompute
    from tests.conftest import parse_battle_page

    for k in range(80):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        client.post(action, data={"outcome": ("model_a", "model_b", "tie")[k % 3], "csrf_token": csrf})
    engine = make_engine(database_url)
    factory, reader = make_session_factory(engine), make_session_factory(engine, read_only=True)
    recompute(factory, reader, RecomputeRequest(rounds=30))
    analyse(factory, reader)
    engine.dispose()
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live_server + path)
    expect(page.locator("figure.chart").first).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    context.close()
