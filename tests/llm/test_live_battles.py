"""Live battles over HTTP against the local OpenAI-compatible server: the visitor's message, one anonymous SSE
stream of two replies, the vote; provider failures, the crisis screen, moderation, limits, lazy litellm."""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import func, select

from arena import create_app
from arena.db import transaction
from arena.jobs.export import PRIVATE_FLAGS
from arena.models import Battle, Model, Prompt, Reply, Vote
from tests.conftest import CSRF_INPUT, SECRET, make_settings, parse_battle_page
from tests.html_checks import active_content

HX = {"HX-Request": "true"}
KEY_ENV = "ARENA_TEST_LIVE_KEY"
STREAM_URL = re.compile(r'sse-connect="(/live/[^"]+/stream)"')
MESSAGE = "My best friend moved across the country last week and the flat feels so quiet."


def add_live_models(session_factory, llm_server, *names: str) -> list[str]:
    """Models called through litellm at the test server; returns every string that names them."""
    with transaction(session_factory) as s:
        for i, name in enumerate(names):
            s.add(Model(slug=f"live-{name}", display_name=f"Contestant {name.title()} {i}", provider="testlab",
                        litellm_model=f"openai/{name}",
                        meta={"api_base": llm_server.url, "api_key_env": KEY_ENV}))  # fmt: skip
    return [n for name in names for n in (name, f"live-{name}", f"openai/{name}")] + ["Contestant", "testlab"]


@pytest.fixture(autouse=True)
def _provider_key(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "test-key")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def csrf_of(client) -> str:
    return CSRF_INPUT.search(client.get("/live").get_data(as_text=True)).group(1)


def start(client, message: str = MESSAGE, headers=None):
    return client.post("/live", data={"message": message, "csrf_token": csrf_of(client)}, headers=headers or {})


def parse_events(raw: str) -> list[tuple[str, str, list[str]]]:
    """(event name, data, other field names) for each SSE event."""
    events = []
    for block in raw.strip("\n").split("\n\n"):
        name, data, fields = "message", [], []
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
            else:
                fields.append(field)
        events.append((name, "\n".join(data), fields))
    return events


def stream_of(client, page_html: str) -> tuple[str, list[tuple[str, str, list[str]]]]:
    url = STREAM_URL.search(page_html).group(1)
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    raw = response.get_data(as_text=True)
    return raw, parse_events(raw)


def test_the_form_limits_length_and_carries_csrf(client, app):
    page = client.get("/live").get_data(as_text=True)
    assert re.search(r'<textarea[^>]*name="message"[^>]*maxlength="2000"', page, re.S)
    assert CSRF_INPUT.search(page)
    assert client.post("/live", data={"message": MESSAGE}).status_code == 400  # no CSRF token


def test_two_anonymous_replies_stream_then_the_vote_reveals_them(client, session_factory, llm_server):
    names = add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    llm_server.replies["kind-one"] = "That quiet can feel <b>so loud</b>.\nWhat do you miss most?"
    page = start(client, headers=HX)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    raw, events = stream_of(client, body)
    for name in names:
        assert name not in body and name not in raw, f"{name!r} reached the client before the vote"
    assert {name for name, _, _ in events} == {"a", "b", "done", "close"}
    assert all(fields == [] for _, _, fields in events)  # no ids, no retry hints: only event and data
    assert [name for name, _, _ in events][-2:] == ["done", "close"]
    assert "<b>" not in raw  # model text is escaped in the stream
    with session_factory() as s:
        battle = s.scalars(select(Battle)).one()
        assert (battle.source, battle.status, battle.meta["live"]) == ("live", "open", "complete")
        # Dwell time counts from the moment both replies were there, not from the request.
        assert battle.created_at >= max(battle.reply_a.created_at, battle.reply_b.created_at)
        assert battle.meta["requested_at"] < battle.created_at.isoformat()
        for side, reply in (("a", battle.reply_a), ("b", battle.reply_b)):
            streamed = "".join(html.unescape(data) for name, data, _ in events if name == side)
            assert streamed.strip() == reply.text and reply.latency_ms is not None
        prompt = battle.prompt
        assert (prompt.text, prompt.source, prompt.active) == (MESSAGE, "user", False)
        assert prompt.visitor_key == battle.judge_key and len(prompt.visitor_key) == 32
        sent = [r.messages for r in llm_server.requests]
        assert sent == [[{"role": "user", "content": MESSAGE}]] * 2 and all(r.stream for r in llm_server.requests)
        model_a = battle.model_a.display_name
    done = next(data for name, data, _ in events if name == "done")
    action, csrf = parse_battle_page(done)
    reveal = client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX)
    assert reveal.status_code == 200 and model_a in reveal.get_data(as_text=True)
    with session_factory() as s:
        assert s.scalars(select(Vote.counts_for_leaderboard)).one() is True
    # A visitor's message is never drawn for an ordinary battle.
    assert "No battles yet" in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize("failing", ["fail-500", "fail-429", "malformed-stream", "cut-stream", "hang"])
