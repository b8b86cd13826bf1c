"""A visitor deletes everything stored under their key (page and CLI); the deletion reaches exports; other
visitors' votes stay."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select

from arena import create_app
from arena.cli import main
from arena.db import make_engine, make_session_factory, transaction
from arena.jobs.export import export
from arena.models import Battle, Model, Prompt, PromptEmotion, Reply, TermsAcceptance, Vote
from arena.voting import terms
from arena.voting.pairing import Draw, PairingPool
from arena.voting.privacy import BadVisitorKey, delete_visitor_data, normalise_visitor_key
from arena.voting.visitors import judge_key
from arena.voting.voting import cast_vote, create_battle
from tests.conftest import CSRF_INPUT, SECRET, make_settings, parse_battle_page

ME = judge_key(SECRET, "me")
OTHER = judge_key(SECRET, "someone-else")
MY_MESSAGE = "My sister stopped talking to me after the wedding and I do not know why."
TTL = timedelta(hours=1)


@dataclass(frozen=True)
class World:
    my_votes: int
    my_open_battles: int
    other_votes: int
    my_prompt_id: int


def _vote(session, draw: Draw, key: str, outcome: str) -> str:
    public_id = create_battle(session, draw, judge_key=key, ttl=TTL)
    cast_vote(session, public_id, outcome, voter_key=key)
    return public_id


@pytest.fixture
def world(session_factory, demo_loaded) -> World:
    """Votes of two visitors on demo messages, a message of my own with replies, voted on by me and (as an
    operator might allow) by the other visitor, who also has an unvoted battle on it."""
    rng, pool = random.Random(7), PairingPool()
    with transaction(session_factory) as s:
        for key in (ME, OTHER, ME, OTHER, ME, OTHER):
            _vote(s, pool.draw(s, rng), key, rng.choice(["model_a", "model_b", "tie", "both_bad"]))
        create_battle(s, pool.draw(s, rng), judge_key=ME, ttl=TTL)  # shown, never voted
        mine = Prompt(text=MY_MESSAGE, source="user", content_hash="mine", active=False, visitor_key=ME)
        mine.emotions = [PromptEmotion(category="Sadness", intensity=2)]
        s.add(mine)
        s.flush()
        models = s.scalars(select(Model).order_by(Model.id).limit(2)).all()
        replies = [Reply(prompt_id=mine.id, model_id=m.id, text=f"{m.slug} hears you.") for m in models]
        s.add_all(replies)
        s.flush()
        texts = (MY_MESSAGE, replies[0].text, replies[1].text)
        draw = Draw(mine.id, replies[0].id, replies[1].id, models[0].id, models[1].id, 1.0, *texts)
        _vote(s, draw, ME, "model_a")
        _vote(s, draw, OTHER, "model_b")
        create_battle(s, draw, judge_key=OTHER, ttl=TTL)
        terms.accept(s, ME, "2026-11")
        terms.accept(s, OTHER, "2026-11")
        return World(my_votes=4, my_open_battles=1, other_votes=4, my_prompt_id=mine.id)


def exported(session_factory, out_dir) -> dict[str, dict]:
    with session_factory() as s:
        export(s, out_dir, "jsonl")
    rows = [json.loads(line) for line in (out_dir / "battles.jsonl").read_text().splitlines()]
    return {row["question_id"]: row for row in rows}


def count(session_factory, stmt) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(stmt.subquery()))


def test_deletion_removes_my_votes_and_messages_and_reaches_the_export(world, session_factory, tmp_path):
    before = exported(session_factory, tmp_path / "before")
    mine_before = {q for q, row in before.items() if row["judge_hash"] == ME}
    others_before = {q: row for q, row in before.items() if row["judge_hash"] == OTHER}
    assert len(mine_before) == world.my_votes and len(others_before) == world.other_votes

    with transaction(session_factory) as s:
        summary = delete_visitor_data(s, ME)

    assert summary.votes == world.my_votes
    assert summary.battles == world.my_votes + world.my_open_battles
    assert (summary.prompts, summary.replies, summary.terms_acceptances) == (1, 2, 1)
    assert summary.others_votes_detached == 1
    assert count(session_factory, select(Battle.id).where(Battle.judge_key == ME)) == 0
    assert count(session_factory, select(Prompt.id).where(Prompt.visitor_key == ME)) == 0
    assert count(session_factory, select(Reply.id).where(Reply.prompt_id == world.my_prompt_id)) == 0
    assert (
        count(session_factory, select(PromptEmotion.prompt_id).where(PromptEmotion.prompt_id == world.my_prompt_id))
        == 0
    )
    assert count(session_factory, select(TermsAcceptance.id)) == 1  # the other visitor's

    after = exported(session_factory, tmp_path / "after")
    assert mine_before.isdisjoint(after)
    assert MY_MESSAGE not in (tmp_path / "after" / "battles.jsonl").read_text()
    assert set(after) == set(others_before)
    for question_id, row in others_before.items():
        if row["prompt_id"] == world.my_prompt_id:
            # Their vote on my message stays, without my message and its replies.
            kept = after[question_id]
            assert (kept["winner"], kept["model_a"], kept["model_b"]) == (row["winner"], row["model_a"], row["model_b"])
            assert kept["prompt_id"] is None and kept["conversation_a"] is None
        else:
            assert after[question_id] == row
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == world.other_votes
        # Their unvoted battle on my message went with it (nothing acknowledged in it).
        assert s.scalar(select(func.count()).select_from(Battle).where(Battle.judge_key == OTHER)) == world.other_votes


def test_deleting_twice_finds_nothing_the_second_time(world, session_factory):
    with transaction(session_factory) as s:
        assert delete_visitor_data(s, ME).anything
    with transaction(session_factory) as s:
        assert not delete_visitor_data(s, ME).anything


def test_a_failure_midway_deletes_nothing(world, database_url):
    engine = make_engine(database_url)

    def fail_on_terms(_conn, _cursor, statement, *_args):
        if statement.startswith("DELETE FROM terms_acceptance"):
            raise RuntimeError("disk full")

    event.listen(engine, "before_cursor_execute", fail_on_terms)
    factory = make_session_factory(engine)
    with pytest.raises(RuntimeError, match="disk full"), transaction(factory) as s:
        delete_visitor_data(s, ME)
    event.remove(engine, "before_cursor_execute", fail_on_terms)
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == world.my_votes + world.other_votes
        assert s.scalar(select(func.count()).select_from(Prompt).where(Prompt.visitor_key == ME)) == 1
    engine.dispose()


def test_a_visitor_key_must_look_like_one():
    assert normalise_visitor_key(f"  {ME.upper()} ") == ME
    for bad in ("", "abc", ME + "0", "g" * 32, "1.2.3.4"):
        with pytest.raises(BadVisitorKey):
            normalise_visitor_key(bad)


# The page


@pytest.fixture
def app(database_url):
    app = create_app(make_settings(database_url, require_terms=True))
    yield app
    app.extensions["arena.engine"].dispose()


def vote_as_new_visitor(client, n: int) -> str:
    """Accept the terms and vote n times; returns the visitor's key as shown on /privacy."""
    for i in range(n):
        html = client.get("/").get_data(as_text=True)
        action, csrf = parse_battle_page(html)
        if i == 0:
            token = re.search(r'name="battle" value="([^"]+)"', html).group(1)
            client.post("/terms/accept", data={"csrf_token": csrf, "battle": token})
        assert client.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 303
    return shown_key(client)


