"""Logs never hold a visitor's message, a reply, or a raw client address: the app's own logs (all loggers at
DEBUG), the development server's request log, and gunicorn's access and error logs."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from werkzeug.serving import make_server

from arena import create_app, gunicorn_conf
from arena.db import make_engine, make_session_factory
from arena.dev_server import PrivateRequestHandler
from arena.log_privacy import mask_addresses
from arena.models import Battle, Prompt
from tests.arena_cli import run_arena
from tests.conftest import CSRF_INPUT, SECRET, make_settings, parse_battle_page
from tests.gunicorn_server import free_port

CLIENT_ADDRESS = "203.0.113.77"
MARKER = "note-xyzzy"
HX = {"HX-Request": "true"}
ROOT = Path(__file__).resolve().parents[2]


def debug_everything(caplog) -> None:
    """DEBUG on the root logger and on every logger that set its own level (SQLAlchemy sets WARN on its own)."""
    caplog.set_level(logging.DEBUG)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            caplog.set_level(logging.DEBUG, logger=name)


def shown_texts(session_factory) -> set[str]:
    """Every message and reply text shown in a battle so far."""
    with session_factory() as s:
        battles = s.scalars(select(Battle)).all()
        return {t for b in battles for t in (b.prompt.text, b.reply_a.text, b.reply_b.text)}


def test_a_whole_session_logs_no_message_reply_or_client_address(caplog, database_url, demo_loaded, session_factory):
    debug_everything(caplog)  # before any connection exists: SQLAlchemy decides what to log per connection
    app = create_app(
        make_settings(database_url, require_terms=True, rate_limit_enabled=True, rate_limit_vote="4 per minute")
    )
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = CLIENT_ADDRESS
    try:
        html = client.get("/").get_data(as_text=True)
        action, csrf = parse_battle_page(html)
        client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers=HX)  # refused: terms first
        token = re.search(r'name="battle" value="([^"]+)"', html).group(1)
        client.post("/terms/accept", data={"csrf_token": csrf, "battle": token}, headers=HX)
        client.post(action, data={"outcome": "sideways", "csrf_token": csrf})  # 400
        assert client.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 303
        client.get(action.removesuffix("/vote"))
        action, csrf = parse_battle_page(client.get("/", headers=HX).get_data(as_text=True))
        assert client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX).status_code == 200
        assert client.post(action, data={"outcome": "tie", "csrf_token": csrf}).status_code == 429  # limited
        client.get("/battles/not-a-battle")
        texts = shown_texts(session_factory)
        csrf = CSRF_INPUT.search(client.get("/privacy").get_data(as_text=True)).group(1)
        assert client.post("/privacy/delete", data={"csrf_token": csrf, "confirm": "yes"}).status_code == 303
    finally:
        app.extensions["arena.engine"].dispose()

    logged = caplog.text
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records)  # the capture saw the engine
    assert any("ratelimit" in r.getMessage() for r in caplog.records)  # and the limiter
    assert "203.0.113" not in logged  # neither the address nor its network
    assert texts and all(text not in logged for text in texts)
    for text in texts:  # not even a fragment of a line
        assert all(line.strip() not in logged for line in text.splitlines() if len(line.strip()) > 20)


def test_a_database_error_does_not_carry_the_message_it_was_storing(database_url):
    engine = make_engine(database_url)
    secret = "I have never told anyone about the accident."
    try:
        with make_session_factory(engine)() as s:
            s.add(Prompt(text="first", source="user", content_hash="same"))
            s.commit()
            s.add(Prompt(text=secret, source="user", content_hash="same"))
            with pytest.raises(IntegrityError) as raised:
                s.commit()
    finally:
        engine.dispose()
    assert secret not in str(raised.value)


def test_addresses_are_masked_and_nothing_else():
    assert (
        mask_addresses("Invalid request from ip=198.51.100.7: bad line")
        == "Invalid request from ip=[address]: bad line"
    )
    assert mask_addresses("from 2001:db8::1 and ::1: done") == "from [address] and [address]: done"
    assert mask_addresses("at 20:41:33, version 1.2.3, 10.0.0.300") == "at 20:41:33, version 1.2.3, 10.0.0.300"
    access = '[07/Dec/2026:22:27:01 +0000] "GET / HTTP/1.1" 200 3528 12ms'
    assert mask_addresses(access) == access
    assert mask_addresses("2001:db8:0:0:1:2:3:4 and fe80::1:2:3") == "[address] and [address]"


def test_the_development_server_logs_requests_without_address_or_query(caplog, app):
    @app.get("/_test/address")
    def address():
        from flask import request

        return request.remote_addr or ""

    debug_everything(caplog)
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=PrivateRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert requests.get(f"{base}/privacy?{MARKER}=1", timeout=10).status_code == 200
        # The app still sees the address (network rate limits truncate and hash it); only the log does not.
        assert requests.get(f"{base}/_test/address", timeout=10).text == "127.0.0.1"
    finally:
        server.shutdown()
        thread.join(timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any('"GET /privacy HTTP/1.1" 200' in line for line in lines), lines
    assert not any("127.0.0.1" in line or MARKER in line for line in lines), lines


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 60) -> requests.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            return requests.get(url, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.terminate()
    pytest.fail(f"the server did not answer: {proc.communicate(timeout=30)[0]}")


def serve_and_collect(command: list[str], env: dict, port: int, extra=None) -> tuple[requests.Response, str]:
    proc = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT
    )
    try:
        page = wait_for(f"http://127.0.0.1:{port}/privacy?{MARKER}=1", proc)
        if extra:
            extra(port)
        time.sleep(0.5)  # let the server write its log lines
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    return page, output


@pytest.fixture
def migrated_sqlite(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    assert run_arena("init-db", "--database-url", url).returncode == 0
    return url


def test_arena_serve_logs_requests_without_address_or_query(migrated_sqlite, tmp_path):
    port = free_port()
    env = {"ARENA_DATABASE_URL": migrated_sqlite, "ARENA_SECRET_KEY": SECRET, "ARENA_INSTANCE_PATH": str(tmp_path)}
    page, output = serve_and_collect([sys.executable, "-m", "arena.cli", "serve", "--port", str(port)], env, port)
    assert page.status_code == 200
    access = [line for line in output.splitlines() if "GET /privacy" in line]
    assert access and all("127.0.0.1" not in line for line in access), output
    assert MARKER not in output


def test_the_gunicorn_access_log_format_has_no_address_or_query():
    fmt = gunicorn_conf.access_log_format
    for atom in ("%(h)s", "%(q)s", "%(r)s", "%(a)s", "%(f)s", "{x-forwarded-for}i", "{x-real-ip}i"):
        assert atom not in fmt
    assert "%(U)s" in fmt and "%(s)s" in fmt


def send_a_malformed_request(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(b"NONSENSE\r\n\r\n")
        raw.recv(1024)


def test_gunicorn_with_the_shipped_config_logs_no_client_address(migrated_sqlite, tmp_path):
    pytest.importorskip("gunicorn")
    port = free_port()
    env = {"ARENA_DATABASE_URL": migrated_sqlite, "ARENA_SECRET_KEY": SECRET, "ARENA_INSTANCE_PATH": str(tmp_path)}
    command = [sys.executable, "-m", "gunicorn", "-c", "python:arena.gunicorn_conf", "-b", f"127.0.0.1:{port}",
               "-w", "1", "arena:create_app()"]  # fmt: skip
    page, output = serve_and_collect(command, env, port, extra=send_a_malformed_request)
    assert page.status_code == 200
    assert '"GET /privacy HTTP/1.1" 200' in output, output
    assert "Invalid request from ip=[address]" in output, output  # gunicorn's own message, address masked
    assert "127.0.0.1" not in output and MARKER not in output, output
