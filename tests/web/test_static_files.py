"""Static files as a public site serves them: pages name versioned URLs cached for a year, other addresses are
revalidated, text goes gzipped to browsers that take it, and nothing outside static/ is reachable."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil

import pytest

from arena.config import PROJECT_ROOT
from arena.web.static_files import StaticFiles

CSS = PROJECT_ROOT / "static" / "css" / "arena.css"


@pytest.fixture
def database_url(sqlite_template, tmp_path) -> str:
    # Static files do not touch the database: one backend is enough.
    path = tmp_path / "arena.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def version_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def test_pages_name_each_file_by_its_content(client, demo_loaded):
    html = client.get("/").get_data(as_text=True)
    assert f'href="/static/css/arena.css?v={version_of(CSS)}"' in html
    # A vendored file's name carries its release already.
    assert 'src="/static/vendor/htmx-2.0.11.min.js"' in html
    unversioned = [u for u in re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
                   if "?v=" not in u and not u.startswith("/static/vendor/")]  # fmt: skip
    assert unversioned == []


def test_a_versioned_file_is_cached_for_a_year_and_anything_else_is_revalidated(client):
    fresh = client.get(f"/static/css/arena.css?v={version_of(CSS)}")
    assert fresh.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for address in ("/static/css/arena.css", "/static/css/arena.css?v=000000000000"):
        response = client.get(address)
        assert response.status_code == 200 and response.data == CSS.read_bytes()
        assert response.headers["Cache-Control"] == "public, no-cache"
    assert "immutable" in client.get("/static/vendor/htmx-2.0.11.min.js").headers["Cache-Control"]


def test_text_goes_gzipped_only_to_a_browser_that_takes_it(client):
    zipped = client.get("/static/css/arena.css", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.headers["Content-Encoding"] == "gzip" and "Accept-Encoding" in zipped.headers["Vary"]
    assert gzip.decompress(zipped.data) == CSS.read_bytes()
    assert len(zipped.data) < CSS.stat().st_size / 2
    assert zipped.headers["Content-Type"] == "text/css; charset=utf-8"
    for refused in ("", "identity", "gzip;q=0", "br"):
        plain = client.get("/static/css/arena.css", headers={"Accept-Encoding": refused})
        assert "Content-Encoding" not in plain.headers and plain.data == CSS.read_bytes(), refused
    # Not worth it under a kilobyte, nor for an image already compressed.
    small = client.get("/static/favicon.svg", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
    png = client.get("/static/screenshots/battle-390.png", headers={"Accept-Encoding": "gzip"})
    assert png.status_code == 200 and "Content-Encoding" not in png.headers


def test_a_browser_holding_the_file_gets_304(client):
    for encoding in ("gzip", ""):
        first = client.get("/static/js/keys.js", headers={"Accept-Encoding": encoding})
        again = client.get("/static/js/keys.js", headers={"Accept-Encoding": encoding,
                                                          "If-None-Match": first.headers["ETag"]})  # fmt: skip
        assert again.status_code == 304 and again.data == b""
    # The gzip and plain bodies differ, so their tags do too (a cache must not swap them).
    tags = {client.get("/static/js/keys.js", headers={"Accept-Encoding": e}).headers["ETag"] for e in ("gzip", "")}
    assert len(tags) == 2


def test_nothing_outside_static_is_served(client):
    for address in ("/static/../arena/config.py", "/static/%2e%2e/arena/config.py", "/static/nope.css",
                    "/static/css", "/static//etc/passwd"):  # fmt: skip
        assert client.get(address, follow_redirects=True).status_code == 404, address


def test_a_file_changed_on_disk_gets_a_new_version(tmp_path):
    page = tmp_path / "page.js"
    page.write_text("let a = 1;\n" * 200)
    files = StaticFiles(tmp_path, watch=True)
    first = files.get("page.js")
    assert first.gzipped is not None and gzip.decompress(first.gzipped) == page.read_bytes()
    page.write_text("let b = 2;\n" * 200)
    second = files.get("page.js")
    assert second.version != first.version and second.body == page.read_bytes()
    # Compressing the same bytes twice gives the same bytes: one ETag on every host.
    assert StaticFiles(tmp_path).get("page.js").gzipped == second.gzipped
    # Without watching (production), the file read first is the one served.
    held = StaticFiles(tmp_path)
    version = held.version("page.js")
    page.write_text("let c = 3;\n" * 200)
    assert held.version("page.js") == version
