"""Write your own, in a real Chromium: two anonymous replies stream in side by side, the vote buttons arrive
when both are complete, the vote reveals the models; a provider failure is told and asks for no vote."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from arena.db import transaction
from arena.models import Battle, Model, Vote

pytestmark = pytest.mark.e2e

KEY_ENV = "ARENA_TEST_LIVE_KEY"
MESSAGE = "I finally told my dad I'm changing careers and he just went silent on the phone."


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "test-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def add_models(session_factory, llm_server, *names: str) -> None:
    with transaction(session_factory) as s:
        for name in names:
            s.add(Model(slug=f"live-{name}", display_name=f"Live {name}", litellm_model=f"openai/{name}",
                        meta={"api_base": llm_server.url, "api_key_env": KEY_ENV}))  # fmt: skip


def write(page, live_server: str) -> None:
    page.goto(live_server + "/live")
    page.get_by_label("Your message").fill(MESSAGE)
    page.get_by_role("button", name="Ask two models").click()


def test_write_stream_vote_reveal(page, live_server, session_factory, llm_server, console_errors):
    add_models(session_factory, llm_server, "slow", "kind-two")
    llm_server.replies["slow"] = " ".join(f"gentle{i}" for i in range(30)) + " take care."
    llm_server.replies["kind-two"] = "That silence must have felt enormous. **What** did you hope he'd say?"
    write(page, live_server)
    expect(page.locator(".replies[aria-live=polite]")).to_be_visible()
    # While the slow reply is still streaming the vote buttons are there but disabled.
    expect(page.locator("#live-outcome button").first).to_be_disabled()
    expect(page.get_by_role("button", name="A is better")).to_be_enabled(timeout=20_000)
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        replies = {"A": battle.reply_a.text, "B": battle.reply_b.text}
        names = {"A": battle.model_a.display_name, "B": battle.model_b.display_name}
    bodies = page.locator(".reply-body")
    for i, side in enumerate("AB"):
        expected = "What did you hope he'd say?" if "What" in replies[side] else "take care."
        expect(bodies.nth(i)).to_contain_text(expected)
    assert "Live slow" not in page.content() and "Live kind-two" not in page.content()
    page.get_by_role("button", name="A is better").click()
    expect(page.get_by_role("heading", name=re.compile("You voted: A is better"))).to_be_visible()
    expect(page.locator('.model-name[data-side="A"]')).to_have_text(names["A"])
    expect(page.locator('.model-name[data-side="B"]')).to_have_text(names["B"])
    with session_factory() as s:
        assert s.scalars(select(Vote.outcome)).all() == ["model_a"]
    assert console_errors == []


def test_a_failing_provider_is_told_and_no_vote_is_asked(page, live_server, session_factory, llm_server,
                                                         console_errors):  # fmt: skip
    add_models(session_factory, llm_server, "kind-one", "fail-500")
    write(page, live_server)
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("this one did not work", timeout=20_000)
    expect(alert).to_contain_text("nothing to vote on")
    expect(page.locator("form.vote")).to_have_count(0)
    expect(page.locator("#live-outcome button")).to_have_count(0)
    page.wait_for_timeout(1500)  # the stream is closed: no reconnect replaces the message
    expect(alert).to_contain_text("this one did not work")
    with session_factory() as s:
        assert s.scalars(select(Battle.status)).all() == ["expired"]
        assert s.scalars(select(Vote)).all() == []
    assert console_errors == []


def test_a_crisis_message_shows_resources(page, live_server, session_factory, llm_server):
    add_models(session_factory, llm_server, "kind-one", "kind-two")
    page.goto(live_server + "/live")
    page.get_by_label("Your message").fill("He threatened to kill me if I leave and I'm not safe at home.")
    page.get_by_role("button", name="Ask two models").click()
    expect(page.get_by_role("heading", name=re.compile("going through a lot"))).to_be_visible()
    expect(page.get_by_text("116 123")).to_be_visible()
    assert llm_server.requests == []
