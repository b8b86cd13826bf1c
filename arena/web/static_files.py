"""Static files served like a public site's: versioned URLs cached for a year, gzip for text, no second download.

`url_for('static', filename=...)` gains `?v=<content hash>`, so a page always names the bytes it was built with and
a browser (or a proxy in front) may keep them for a year (`immutable`); a file whose name already carries its
version (everything under `vendor/`, whose folders and files are named by release) is cached as long without it.
Any other static URL is revalidated (`no-cache` with an ETag), so a stale `v` or a hand-typed address never pins
old bytes.

Text files are sent gzipped to a browser that accepts it, compressed once per file version and kept in memory:
the first battle visit then stays small on a phone over a slow link whether or not a proxy compresses (the proxy
settings in README pass these through untouched).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, Response, abort, request
from werkzeug.security import safe_join

YEAR = 365 * 24 * 3600
LONG_CACHE = f"public, max-age={YEAR}, immutable"
REVALIDATE = "public, no-cache"
COMPRESSIBLE = {".css", ".js", ".mjs", ".svg", ".json", ".txt", ".html", ".map"}
# Below this a gzip header and dictionary cost more than they save.
MIN_GZIP_BYTES = 1024


@dataclass(frozen=True)
class StaticFile:
    path: Path
    mtime_ns: int
    body: bytes
    version: str
    gzipped: bytes | None
    content_type: str


class StaticFiles:
    """The files under one folder, each read once. With `watch` (the development server), a file changed on disk
    is read again; a production worker never looks at the disk again for a file it holds (a page names six)."""

    def __init__(self, folder: Path, *, watch: bool = False):
        self.folder = folder
        self.watch = watch
        self._files: dict[str, StaticFile] = {}

    def get(self, filename: str) -> StaticFile | None:
        known = self._files.get(filename)
        if known is not None and not self.watch:
            return known
        joined = safe_join(str(self.folder), filename)
        if joined is None or not os.path.isfile(joined):
            return None
        mtime_ns = os.stat(joined).st_mtime_ns
        known = self._files.get(filename)
        if known is not None and known.mtime_ns == mtime_ns:
            return known
        path = Path(joined)
        body = path.read_bytes()
        compress = path.suffix in COMPRESSIBLE and len(body) >= MIN_GZIP_BYTES
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if content_type.startswith("text/") or content_type == "application/javascript":
            content_type += "; charset=utf-8"
        loaded = StaticFile(
            path=path,
            mtime_ns=mtime_ns,
            body=body,
            version=hashlib.sha256(body).hexdigest()[:12],
            # mtime=0: the same bytes always gzip to the same bytes (one ETag across hosts and restarts).
            gzipped=gzip.compress(body, compresslevel=9, mtime=0) if compress else None,
            content_type=content_type,
        )
        self._files[filename] = loaded
        return loaded

    def version(self, filename: str) -> str | None:
        found = self.get(filename)
        return found.version if found else None


def accepts_gzip() -> bool:
    return any(
        part.split(";")[0].strip() == "gzip" and not part.replace(" ", "").endswith("q=0")
        for part in request.headers.get("Accept-Encoding", "").split(",")
    )


def serve(files: StaticFiles, filename: str) -> Response:
    found = files.get(filename)
    if found is None:
        abort(404)
    versioned = request.args.get("v") == found.version or filename.startswith("vendor/")
    use_gzip = found.gzipped is not None and accepts_gzip()
    etag = f"{found.version}-gz" if use_gzip else found.version
    response = Response(content_type=found.content_type)
    response.headers["Cache-Control"] = LONG_CACHE if versioned else REVALIDATE
    response.set_etag(etag)
    if found.gzipped is not None:
        response.vary.add("Accept-Encoding")
    if request.if_none_match.contains(etag):
        response.status_code = 304
        return response
    if use_gzip:
        response.headers["Content-Encoding"] = "gzip"
        response.set_data(found.gzipped)
    else:
        response.set_data(found.body)
    return response


def init_static(app: Flask, folder: Path) -> None:
    """The app's `static` endpoint (create_app passes static_folder=None so this is the only one)."""
    files = StaticFiles(folder, watch=app.debug)
    app.extensions["arena.static_files"] = files
    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=lambda filename: serve(files, filename))

    @app.url_defaults
    def add_static_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and not values.get("filename", "").startswith("vendor/"):
            version = files.version(values.get("filename", ""))
            if version:
                values["v"] = version
