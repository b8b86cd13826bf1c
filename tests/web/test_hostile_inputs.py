"""A corpus of hostile inputs against the site: every one rendered inert or refused with a clear 4xx, never a
500, and nothing stored changes unless the request was a legitimate one."""

from __future__ import annotations

import io
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import pytest
from markupsafe import escape
from sqlalchemy import func, select

from arena import create_app
from arena.cli.imports import import_file
from arena.ingest.prompt_import import import_prompts
from arena.ingest.reply_import import import_replies
from arena.ingest.vote_import import import_votes
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Model, Prompt, Vote
from tests.conftest import SECRET, make_settings, parse_battle_page
from tests.db_fingerprint import fingerprint
from tests.html_checks import active_content
from tests.votes_files import write_jsonl

HX = {"HX-Request": "true"}
ADMIN_TOKEN = "admin-token-for-hostile-tests-0123"

# Markup that would run script if it reached the page as HTML: tags, event handlers, script and data URLs,
# obfuscated schemes, mutation-XSS shapes, and breaking out of attributes and blocks.
SCRIPT_PAYLOADS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg/onload=alert(1)>",
    '<a href="javascript:alert(1)" onclick="alert(2)">link</a>',
    "[click me](javascript:alert(1))",
    "[case](JaVaScRiPt:alert(1))",
    "[entity](&#106;avascript:alert(1))",
    "[tab](java\tscript:alert(1))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![image](javascript:alert(1))",
    "[vb](vbscript:msgbox(1))",
    '"><script>alert(1)</script>',
    "</blockquote><script>alert(1)</script>",
    "<iframe src=https://evil.example/></iframe>",
    "<object data=javascript:alert(1)></object>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<<script>script>alert(1)<</script>/script>",
    '<https://example.org/" onmouseover="alert(1)>',
    "```\n</code></pre><script>alert(1)</script>\n```",
    "<details open ontoggle=alert(1)>",
    '<form action="javascript:alert(1)"><button formaction=javascript:alert(2)>go</button></form>',
]
SQL_PAYLOADS = [
    "' OR '1'='1",
    "1; DROP TABLE vote; --",
    '" OR 1=1 --',
    "'); DELETE FROM battle; --",
    "overall' UNION SELECT slug FROM model --",
    "%' AND 1=0 --",
    "\\'; --",
    "1/**/OR/**/1=1",
]


# --- script payloads in prompts, replies, model names and exclusion reasons, through the real importers ---


@pytest.fixture
def hostile_arena(database_url, session_factory, tmp_path):
    """One prompt per payload (prompt and replies carry it), answered by two models with hostile names, plus
    imported votes whose exclusion reason is a payload; imported through the functions the CLI runs."""
    models = ["<script>alert('model')</script>", '<img src=x onerror="alert(3)">']
    prompts = [
        {"text": f"Message {k}: {p}", "situation": p[:100], "need": p[:100]} for k, p in enumerate(SCRIPT_PAYLOADS)
    ]
    replies = [
        {"prompt": prompt["text"], "model": model, "reply": f"Reply of {side} to {k}:\n\n{p}\n\n**bold** ok"}
        for k, (prompt, p) in enumerate(zip(prompts, SCRIPT_PAYLOADS, strict=True))
        for side, model in zip("ab", models, strict=True)
    ]
    import_file(database_url, write_jsonl(tmp_path / "prompts.jsonl", prompts), None, import_prompts)
    import_file(database_url, write_jsonl(tmp_path / "replies.jsonl", replies), None, import_replies)
    votes = [
        {"model_a": models[0], "model_b": models[1], "winner": w, "question_id": f"hq{k}",
         "counts_for_leaderboard": False, "exclusion_reason": SCRIPT_PAYLOADS[k][:64]}
        for k, w in enumerate(["model_a", "model_b", "tie"] * 4)
    ]  # fmt: skip
    import_file(database_url, write_jsonl(tmp_path / "votes.jsonl", votes), None, import_votes)
    return len(SCRIPT_PAYLOADS)


@pytest.fixture
def admin_app(database_url):
    app = create_app(make_settings(database_url, admin_token=ADMIN_TOKEN))
    yield app
    app.extensions["arena.engine"].dispose()


def _inert(html: str, where: str) -> None:
    assert active_content(html) == [], f"{where}: {active_content(html)}"


