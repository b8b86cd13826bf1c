"""A new visitor accepts the terms, then votes: with htmx in place, and without JavaScript."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena import create_app
from arena.models import TermsAcceptance, Vote
from tests.conftest import make_settings

pytestmark = pytest.mark.e2e


@pytest.fixture
def app(database_url):
    app = create_app(make_settings(database_url, require_terms=True))
    yield app
    app.extensions["arena.engine"].dispose()


def stored(session_factory) -> tuple[list[str], list[str]]:
    with session_factory() as s:
        return list(s.scalars(select(TermsAcceptance.version))), list(s.scalars(select(Vote.outcome)))


def test_a_new_visitor_accepts_the_terms_then_votes(page, live_server, demo_loaded, session_factory, console_errors):
    page.goto(live_server + "/")
    vote_a = page.get_by_role("button", name="A is better")
    expect(vote_a).to_have_attribute("aria-disabled", "true")
    expect(page.get_by_text("Accept the terms (above the message) to vote.")).to_be_visible()
    expect(page.locator("form.terms-accept").get_by_role("link", name="terms")).to_have_attribute("href", "/terms")
    battle_action = page.locator("form.vote").get_attribute("action")

    page.get_by_role("button", name="I accept the terms").click()
    expect(vote_a).to_be_enabled()
    assert page.url == live_server + "/"  # swapped in place: the same battle, no navigation
    assert page.locator("form.vote").get_attribute("action") == battle_action
    expect(page.get_by_role("button", name="I accept the terms")).to_have_count(0)

    vote_a.click()
    expect(page.get_by_role("heading", name=re.compile("You voted: A is better"))).to_be_visible()
    assert stored(session_factory) == (["2026-11"], ["model_a"])

    page.get_by_role("link", name=re.compile("New battle")).click()  # asked once, not again
    expect(page.get_by_role("button", name="Tie")).to_be_enabled()
    assert console_errors == []


def test_a_vote_before_accepting_says_why_and_where_to_accept(page, live_server, demo_loaded, session_factory):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/")
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight / 2)")
    page.keyboard.press("t")  # a key, or a tap on the bar (pressable, not disabled): the server says why
    status = page.locator("#vote-status")
    expect(status.get_by_role("alert")).to_contain_text("Accept the terms first")
    expect(status.get_by_role("alert")).to_contain_text("just below")
    expect(status.get_by_role("alert")).to_be_in_viewport()
    accept = page.locator("#battle").get_by_role("button", name="I accept the terms")
    expect(accept).to_be_in_viewport()
    assert stored(session_factory) == ([], [])
    accept.click()
    expect(status).to_be_empty()
    page.get_by_role("button", name="Tie").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    assert stored(session_factory) == (["2026-11"], ["tie"])


def test_a_stale_page_without_the_accept_control_gets_one(page, live_server, demo_loaded, session_factory):
    # A battle drawn before the terms changed has no accept control: the refusal brings one.
    page.goto(live_server + "/")
    page.evaluate("document.querySelector('#battle form.terms-accept').remove()")
    page.evaluate("document.querySelector('input[name=terms_shown]').remove()")
    page.keyboard.press("t")
    status = page.locator("#vote-status")
    expect(status.get_by_role("alert")).to_contain_text("Accept the terms first")
    status.get_by_role("button", name="I accept the terms").click()
    expect(status).to_be_empty()
    page.get_by_role("button", name="Tie").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    assert stored(session_factory) == (["2026-11"], ["tie"])


def test_accepting_and_voting_work_without_javascript(browser, live_server, demo_loaded, session_factory):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(live_server + "/")
    page.get_by_role("button", name="I accept the terms").click()
    assert re.search(r"/battles/[^/]+$", page.url), page.url  # back to the same battle, now votable
    page.get_by_role("button", name="B is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: B is better"))).to_be_visible()
    assert stored(session_factory) == (["2026-11"], ["model_b"])
    context.close()


@pytest.mark.parametrize("path", ["/", "/terms", "/privacy"])
def test_terms_and_privacy_fit_a_phone(browser, live_server, demo_loaded, path):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(live_server + "/")  # a visitor key, so /privacy shows it and the delete form
    page.goto(live_server + path)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{path} scrolls sideways by {overflow}px on a phone"
    context.close()


def test_a_visitor_deletes_their_votes_in_the_browser(page, live_server, demo_loaded, session_factory):
    page.goto(live_server + "/")
    page.get_by_role("button", name="I accept the terms").click()
    page.get_by_role("button", name="Tie").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: Tie"))).to_be_visible()
    page.get_by_role("link", name="Privacy").click()
    key = page.locator(".visitor-key").inner_text()
    delete = page.get_by_role("button", name="Delete my votes and messages")
    delete.click()  # the confirm box is required: the browser itself refuses to submit
    assert stored(session_factory) == (["2026-11"], ["tie"])
    page.get_by_label(re.compile("I understand")).check()
    delete.click()
    expect(page.locator("#deletion-result")).to_contain_text("1 vote(s) and 1 battle(s)")
    expect(page.locator(".visitor-key")).not_to_have_text(key)
    assert stored(session_factory) == ([], [])
