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
# A full disk needs the operator, not a few seconds: clients are asked to wait longer.
DISK_FULL_RETRY_AFTER_SECONDS = 60


def _disk_full(error: DBAPIError) -> bool:
    """SQLite's SQLITE_FULL or PostgreSQL's disk_full (SQLSTATE 53100): the write had no room."""
    orig = error.orig
    return getattr(orig, "sqlite_errorcode", None) == 13 or getattr(orig, "sqlstate", None) == "53100"


def _database_unavailable(error: DBAPIError):
    """The database is down, restarting or refusing connections: a temporary condition, said plainly. The
    connection pool pings before use, so the site recovers by itself once the database is back."""
    if not isinstance(error, OperationalError) and not error.connection_invalidated:
        return _unexpected(error)
    if _disk_full(error):
        current_app.logger.error("database disk full: %s", str(error.orig or error).splitlines()[0])
        message = (
            "The site's database has no room for new data right now. Nothing you sent was stored; "
            "please try again later."
        )
        retry_after = DISK_FULL_RETRY_AFTER_SECONDS
    else:
        current_app.logger.warning("database unavailable: %s", str(error.orig or error).splitlines()[0])
        message = "The site cannot reach its database right now. Please try again in a few seconds."
        retry_after = RETRY_AFTER_SECONDS
    response = current_app.make_response(_render(503, "Service Unavailable", message))
    response.headers["Retry-After"] = str(retry_after)
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
