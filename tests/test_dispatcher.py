"""arena/dispatcher.py in front of two real gunicorns (tests/echo_wsgi.py) on Unix sockets, as `arena serve
--production` runs it: /live and everything under it reach the stream service, the rest the page workers; the
service sees the visitor's address (PROXY protocol), not the dispatcher's; every request gets its own
connection; bodies pass whole; a dead service or an oversized head is answered, never hung."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import requests

from arena.config import PROJECT_ROOT
from arena.dispatcher import Dispatcher, service_for
from tests.gunicorn_server import free_port


def test_service_for_sends_only_the_live_paths_to_the_stream_service():
    for path in ("/live", "/live?x=1", "/live/abc/stream", "/live/abc/messages", "http://host/live/t/stream"):
        assert service_for(path) == "streams", path
    for path in ("/", "/liveboard", "/leaderboard", "/battles/x/vote", "/static/live.js", "/api/live"):
        assert service_for(path) == "web", path


def _gunicorn(name: str, path: str) -> subprocess.Popen:
    env = {**os.environ, "ECHO_SERVICE": name, "PYTHONPATH": str(PROJECT_ROOT)}
    command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--proxy-protocol", "v1",
               "--no-control-socket", "-b", f"unix:{path}", "tests.echo_wsgi:app"]  # fmt: skip
    quiet = subprocess.DEVNULL
    return subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=quiet, stderr=quiet)


@pytest.fixture(scope="module")
def dispatched(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dispatch")
    sockets = {"web": str(folder / "web.sock"), "streams": str(folder / "streams.sock"),
               "gone": str(folder / "gone.sock")}  # fmt: skip
    services = [_gunicorn(name, sockets[name]) for name in ("web", "streams")]
    try:
        deadline = time.monotonic() + 30
        while not all(os.path.exists(sockets[name]) for name in ("web", "streams")):
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.05)
        port = free_port()
        loop = asyncio.new_event_loop()
        started = asyncio.Event()
        serving = loop.create_task(Dispatcher(sockets).serve("127.0.0.1", port, started))

        def run() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(serving)
            loop.close()

        front = threading.Thread(target=run, daemon=True)
        front.start()
        deadline = time.monotonic() + 10
        while not started.is_set():
            assert time.monotonic() < deadline, "the dispatcher did not listen"
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}", sockets
        loop.call_soon_threadsafe(serving.cancel)
        front.join(timeout=10)
    finally:
        for service in services:
            service.terminate()
            service.wait(timeout=30)


def test_each_path_reaches_its_service_with_the_visitors_address(dispatched):
    base, _ = dispatched
    with requests.Session() as http:
        home = http.get(f"{base}/?q=1", headers={"X-Forwarded-For": "203.0.113.9"}, timeout=10)
        stream = http.post(f"{base}/live/token/messages", data={"message": "hello"}, timeout=10)
    assert home.json() == {"service": "web", "path": "/", "query": "q=1", "remote_addr": "127.0.0.1",
                           "connection": "close", "forwarded_for": "203.0.113.9", "body": ""}  # fmt: skip
    assert stream.json()["service"] == "streams" and stream.json()["body"] == "message=hello"
    assert stream.json()["remote_addr"] == "127.0.0.1"
    # One request per connection: the browser's next request may go to the other service.
    assert home.headers["Connection"] == "close"


def test_a_keep_alive_request_is_answered_and_closed(dispatched):
    base, _ = dispatched
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /live HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'"service": "streams"' in answer
    assert b'"connection": "close"' in answer


def test_a_dead_service_is_a_502_and_a_huge_head_a_431(dispatched, monkeypatch):
    base, sockets = dispatched
    monkeypatch.setitem(sockets, "streams", sockets["gone"])
    assert requests.get(f"{base}/live", timeout=10).status_code == 502
    assert requests.get(f"{base}/", headers={"X-Big": "x" * 70_000}, timeout=10).status_code == 431
    assert requests.get(f"{base}/", timeout=10).json()["service"] == "web"
