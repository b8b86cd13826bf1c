"""Refuse malformed requests up front with a reason (400, 413, 415), before CSRF checks or views touch them: an
address, query string or form that is not UTF-8 would otherwise surface as a 500, a misleading "missing token"
or a lookup of mangled text."""

from __future__ import annotations

from flask import Flask, abort, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _path_is_utf8() -> None:
    # WSGI hands the path over as bytes in latin-1 clothing (gunicorn passes %-escaped bytes through undecoded);
    # Werkzeug would quietly replace what is not UTF-8 and look up mangled text.
    try:
        request.environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeEncodeError:
        return  # not from a WSGI server's bytes: nothing to judge
    except UnicodeDecodeError:
        abort(400, description="The address is not valid UTF-8.")


def _query_string_is_utf8() -> None:
    try:
        request.query_string.decode("utf-8")
    except UnicodeDecodeError:
        abort(400, description="The query string is not valid UTF-8.")


def _post_is_a_utf8_form() -> None:
    # Every POST route of the site is an HTML form (htmx posts forms too). The JSON API judges its own bodies,
    # and an unknown address or method gets its 404 or 405 rather than a complaint about the body.
    if request.method != "POST" or request.path.startswith("/api/") or request.routing_exception is not None:
        return
    if not request.mimetype and not request.content_length and "Transfer-Encoding" not in request.headers:
        return  # no body at all: the view names what is missing
    if request.mimetype not in FORM_TYPES:
        abort(415, description=f"This address takes a form ({' or '.join(FORM_TYPES)}), "
                               f"not {request.mimetype or 'a body without a Content-Type'}.")  # fmt: skip
    # Cached, so form parsing reads the same bytes again. A declared length over the limit is refused here (413).
    body = request.get_data(cache=True)
    if request.content_length is None and len(body) >= current_app.config["MAX_CONTENT_LENGTH"]:
        # A streamed (chunked) body is cut at the limit without complaint by Werkzeug; refuse it rather than
        # act on a truncated form.
        raise RequestEntityTooLarge()
    if request.mimetype == FORM_TYPES[0]:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            abort(400, description="The form is not valid UTF-8.")


def _no_nul_characters() -> None:
    # A NUL is never text anyone typed; PostgreSQL refuses it in a string (a 500 there) while SQLite would store it.
    if "\x00" in request.query_string.decode("utf-8", "replace") or "%00" in request.query_string.decode("latin-1"):
        abort(400, description="The address contains a NUL character, which no text field may hold.")
    form = request.method == "POST" and request.mimetype in FORM_TYPES and request.routing_exception is None
    if form and any("\x00" in value for value in request.form.values()):
        abort(400, description="The form contains a NUL character, which no text field may hold.")


def register(app: Flask) -> None:
    """Call before CSRFProtect.init_app: before_request hooks run in the order they were added."""
    app.before_request(_path_is_utf8)
    app.before_request(_query_string_is_utf8)
    app.before_request(_post_is_a_utf8_form)
    app.before_request(_no_nul_characters)
