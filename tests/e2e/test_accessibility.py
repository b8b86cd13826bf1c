"""Accessibility in a real Chromium: axe-core on every public page, focus after htmx swaps, reduced motion.

axe-core is vendored (static/vendor/axe-core-4.14.1, from `npm pack axe-core@4.14.1`) and only these tests load
it. The CSP forbids inline script, so its source goes in through Playwright's evaluate, which the page's CSP
does not govern, rather than through a <script> tag.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from arena.config import PROJECT_ROOT
from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page

pytestmark = pytest.mark.e2e

AXE_SOURCE = (PROJECT_ROOT / "static" / "vendor" / "axe-core-4.14.1" / "axe.min.js").read_text(encoding="utf-8")
BLOCKING_IMPACTS = {"serious", "critical"}


# A swapped-in battle fades in once htmx has settled it; contrast measured mid-fade would be that of translucent
# text. (A plain evaluate, not wait_for_function: its polling evaluates strings, which the CSP forbids.)
SETTLED = """async () => {
  const frame = () => new Promise(resolve => requestAnimationFrame(resolve));
  while (document.querySelector('.htmx-added, .htmx-settling, .htmx-swapping, .htmx-request')) await frame();
  await frame();
  await Promise.all(document.getAnimations().map(a => a.finished.catch(() => null)));
}"""


def axe_violations(page: Page) -> list[dict]:
    """Every axe violation on the page as it is now (all rules axe runs by default: WCAG A/AA and best practice)."""
    page.evaluate(SETTLED)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")


# axe leaves text inside SVG "incomplete" (it cannot find the background), so chart labels are measured here:
# each <text>'s fill against the <rect> it is drawn on (heatmap cells) or else the page behind the chart.
SVG_TEXT_COLOURS = r"""() => {
  const opaque = c => c && c !== 'none' && c !== 'transparent' && !/rgba\(.*,\s*0\)$/.test(c);
  function pageBackground(el) {
    for (let node = el; node; node = node.parentElement) {
      const bg = getComputedStyle(node).backgroundColor;
      if (opaque(bg)) return bg;
    }
    return 'rgb(255, 255, 255)';
  }
  return [...document.querySelectorAll('svg text')].map(text => {
    const rect = text.parentElement.querySelector(':scope > rect');
    const background = rect ? getComputedStyle(rect).fill : pageBackground(text.closest('svg'));
    return {text: text.textContent, fill: getComputedStyle(text).fill, background};
  });
}"""


def rgb(css: str) -> tuple[float, float, float]:
    channels = [float(v) for v in re.findall(r"[\d.]+", css)[:3]]
    return tuple(c / 255 for c in channels)


def contrast(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    # WCAG 2 contrast ratio, written out here rather than borrowed from the code under test.
    def luminance(colour):
        lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in colour]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    high, low = sorted((luminance(first), luminance(second)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def low_contrast_chart_labels(page: Page) -> list[str]:
    labels = page.evaluate(SVG_TEXT_COLOURS)
    assert labels, "no chart text on the page"
    return [
        f"{label['text']!r}: {label['fill']} on {label['background']} ({ratio:.2f}:1)"
        for label in labels
        if (ratio := contrast(rgb(label["fill"]), rgb(label["background"]))) < 4.5
    ]


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
    from arena.jobs.recompute import RecomputeRequest, recompute

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
    cookies = no_js.cookies()
    no_js.close()
    assert re.search(r"/battles/[^/]+$", reveal_url)
    # The same visitor (their cookies) with scripts on, so axe can run on the page they landed on.
    context = browser.new_context()
    context.add_cookies(cookies)
    page = context.new_page()
    page.goto(reveal_url)
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    expect(page.locator(".model-name")).to_have_count(2)
    assert_no_serious_violations(page)
    context.close()
    # Anyone else at that address is sent to the pair's public page: the reveal (how they voted) is the voter's.
    stranger = browser.new_context()
    page = stranger.new_page()
    page.goto(reveal_url)
    assert "/shared/" in page.url
    expect(page.locator(".model-name")).to_have_count(2)
    assert_no_serious_violations(page)
    stranger.close()


def test_empty_arena_and_error_pages(page, live_server):
    page.goto(live_server + "/")
    expect(page.get_by_role("heading", name="No battles yet")).to_be_visible()
    assert_no_serious_violations(page)
    response = page.goto(live_server + "/battles/not-a-battle")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not Found")).to_be_visible()
    assert_no_serious_violations(page)


def test_vote_error_in_place(page, live_server, demo_loaded, console_errors):
    # A rejected vote swaps its reason into the status region; that state is audited too.
    page.goto(live_server + "/")
    # The same visitor votes first from another tab (the browser context's cookies): only the battle's own
    # visitor may vote on it at all.
    action = page.locator("form.vote").get_attribute("action")
    csrf = page.locator("form.vote input[name=csrf_token]").first.get_attribute("value")
    assert page.request.post(live_server + action, form={"outcome": "model_a", "csrf_token": csrf}).ok
    page.get_by_role("button", name="B is better").click()
    expect(page.locator("#vote-status").get_by_role("alert")).to_contain_text("already has a vote")
    assert_no_serious_violations(page)


def test_leaderboard_and_a_second_group_tab(page, live_server, demo_loaded, client, database_url, console_errors):
    cast_votes(client, 60)
    recompute_ratings(database_url)
    page.goto(live_server + "/leaderboard")
    expect(page.locator("svg.whiskers:visible")).to_be_visible()
    expect(page.locator("svg.heatmap")).to_be_visible()
    assert_no_serious_violations(page)
    assert low_contrast_chart_labels(page) == []
    page.get_by_role("link", name="Negative, low energy").click()
    expect(page.locator("#board")).to_have_attribute("data-category", "Negative, low energy")
    # Focus stays where the visitor was: on the tab they chose, now the current one.
    expect(page.get_by_role("link", name="Negative, low energy")).to_be_focused()
    assert_no_serious_violations(page)
    assert low_contrast_chart_labels(page) == []
    assert console_errors == []


def test_battle_reveal_and_leaderboard_on_a_phone(browser, live_server, demo_loaded, client, database_url):
    # Small screens bring their own failures (touch target size, reflowed contrast): audit them too.
    cast_votes(client, 60)
    recompute_ratings(database_url)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(live_server + "/")
    assert_no_serious_violations(page)
    page.get_by_role("button", name="Both are bad").tap()
    expect(page.get_by_role("heading", name=re.compile("You voted"))).to_be_visible()
    assert_no_serious_violations(page)
    page.goto(live_server + "/leaderboard")
    expect(page.locator("svg.whiskers:visible")).to_be_visible()
    assert_no_serious_violations(page)
    context.close()


def test_leaderboard_before_any_rating_run(page, live_server):
    page.goto(live_server + "/leaderboard")
    expect(page.get_by_text("No ratings yet")).to_be_visible()
    assert_no_serious_violations(page)


def test_analysis_page_with_its_three_charts(page, live_server, eq_arena, console_errors):  # noqa: F811
    assert run_arena("analysis", "eq", "--database-url", eq_arena).returncode == 0
    page.goto(live_server + "/analysis")
    expect(page.locator("svg.whiskers:visible")).to_have_count(2)
    expect(page.locator("svg.scatter:visible")).to_be_visible()
    assert_no_serious_violations(page)
    assert low_contrast_chart_labels(page) == []
    page.locator("details.technical summary").click()  # the coefficient table, audited too
    assert_no_serious_violations(page)
    page.set_viewport_size({"width": 390, "height": 844})  # the wide tables now scroll sideways
    assert page.evaluate("[...document.querySelectorAll('.table-wrap')].some(w => w.scrollWidth > w.clientWidth)")
    assert_no_serious_violations(page)
    assert console_errors == []


def test_vote_controls_are_buttons_with_shortcuts_and_a_live_status(page, live_server, demo_loaded):
    page.goto(live_server + "/")
    shortcuts = page.locator("form.vote [aria-keyshortcuts]").evaluate_all(
        "els => els.map(e => [e.tagName, e.type, e.getAttribute('aria-keyshortcuts')])"
    )
    assert shortcuts == [["BUTTON", "submit", key] for key in "ABTX"]
    expect(page.get_by_role("link", name="Skip to a new battle")).to_have_attribute("aria-keyshortcuts", "N")
    status = page.locator("#vote-status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_have_attribute("role", "status")


def test_focus_follows_the_reveal_and_the_next_battle(page, live_server, demo_loaded, console_errors):
    page.goto(live_server + "/")
    page.keyboard.press("a")
    expect(page.get_by_role("heading", name=re.compile("You voted: A is better"))).to_be_visible()
    new_battle = page.get_by_role("link", name=re.compile("New battle"))
    expect(new_battle).to_be_focused()
    page.keyboard.press("Enter")  # the focused control works from the keyboard
    heading = page.get_by_role("heading", name="Which reply would you rather receive?")
    expect(heading).to_be_focused()
    # From the heading, Tab goes on into the new battle, not back to the top of the page.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#battle') !== null")
    page.get_by_role("link", name="Skip to a new battle").click()
    expect(page.get_by_role("heading", name="Which reply would you rather receive?")).to_be_focused()
    assert console_errors == []


def test_no_js_reveal_page_focuses_the_next_battle(browser, live_server, demo_loaded):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server + "/")
    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_role("link", name=re.compile("New battle"))).to_be_focused()
    context.close()


def test_focus_ring_stands_out_from_the_page(page, live_server, demo_loaded):
    page.goto(live_server + "/")
    page.locator("button[value=model_a]").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
    ring = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: s.outlineColor,
                           page: getComputedStyle(document.body.parentElement).backgroundColor}; }"""
    )
    assert ring["style"] != "none" and ring["width"] >= 2, ring
    assert contrast(rgb(ring["colour"]), rgb(ring["page"])) >= 3, ring