def test_a_provider_failure_is_told_and_takes_no_vote(database_url, session_factory, llm_server, failing):
    add_live_models(session_factory, llm_server, "kind-one", failing)
    app = create_app(make_settings(database_url, live_timeout_seconds=2))
    client = app.test_client()
    raw, events = stream_of(client, start(client).get_data(as_text=True))
    names = [name for name, _, _ in events]
    assert "done" not in names and names[-2:] == ["failed", "close"]
    failed = events[-2][1]
    assert "Nothing was recorded and there is nothing to vote" in failed and 'role="alert"' in failed
    assert failing not in raw and "form" not in failed
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 0
        battle = s.scalars(select(Battle)).one()
        assert (battle.status, battle.meta["live"], battle.reply_a_id) == ("expired", "failed", None)
        public_id = battle.public_id
    token = app.extensions["arena.battle_ids"].sign(public_id)
    refused = client.post(f"/battles/{token}/vote", data={"outcome": "tie", "csrf_token": csrf_of(client)})
    assert refused.status_code == 410
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 0
    app.extensions["arena.engine"].dispose()


def test_a_missing_api_key_fails_cleanly(client, session_factory, llm_server, monkeypatch):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    monkeypatch.delenv(KEY_ENV)
    _, events = stream_of(client, start(client).get_data(as_text=True))
    assert "not fully set up" in events[-2][1]
    assert llm_server.requests == []


