"""A WSGI app that answers with what it was sent (its service name, the path, the client's address as the
server saw it, the Connection header), for tests of arena/dispatcher.py under real gunicorn."""

from __future__ import annotations

import json
import os


def app(environ, start_response):
    body = json.dumps({
        "service": os.environ.get("ECHO_SERVICE", ""),
        "path": environ.get("PATH_INFO", ""),
        "query": environ.get("QUERY_STRING", ""),
        "remote_addr": environ.get("REMOTE_ADDR", ""),
        "connection": environ.get("HTTP_CONNECTION", ""),
        "forwarded_for": environ.get("HTTP_X_FORWARDED_FOR", ""),
        "body": environ["wsgi.input"].read().decode(),
    }).encode()  # fmt: skip
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