def test_script_payloads_are_inert_on_battle_reveal_leaderboard_and_admin(
    admin_app, hostile_arena, session_factory, database_url
):
    client = admin_app.test_client()
    seen: set[int] = set()
    for attempt in range(400):  # battles are drawn at random; stop once every message has been on screen
        if len(seen) == hostile_arena:
            break
        htmx = attempt % 2 == 1
        page = client.get("/", headers=HX if htmx else {})
        html = page.get_data(as_text=True)
        assert page.status_code == 200
        shown = int(re.search(r"Message (\d+):", html).group(1))
        _inert(html, f"battle page of message {shown}")
        assert str(escape(f"Message {shown}: {SCRIPT_PAYLOADS[shown]}")) in html  # shown as text, not dropped
        if shown in seen:
            continue
        seen.add(shown)
        action, csrf = parse_battle_page(html)
        vote = client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX if htmx else {})
        reveal = vote.get_data(as_text=True) if htmx else client.get(vote.headers["Location"]).get_data(as_text=True)
        assert "Thanks! You voted" in reveal
        _inert(reveal, f"reveal of message {shown}")
        assert "&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;" in reveal  # the model's name, as text
    assert len(seen) == hostile_arena
    recompute(session_factory, session_factory, RecomputeRequest(ci="sandwich"))
    for path in ("/leaderboard", "/analysis", "/admin/", "/me/ranking"):
        page = client.get(path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert page.status_code == 200, path
        _inert(page.get_data(as_text=True), path)
    # This visitor voted once per message, enough for their own ranking, which names the models as text too.
    ranking = client.get("/me/ranking").get_data(as_text=True)
    assert 'id="yours-title"' in ranking and "&lt;script&gt;alert(&#39;model&#39;)&lt;/script&gt;" in ranking
    admin_html = client.get("/admin/", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in admin_html  # an imported exclusion reason, as text
    api = client.get("/api/leaderboard")
    assert api.status_code == 200 and api.mimetype == "application/json"
    assert api.headers["X-Content-Type-Options"] == "nosniff"


# --- oversized bodies ---


@pytest.fixture
def small_body_app(database_url, demo_loaded):
    app = create_app(make_settings(database_url, max_body_bytes=4096, admin_token=ADMIN_TOKEN))
    yield app
    app.extensions["arena.engine"].dispose()


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("body", ["urlencoded", "multipart", "chunked"])
def test_an_oversized_vote_is_refused_with_413(small_body_app, session_factory, htmx, body):
    client = small_body_app.test_client()
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    form = {"outcome": "model_a", "csrf_token": csrf, "padding": "x" * 5000}
    headers = HX if htmx else {}
    if body == "multipart":
        response = client.post(action, data=form, headers=headers, content_type="multipart/form-data")
    elif body == "chunked":  # no Content-Length: the limit must hold while reading
        environ = {"wsgi.input_terminated": True}
        response = client.post(action, data=urlencode(form), headers={**headers, "Transfer-Encoding": "chunked"},
                               content_type="application/x-www-form-urlencoded", environ_overrides=environ)  # fmt: skip
    else:
        response = client.post(action, data=form, headers=headers)
    text = response.get_data(as_text=True)
    assert response.status_code == 413
    assert "larger than the limit of 4,096 bytes" in text
    assert ("<html" not in text) == htmx
    if htmx:
        assert response.headers["HX-Retarget"] == "#vote-status"
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 0
    # Within the limit the same vote goes through.
    form["padding"] = "x" * 100
    assert client.post(action, data=form, headers=headers).status_code in (200, 303)


def test_an_oversized_admin_login_is_refused_with_413(small_body_app):
    client = small_body_app.test_client()
    response = client.post("/admin/login", data={"token": "t" * 10_000})
    assert response.status_code == 413 and "larger than the limit" in response.get_data(as_text=True)


def test_bodies_sent_where_no_form_is_taken_get_404_or_405(small_body_app):
    client = small_body_app.test_client()
    api = client.post("/api/leaderboard", data=b"x" * 10_000, content_type="application/json")
    assert api.status_code == 405 and api.mimetype == "application/json" and api.get_json()["error"]
    assert client.post("/no-such-page", data=b"x" * 10_000, content_type="text/plain").status_code == 404


def test_the_body_limit_is_a_setting(monkeypatch, database_url):
    from arena.config import ConfigError, Settings

    monkeypatch.setenv("ARENA_MAX_BODY_BYTES", "8192")
    assert Settings.from_env().max_body_bytes == 8192
    app = create_app(make_settings(database_url, max_body_bytes=8192))
    assert app.config["MAX_CONTENT_LENGTH"] == app.config["MAX_FORM_MEMORY_SIZE"] == 8192
    app.extensions["arena.engine"].dispose()
    with pytest.raises(ConfigError, match="ARENA_MAX_BODY_BYTES"):
        make_settings(database_url, max_body_bytes=10).validated()


# --- invalid UTF-8 ---


@pytest.fixture
def battle(client, demo_loaded):
    return parse_battle_page(client.get("/").get_data(as_text=True))


def test_invalid_utf8_query_strings_are_400(client, demo_loaded):
    for path in ("/leaderboard", "/analysis", "/", "/api/leaderboard"):
        for query in ("category=\xff\xfe", "category=%ff%fe", "\xc3(=1"):
            response = client.get(path, environ_overrides={"QUERY_STRING": query})
            assert response.status_code in (200, 400), (path, query, response.status_code)
            if "%" not in query:  # raw bytes are refused before any view; escaped ones the view judges
                assert response.status_code == 400 and "not valid UTF-8" in response.get_data(as_text=True)
    api = client.get("/api/leaderboard", environ_overrides={"QUERY_STRING": "category=\xff"})
    assert api.get_json() == {"error": "The query string is not valid UTF-8."}


def test_invalid_utf8_in_paths_is_400(client, demo_loaded, battle):
    action, csrf = battle
    for path in ("/battles/\xff\xfe", "/battles/\xc3\x28", "/leader\xffboard", "/api/leader\xe2\x82board"):
        response = client.get("/", environ_overrides={"PATH_INFO": path})
        assert response.status_code == 400 and "address is not valid UTF-8" in response.get_data(as_text=True), path
    assert client.get("/api/\xff", environ_overrides={"PATH_INFO": "/api/\xff"}).get_json() == {
        "error": "The address is not valid UTF-8."
    }
    response = client.post("/", data={"outcome": "tie", "csrf_token": csrf},
                           environ_overrides={"PATH_INFO": "/battles/\xff/vote"})  # fmt: skip
    assert response.status_code == 400
    # Valid UTF-8 that is no battle id is simply not found.
    assert client.get("/battles/%C3%A9t%C3%A9").status_code == 404


def test_invalid_utf8_form_bodies_are_400(client, battle, session_factory):
    action, csrf = battle
    for body in (b"outcome=\xff\xfe&csrf_token=" + csrf.encode(), b"csrf_token=" + csrf.encode() + b"&outcome=ti\xc3"):
        response = client.post(action, data=body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400 and "form is not valid UTF-8" in response.get_data(as_text=True)
    escaped = client.post(action, data=b"outcome=%ff%fe&csrf_token=" + csrf.encode(),
                          content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert escaped.status_code == 400 and "outcome must be one of" in escaped.get_data(as_text=True)
    fields = [(b"outcome", b"\xff\xfe"), (b"csrf_token", csrf.encode())]
    body = (
        b"".join(b'--XyZ\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % f for f in fields)
        + b"--XyZ--\r\n"
    )
    multipart = client.post(action, data=body, content_type="multipart/form-data; boundary=XyZ")
    assert multipart.status_code == 400 and "outcome must be one of" in multipart.get_data(as_text=True)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 0


RAW_TARGETS = (b"/leaderboard?category=\xff\xfe", b"/battles/\xff\xfe", b"/api/leaderboard?\xc3(=1", b"/\xff")


def raw_get(host: str, port: int, target: bytes) -> tuple[int, bytes]:
    """GET with the request line's bytes exactly as given; (status, whole response)."""
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    return int(response.split(b" ", 2)[1]), response


def test_invalid_utf8_on_the_wire_never_500(live_server, demo_loaded):
    """Raw bytes in the request line through a real HTTP server, not just the test client."""
    host, port = urlsplit(live_server).hostname, urlsplit(live_server).port
    for target in RAW_TARGETS:
        code, _ = raw_get(host, port, target)
        # Werkzeug's development server re-encodes raw path bytes as if they were latin-1 text (valid UTF-8 by
        # then: a 404); gunicorn passes them through (400 above). Either way a 4xx, never a 500.
        assert 400 <= code < 500, (target, code)


@pytest.fixture
def gunicorn_server(database_url, demo_loaded) -> Iterator[tuple[str, int]]:
    """The app as production serves it: gunicorn, threaded workers, on a free loopback port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "ARENA_DATABASE_URL": database_url, "ARENA_SECRET_KEY": SECRET,
           "ARENA_RATE_LIMIT_ENABLED": "0"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", "2", "-b", f"127.0.0.1:{port}",
         "arena:create_app()"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not start within 60 s")
        yield "127.0.0.1", port
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_invalid_utf8_through_gunicorn_is_400(gunicorn_server):
    """gunicorn refuses raw non-ASCII request lines itself, and hands percent-escaped path bytes to the app
    undecoded: the app refuses those for what they are."""
    for target in RAW_TARGETS:
        assert raw_get(*gunicorn_server, target)[0] == 400, target
    for target in (b"/battles/%ff%fe", b"/leader%C3%28board", b"/battles/%ff/vote"):
        code, response = raw_get(*gunicorn_server, target)
        assert code == 400 and b"The address is not valid UTF-8." in response, (target, response[:300])
    code, response = raw_get(*gunicorn_server, b"/api/%ff")
    assert code == 400 and response.endswith(b'{"error":"The address is not valid UTF-8."}\n'), response[-200:]
    assert raw_get(*gunicorn_server, b"/battles/%C3%A9t%C3%A9")[0] == 404  # valid UTF-8, no such battle


# --- wrong content types ---


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"outcome": "model_a", "csrf_token": "%s"}'),
        ("text/plain", "outcome=model_a&csrf_token=%s"),
        ("application/xml", "<vote><outcome>model_a</outcome><csrf_token>%s</csrf_token></vote>"),
        (None, "outcome=model_a&csrf_token=%s"),
    ],
)
def test_wrong_content_types_are_415_with_a_reason(client, battle, session_factory, content_type, body):
    action, csrf = battle
    data = (body % csrf).encode()
    for headers in ({}, HX):
        if content_type is None:
            response = client.post(action, input_stream=io.BytesIO(data), headers=headers,
                                   environ_overrides={"CONTENT_LENGTH": str(len(data))})  # fmt: skip
        else:
            response = client.post(action, data=data, content_type=content_type, headers=headers)
        text = response.get_data(as_text=True)
        assert response.status_code == 415, text
        assert "takes a form" in text and (content_type or "without a Content-Type") in text
        assert ("<html" not in text) == bool(headers)
    login = client.post("/admin/login", data=b'{"token": "x"}', content_type="application/json")
    assert login.status_code == 415
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == 0


# --- SQL metacharacters in every parameter ---


def test_sql_metacharacters_in_every_parameter(admin_app, demo_loaded, session_factory):
    client = admin_app.test_client()
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/").get_data(as_text=True)).group(1)
    before = fingerprint(session_factory)
    for payload in SQL_PAYLOADS:
        requests = [
            ("GET", "/leaderboard", {"query_string": {"category": payload}}, {400}),
            ("GET", "/analysis", {"query_string": {"category": payload}}, {400}),
            ("GET", "/api/leaderboard", {"query_string": {"category": payload}}, {400}),
            ("GET", f"/battles/{payload}", {}, {404}),
            ("POST", f"/battles/{payload}/vote", {"data": {"outcome": "tie", "csrf_token": csrf}}, {404}),
            ("POST", action, {"data": {"outcome": payload, "csrf_token": csrf}}, {400}),
            ("POST", action, {"data": {"outcome": "tie", "csrf_token": payload}}, {400}),
            ("POST", "/admin/login", {"data": {"token": payload, "csrf_token": login_csrf}}, {403}),
            ("GET", "/admin/", {"headers": {"Authorization": f"Bearer {payload}"}}, {403}),
            ("GET", "/admin/", {"query_string": {"reincluded": payload},
                                "headers": {"Authorization": f"Bearer {ADMIN_TOKEN}"}}, {200}),
        ]  # fmt: skip
        for method, path, kwargs, expected in requests:
            response = client.open(path, method=method, **kwargs)
            assert response.status_code in expected, (method, path, payload, response.status_code)
            if response.status_code == 200:
                _inert(response.get_data(as_text=True), path)
    # A signed-in admin re-including a "reason" that is SQL: matches nothing, changes nothing.
    assert client.post("/admin/login", data={"token": ADMIN_TOKEN, "csrf_token": login_csrf}).status_code == 303
    for payload in SQL_PAYLOADS:
        done = client.post("/admin/votes/reinclude", data={"reason": payload, "csrf_token": login_csrf})
        assert done.status_code == 303 and "0+votes" in done.headers["Location"].replace("%20", "+")
    after = fingerprint(session_factory)
    # The one login above is stored (a server-side admin session, so logout can revoke it); nothing else changed.
    assert after.pop("admin_session")[0] == before.pop("admin_session")[0] + 1
    assert after == before
    with session_factory() as s:  # and the tables are all still there, with the demo in them
        assert s.scalar(select(func.count()).select_from(Prompt)) > 0
        assert s.scalar(select(func.count()).select_from(Model)) > 0
        assert s.scalar(select(func.count()).select_from(Battle)) == 1