def test_the_stream_runs_once_and_a_streaming_battle_takes_no_vote(client, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    page = start(client).get_data(as_text=True)
    with session_factory() as s:
        public_id = s.scalars(select(Battle.public_id)).one()
    token = client.application.extensions["arena.battle_ids"].sign(public_id)
    early = client.post(f"/battles/{token}/vote", data={"outcome": "tie", "csrf_token": csrf_of(client)})
    assert early.status_code == 409 and "not complete" in early.get_data(as_text=True)
    stream_of(client, page)
    _, again = stream_of(client, page)
    assert [name for name, _, _ in again] == ["failed", "close"] and "already requested" in again[0][1]
    assert len(llm_server.requests) == 2
    assert client.get("/live/forged-token/stream").status_code == 404


def test_only_the_writer_can_open_a_live_battles_stream(client, app, session_factory, llm_server):
    """Anyone else holding the token (a shared link) is refused before anything runs: they cannot start the
    stream, read the replies, or take it over and end the writer's."""
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    page = start(client).get_data(as_text=True)
    url = STREAM_URL.search(page).group(1)
    stranger, cookieless = app.test_client(), app.test_client()
    stranger.get("/")  # a visitor of their own
    for other in (stranger, cookieless):
        refused = other.get(url)
        assert refused.status_code == 403 and "write your own" in refused.get_data(as_text=True)
    assert llm_server.requests == []
    _, events = stream_of(client, page)
    assert "done" in [name for name, _, _ in events]  # the writer's stream, untouched
    assert len(llm_server.requests) == 2


def test_a_leaking_live_reply_is_flagged_at_the_vote(client, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    llm_server.replies["kind-two"] = "As an AI language model developed by OpenAI, I still think that's hard."
    _, events = stream_of(client, start(client).get_data(as_text=True))
    action, csrf = parse_battle_page(next(data for name, data, _ in events if name == "done"))
    reveal = client.post(action, data={"outcome": "model_b", "csrf_token": csrf}, headers=HX)
    assert "gave away which model wrote it" in reveal.get_data(as_text=True)
    with session_factory() as s:
        assert s.execute(select(Vote.counts_for_leaderboard, Vote.exclusion_reason)).one() == (False, "identity_leak")


def test_a_crisis_message_gets_resources_not_a_battle(client, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    text = "I don't think I can keep going. I keep thinking about killing myself."
    page = start(client, text, headers=HX).get_data(as_text=True)
    assert "988" in page and "116 123" in page and "not sent to any model" in page
    assert "sse-connect" not in page
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Battle)) == 0
        prompt = s.scalars(select(Prompt)).one()
        assert (prompt.text, prompt.active, prompt.source) == (text, False, "user")
        assert "crisis:suicide" in prompt.moderation_flags and PRIVATE_FLAGS & set(prompt.moderation_flags)
    assert llm_server.requests == []


def test_the_moderation_model_adds_a_second_screen(database_url, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    settings = make_settings(database_url, moderation_model="openai/omni-moderation-latest",
                             moderation_api_base=llm_server.url, moderation_api_key_env=KEY_ENV)  # fmt: skip
    app = create_app(settings)
    client = app.test_client()
    flagged = start(client, "Nothing in my words trips a keyword, yet FLAG-CRISIS.").get_data(as_text=True)
    assert "You can talk to someone now" in flagged
    fine = start(client).get_data(as_text=True)
    assert "sse-connect" in fine
    with session_factory() as s:
        flags = dict(s.execute(select(Prompt.text, Prompt.moderation_flags)).all())
    assert flags[MESSAGE] == []
    assert {"crisis", "moderation", "moderation:self-harm"} <= set(
        flags["Nothing in my words trips a keyword, yet FLAG-CRISIS."]
    )
    app.extensions["arena.engine"].dispose()


def test_bad_input_is_refused_with_a_reason_and_stores_nothing(client, session_factory, llm_server):
    assert start(client, "   ").status_code == 400
    long = start(client, "x" * 2001)
    assert long.status_code == 400 and "the limit is 2000" in long.get_data(as_text=True)
    add_live_models(session_factory, llm_server, "only-one")
    unavailable = start(client, "My dog died and I keep setting out two bowls.")
    body = unavailable.get_data(as_text=True)
    assert unavailable.status_code == 503 and "not available" in body
    assert "My dog died and I keep setting out two bowls.</textarea>" in body  # the visitor's text is kept
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 0


def test_live_battles_are_rate_limited_per_visitor(database_url, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    app = create_app(make_settings(database_url, secret_key=f"live-{uuid.uuid4()}", rate_limit_enabled=True,
                                   rate_limit_live="2 per minute", rate_limit_network="1000 per minute"))  # fmt: skip
    client = app.test_client()
    statuses = [start(client).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert app.test_client().get("/live").status_code == 200  # reading the form is not limited
    app.extensions["arena.engine"].dispose()


def test_neither_litellm_nor_the_rating_engine_is_imported_by_the_web_app(database_url, tmp_path):
    script = f"""
import sys
from arena import create_app
from arena.config import Settings
# Not tests.conftest: its helpers import numpy, which is what this script must not see.
app = create_app(Settings(database_url={database_url!r}, secret_key="s", testing=True, rate_limit_enabled=False))
assert "litellm" not in sys.modules, "create_app imported litellm"
client = app.test_client()
assert client.get("/").status_code == 200
assert client.get("/live").status_code == 200
assert "litellm" not in sys.modules, "serving pages imported litellm"
for page in ("/leaderboard", "/analysis", "/api/leaderboard", "/privacy", "/me/ranking"):
    assert client.get(page).status_code in (200, 404), page
heavy = [m for m in ("litellm", "numpy", "scipy", "choix", "pyarrow") if m in sys.modules]
assert not heavy, f"serving pages imported {{heavy}}: workers would start seconds slower"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def vote_while_a_slow_stream_is_open(base: str, session_factory, llm_server) -> None:
    """Open a slow live stream at `base`, then show and vote on an ordinary battle before it ends."""
    # 120 words at 50 ms each: about six seconds (all different: litellm refuses a stream repeating one chunk).
    llm_server.replies["slow"] = " ".join(f"word{i}" for i in range(120))
    visitor = requests.Session()
    csrf = CSRF_INPUT.search(visitor.get(base + "/live").text).group(1)
    page = visitor.post(base + "/live", data={"message": MESSAGE, "csrf_token": csrf}).text
    stream = visitor.get(base + STREAM_URL.search(page).group(1), stream=True, timeout=30)
    lines = stream.iter_lines()
    first = next(lines)  # the stream is open and producing
    assert first.startswith(b"event: ")
    finished = threading.Event()
    rest: list[bytes] = []
    threading.Thread(target=lambda: (rest.extend(lines), finished.set()), daemon=True).start()
    other = requests.Session()
    action, csrf = parse_battle_page(other.get(base + "/", timeout=5).text)
    # A server started from the environment asks for the terms first (test apps switch that off).
    assert other.post(base + "/terms/accept", data={"csrf_token": csrf}, timeout=5).ok
    assert other.post(base + action, data={"outcome": "tie", "csrf_token": csrf}, timeout=5).ok
    assert not finished.is_set(), f"the slow stream ended before the vote, so this proves nothing: {rest[-4:]}"
    assert finished.wait(30)
    events = [line for line in rest if line.startswith(b"event: ")]
    assert events[-2:] == [b"event: done", b"event: close"], events[-3:]
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 1
        assert s.scalar(select(Battle.meta).where(Battle.source == "live"))["live"] == "complete"


def test_pages_and_votes_are_served_while_a_slow_stream_is_open(live_server, demo_loaded, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "slow", "kind-two")
    vote_while_a_slow_stream_is_open(live_server, session_factory, llm_server)


def test_gunicorn_gthread_serves_votes_while_a_stream_is_open(database_url, demo_loaded, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "slow", "kind-two")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ARENA_DATABASE_URL": database_url, "ARENA_SECRET_KEY": SECRET, "ARENA_MIN_DWELL_MS": "0",
           "ARENA_RATE_LIMIT_ENABLED": "false", "PYTHONPATH": os.getcwd()}  # fmt: skip
    # One worker: with a sync worker the open stream would hold it and the vote would wait for the stream.
    command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", "4",
               "-b", f"127.0.0.1:{port}", "arena:create_app()"]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # the worker imports the app after the port opens
            try:
                requests.get(base + "/live", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        vote_while_a_slow_stream_is_open(base, session_factory, llm_server)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_models_registered_from_the_command_line_answer_live(client, database_url, session_factory, llm_server):
    from tests.arena_cli import run_arena

    for slug in ("warm-one", "warm-two"):
        options = ["--api-base", llm_server.url, "--api-key-env", KEY_ENV, "--display", slug.title()]
        result = run_arena(
            "models", "add", slug, "--litellm", f"openai/{slug}", *options, "--database-url", database_url
        )
        assert result.returncode == 0 and f"{slug}: added" in result.stdout, result.stderr
    pasted_key = run_arena("models", "add", "warm-one", "--litellm", "openai/x", "--api-key-env", "sk-live-123abc",
                           "--database-url", database_url)  # fmt: skip
    assert pasted_key.returncode == 2 and "environment variable NAME" in pasted_key.stderr
    with session_factory() as s:
        meta = s.scalar(select(Model.meta).where(Model.slug == "warm-one"))
        assert meta == {"api_base": llm_server.url, "api_key_env": KEY_ENV}
    _, events = stream_of(client, start(client).get_data(as_text=True))
    assert [name for name, _, _ in events][-2:] == ["done", "close"]
    assert sorted(r.model for r in llm_server.requests) == ["warm-one", "warm-two"]


def test_hostile_model_text_stays_inert_in_the_stream(client, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    hostile = 'Hello <script>alert(1)</script> <img src=x onerror="alert(2)"> [x](javascript:alert(3))'
    llm_server.replies["kind-one"] = llm_server.replies["kind-two"] = hostile
    raw, events = stream_of(client, start(client).get_data(as_text=True))
    assert "<script" not in raw and "<img" not in raw
    for name, data, _ in events:
        assert active_content(data) == [], name
    assert any("&lt;script&gt;" in data for name, data, _ in events if name == "a")


def test_a_nul_character_is_a_400_and_stores_nothing(client, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    refused = start(client, "Half a message\x00 and the rest")
    assert refused.status_code == 400 and "NUL" in refused.get_data(as_text=True)
    assert client.get("/leaderboard?category=a%00b").status_code == 400
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 0
    assert llm_server.requests == []


def test_the_page_of_a_live_battle_still_streaming_is_not_a_500(client, session_factory, llm_server):
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    page = start(client).get_data(as_text=True)
    with session_factory() as s:
        public_id = s.scalars(select(Battle.public_id)).one()
    token = client.application.extensions["arena.battle_ids"].sign(public_id)
    early = client.get(f"/battles/{token}")
    assert early.status_code == 409 and "not complete yet" in early.get_data(as_text=True)
    stream_of(client, page)
    assert client.get(f"/battles/{token}").status_code == 200


def test_the_form_says_live_battles_are_unavailable_before_anyone_types(client, session_factory, llm_server):
    page = client.get("/live").get_data(as_text=True)
    assert "Live battles are not available here yet" in page
    assert re.search(r'<fieldset class="plain" disabled', page)
    add_live_models(session_factory, llm_server, "kind-one", "kind-two")
    page = client.get("/live").get_data(as_text=True)
    assert "not available" not in page and '<fieldset class="plain">' in page


def test_the_crisis_panel_numbers_are_tap_to_call_and_say_the_message_is_kept(client, llm_server):
    page = start(client, "I keep thinking about killing myself.").get_data(as_text=True)
    for number in ("tel:988", "sms:988", "tel:116123", "tel:112", "tel:911", "tel:999"):
        assert f'href="{number}"' in page
    assert "kept, flagged, and never shown to a model" in page