def shown_key(client) -> str | None:
    found = re.search(r'class="visitor-key">([0-9a-f]{32})<', client.get("/privacy").get_data(as_text=True))
    return found.group(1) if found else None


def test_the_privacy_page_says_what_is_stored_and_shows_no_key_to_a_new_browser(client, session_factory):
    html = client.get("/privacy").get_data(as_text=True)
    for needle in ("keyed hash", "No IP address is stored", "dwell time", "write your own", "next recompute",
                   "crisis", "judge_hash"):  # fmt: skip
        assert needle in html, needle
    assert "nothing of yours is stored" in html and 'action="/privacy/delete"' not in html
    with client.session_transaction() as session:
        assert "visitor" not in session  # reading the page gave this browser no visitor id


def test_a_visitor_deletes_their_votes_from_the_page(app, client, demo_loaded, session_factory):
    other = app.test_client()
    other_key = vote_as_new_visitor(other, 2)
    key = vote_as_new_visitor(client, 3)
    assert key and key != other_key
    page = client.get("/privacy").get_data(as_text=True)
    csrf = CSRF_INPUT.search(page).group(1)

    refused = client.post("/privacy/delete", data={"csrf_token": csrf})
    assert refused.status_code == 400 and "tick the box" in refused.get_data(as_text=True)
    assert count(session_factory, select(Battle.id).where(Battle.judge_key == key)) == 3

    done = client.post("/privacy/delete", data={"csrf_token": csrf, "confirm": "yes"})
    assert done.status_code == 303 and done.headers["Location"] == "/privacy"
    result = client.get("/privacy").get_data(as_text=True)
    assert "3 vote(s) and 3 battle(s)" in result and "1 record(s) of accepting the terms" in result
    assert "Deleted." not in client.get("/privacy").get_data(as_text=True)  # shown once

    assert count(session_factory, select(Battle.id).where(Battle.judge_key == key)) == 0
    assert count(session_factory, select(TermsAcceptance.id).where(TermsAcceptance.visitor_key == key)) == 0
    assert count(session_factory, select(Vote.id)) == 2  # the other visitor's
    assert count(session_factory, select(Battle.id).where(Battle.judge_key == other_key)) == 2
    # A fresh key, so nothing new links back; the terms are asked again.
    assert shown_key(client) not in (None, key)
    assert "I accept the terms" in client.get("/").get_data(as_text=True)