ALL_DURATIONS = """() => [...document.querySelectorAll('*')].flatMap(el => {
  const s = getComputedStyle(el);
  return [...s.transitionDuration.split(','), ...s.animationDuration.split(',')]
    .map(d => parseFloat(d)).filter(d => d > 0).map(d => `${el.tagName}.${el.className}: ${d}s`);
})"""


def test_reduced_motion_removes_transitions_and_htmx_delays(page, live_server, demo_loaded):
    page.goto(live_server + "/")
    # Without the preference there is motion to remove: controls ease and swapped content fades.
    assert page.evaluate(ALL_DURATIONS) != []
    assert page.evaluate("htmx.config.defaultSettleDelay") > 0
    page.emulate_media(reduced_motion="reduce")
    page.goto(live_server + "/")
    assert page.evaluate(ALL_DURATIONS) == []
    assert page.evaluate("htmx.config.defaultSettleDelay") == 0
    page.get_by_role("button", name="Tie").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    assert page.evaluate(ALL_DURATIONS) == []
    assert page.evaluate("getComputedStyle(document.getElementById('battle')).opacity") == "1"


def test_headings_in_model_replies_nest_under_the_reply_heading(page, live_server, database_url, tmp_path):
    # Models write markdown headers of any level; in the page they must sit below "Reply A" (h2).
    lines = [
        {"prompt": "My sister stopped speaking to me.", "model": "header-happy", "reply": "# Breathe\n## Then\ntext"},
        {"prompt": "My sister stopped speaking to me.", "model": "plain", "reply": "#### Small\nI'm sorry."},
    ]
    path = tmp_path / "replies.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert run_arena("import", "replies", str(path), "--database-url", database_url).returncode == 0
    page.goto(live_server + "/")
    levels = page.locator(".reply-body :is(h1, h2, h3, h4, h5, h6)").evaluate_all("els => els.map(e => e.tagName)")
    assert sorted(levels) == ["H3", "H3", "H4"]
    violations = assert_no_serious_violations(page)
    assert [v["id"] for v in violations if v["id"] == "heading-order"] == [], describe(violations)
