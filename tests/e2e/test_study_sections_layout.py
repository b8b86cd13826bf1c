"""/analysis's causal-study sections (issue 21: presentation arms, edited replies, reasons) in Chromium at a
phone's width (390x844) and a laptop's (1366x900) on a slow link (150 ms, 1.6 Mbit/s) with every script held
back and then let through: each section readable as plain HTML, its tables scrolling inside their own region,
never the page sideways, axe clean with the technical details open. The arms' figures on the page are the CLI's
(`arena analysis eq --json`), and an edit battle's reveal at 390 px names the edited reply without scrolling
sideways."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena.db import transaction
from arena.jobs.analysis import analyse
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Vote, VoteReason
from arena.web.study import plain_label
from tests.arena_cli import run_arena
from tests.e2e.conftest import throttle
from tests.e2e.test_accessibility import assert_no_serious_violations
from tests.e2e.test_phone_layout import PHONE, VIEWPORTS, assert_no_sideways_scroll, open_page
from tests.jobs.test_arm_study import build_arena
from tests.web.test_edit_battles import add_edits, always_edit, edit_votes
from tests.web.test_repeats import battles

pytestmark = pytest.mark.e2e

SECTIONS = ("The same replies, shown differently", "Why people voted", "Replies changed in one way")


def tag_reasons(session_factory) -> int:
    """Reasons on every third vote: the winner felt heard, the loser (every ninth) was preachy."""
    with transaction(session_factory) as session:
        votes = session.execute(select(Vote.id, Vote.outcome).where(Vote.counts_for_leaderboard).order_by(Vote.id))
        rows = []
        for k, (vote_id, outcome) in enumerate(votes):
            if k % 3 or outcome not in ("model_a", "model_b"):
                continue
            winner, loser = ("a", "b") if outcome == "model_a" else ("b", "a")
            rows.append(VoteReason(vote_id=vote_id, side=winner, reason="felt_heard"))
            if k % 9 == 0:
                rows.append(VoteReason(vote_id=vote_id, side=loser, reason="preachy"))
        session.add_all(rows)
        return len(rows)


@pytest.fixture
def studied_arena(session_factory):
    build_arena(session_factory, n=1200)
    assert tag_reasons(session_factory) > 100
    add_edits(session_factory, n=6)
    edit_votes(session_factory, 80, edit_wins=0.35, seed=4)
    recompute(session_factory, session_factory, RecomputeRequest(rounds=10, filters=None, categories=("overall",)))
    analyse(session_factory, session_factory, rounds=50)


def arm_sentence_points(sentence: str) -> tuple[int, int, int]:
    """(points, low, high) as a study sentence says them: 'win 12 points more often ... (95% interval +4 to +20)'."""
    size, direction = re.search(r"win (\d+) points? (more|less) often", sentence).groups()
    low, high = re.search(r"95% interval ([+-]?\d+) to ([+-]?\d+)", sentence).groups()
    return (int(size) if direction == "more" else -int(size)), int(low), int(high)


def test_the_arms_figures_on_the_page_are_the_clis(studied_arena, database_url, client):
    out = run_arena("analysis", "eq", "--category", "overall", "--json", "--database-url", database_url)
    assert out.returncode == 0, out.stderr
    effects = {e["arm"]: e for e in json.loads(out.stdout)["arms"]["effects"] if e.get("points") is not None}
    assert set(effects) == {"plain_text", "no_helpline"}
    html = client.get("/analysis").get_data(as_text=True)
    section = html.split('id="arms-title"')[1].split("</ul>")[0]
    sentences = [" ".join(s.split()) for s in re.findall(r"<li[^>]*>(.*?)</li>", section, re.S)]
    subjects = {arm: plain_label(f"arm_{arm}")[0] for arm in effects}
    found = {
        arm: arm_sentence_points(s) for s in sentences for arm, subject in subjects.items() if s.startswith(subject)
    }
    assert set(found) == set(effects), sentences
    for arm, e in effects.items():
        # The page rounds to whole points; an estimate of 0 reads "about as often" (no direction to compare).
        assert found[arm] == (round(e["points"]), round(e["points_low"]), round(e["points_high"])), (arm, e)


@pytest.mark.parametrize("size", VIEWPORTS)
def test_the_study_sections_on_a_slow_link_at_any_width(browser, live_server, studied_arena, size, console_errors):
    viewport = VIEWPORTS[size]
    phone = viewport is PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    try:
        page = context.new_page()
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        held = []
        page.route("**/*.js", lambda route: held.append(route))
        throttle(page)
        page.goto(f"{live_server}/analysis", wait_until="commit")
        for title in SECTIONS:  # plain HTML, before any script
            expect(page.get_by_role("heading", name=title)).to_be_visible(timeout=20_000)
        assert page.evaluate("typeof htmx") == "undefined"
        expect(page.get_by_role("region", name="Reasons given per model")).to_be_visible()
        # The stylesheet blocks the first paint: a reader sees the page once it has arrived, scripts or not.
        page.wait_for_function("() => [...document.styleSheets].some(s => s.href && s.href.includes('arena.css'))")
        assert_no_sideways_scroll(page, viewport)
        for route in held:
            route.continue_()
        page.unroute("**/*.js")
        page.wait_for_load_state("load", timeout=30_000)
        for summary in page.locator("details.technical summary").all():
            summary.click()
        expect(page.get_by_role("region", name="Arms by model")).to_be_visible()
        assert_no_sideways_scroll(page, viewport)
        # A wide table scrolls inside its own region, never past the screen's edge.
        for region in page.locator(".table-wrap:visible").all():
            box = region.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1, box
        assert_no_serious_violations(page)
        page.screenshot(path=f"/tmp/study-sections-{viewport['width']}.png", full_page=True)
        assert console_errors == []
    finally:
        context.close()


def test_an_edit_battles_reveal_on_a_phone(browser, app, live_server, demo_loaded, session_factory, monkeypatch,
                                           console_errors):  # fmt: skip
    edits = add_edits(session_factory, n=48)
    always_edit(app, monkeypatch, share=1.0)
    page = open_page(browser, PHONE)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto(live_server + "/")
    page.get_by_role("button", name="B is better").tap()
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_in_viewport()
    battle = battles(session_factory)[-1]
    assert battle.source == "edit"
    edited = "A" if battle.reply_a_id in edits else "B"
    names = page.locator(".reveal-names span")
    expect(names).to_have_count(2)
    for side, span in zip("AB", names.all(), strict=True):
        expect(span).to_contain_text("a caring question back added" if side == edited else "as written")
    expect(page.get_by_role("note").filter(has_text="does not count on the leaderboard")).to_be_visible()
    expect(page.locator(f"#reveal-{edited} .badge", has_text="edited")).to_have_count(1)
    assert_no_sideways_scroll(page, PHONE)
    assert_no_serious_violations(page)
    page.screenshot(path="/tmp/edit-reveal-390.png", full_page=True)
    assert console_errors == []
    page.context.close()