def test_deleting_needs_the_csrf_token(client, demo_loaded, session_factory):
    vote_as_new_visitor(client, 1)
    response = client.post("/privacy/delete", data={"confirm": "yes"})
    assert response.status_code == 400
    assert count(session_factory, select(Vote.id)) == 1


# The operator's command


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_operator_deletes_on_request_by_visitor_key(world, database_url, session_factory):
    dry = run("privacy", "delete", "--visitor-key", ME, "--dry-run", "--json", "--database-url", database_url)
    assert dry.exit_code == 0
    assert json.loads(dry.stdout) == {
        "visitor_key": ME, "dry_run": True, "votes": 4, "battles": 5, "prompts": 1, "replies": 2,
        "terms_acceptances": 1, "others_votes_detached": 1,
    }  # fmt: skip
    assert count(session_factory, select(Vote.id)) == world.my_votes + world.other_votes

    done = run("privacy", "delete", "--visitor-key", ME.upper(), "--database-url", database_url)
    assert done.exit_code == 0 and "deleted 4 votes, 5 battles, 1 messages" in done.stdout
    assert count(session_factory, select(Vote.id)) == world.other_votes
    assert count(session_factory, select(Battle.id).where(Battle.judge_key == ME)) == 0


def test_the_command_refuses_a_malformed_key_with_one_line(world, database_url, session_factory):
    result = run("privacy", "delete", "--visitor-key", "203.0.113.7", "--database-url", database_url)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "not a visitor key" in result.stderr
    assert count(session_factory, select(Vote.id)) == world.my_votes + world.other_votes


def test_the_privacy_page_gives_the_contact_address_or_says_there_is_none(database_url, demo_loaded):
    for email, expected in ((None, "has not published a contact address"),
                            ("privacy@example.org", 'href="mailto:privacy@example.org"')):  # fmt: skip
        app = create_app(make_settings(database_url, contact_email=email))
        client = app.test_client()
        client.get("/")  # a visitor with a key: the page then shows it, and how to use it
        assert expected in client.get("/privacy").get_data(as_text=True)
        app.extensions["arena.engine"].dispose()


def test_a_contact_address_that_is_not_one_address_is_refused(monkeypatch):
    from arena.config import ConfigError, Settings

    monkeypatch.setenv("ARENA_CONTACT_EMAIL", 'x@y.org" onclick="alert(1)')
    with pytest.raises(ConfigError, match="ARENA_CONTACT_EMAIL"):
        Settings.from_env(secret_key="s").validated()
    monkeypatch.setenv("ARENA_CONTACT_EMAIL", " privacy@example.org ")
    assert Settings.from_env(secret_key="s").validated().contact_email == "privacy@example.org"
