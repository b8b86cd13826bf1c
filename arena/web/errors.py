"""Every error is a page (or an htmx fragment) that says what went wrong, never a traceback."""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from flask_htmx import make_response
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from arena.web import htmx


def _render(status: int, title: str, message: str):
    if request.path.startswith("/api/"):
        return jsonify({"error": message}), status
    if htmx:
        body = render_template("_error_fragment.html", title=title, message=message)
        return make_response(body, status, retarget="#vote-status", reswap="innerHTML")
    return render_template("error.html", title=title, message=message), status


def _http_error(error: HTTPException):
    return _render(error.code or 500, error.name, error.description or error.name)


def _too_large(_error: RequestEntityTooLarge):
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return _render(413, "Request too large", f"The request body is larger than the limit of {limit:,} bytes.")


def _csrf_error(error: CSRFError):
    return _render(
        400,
        "Bad request",
        f"The form's security token is missing or invalid ({error.description}). Reload the page and try again.",
    )


# Seconds a visitor (or client) should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5


def _database_unavailable(error: DBAPIError):
    """The database is down, restarting or refusing connections: a temporary condition, said plainly. The
    connection pool pings before use, so the site recovers by itself once the database is back."""
    if not isinstance(error, OperationalError) and not error.connection_invalidated:
        return _unexpected(error)
    current_app.logger.warning("database unavailable: %s", str(error.orig or error).splitlines()[0])
    response = current_app.make_response(
        _render(
            503,
            "Service Unavailable",
            "The site cannot reach its database right now. Please try again in a few seconds.",
        )  # fmt: skip
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _unexpected(error: Exception):
    # The traceback goes to the log; the visitor gets a plain page.
    current_app.logger.exception("unhandled error")
    return _render(500, "Internal Server Error", "Something went wrong on our side. Please try again.")


def register(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(RequestEntityTooLarge, _too_large)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(DBAPIError, _database_unavailable)
    app.register_error_handler(Exception, _unexpected)
