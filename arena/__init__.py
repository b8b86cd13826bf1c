"""EQ Arena: the web service. `create_app` is the only entry point (gunicorn: 'arena:create_app()')."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from arena.config import PROJECT_ROOT, Settings, instance_path

if TYPE_CHECKING:
    from flask import Flask


def create_app(settings: Settings | None = None) -> Flask:
    # Flask is imported here, not with the package: jobs and commands import `arena.*` too, and a recompute run
    # by cron has no use for the web stack's import time.
    from flask import Flask

    settings = (settings or Settings.from_env()).validated().checked_secrets()
    app = Flask(
        __name__,
        instance_path=str(instance_path()),
        template_folder=str(PROJECT_ROOT / "templates"),
        # arena.web.static_files serves /static (versioned URLs, long caches, gzip).
        static_folder=None,
    )
    app.config.update(
        SECRET_KEY=settings.secret_key or "arena-unconfigured-secret",
        TESTING=settings.testing,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(days=365),
        # The cookie is re-signed only when the session changes (first visit, new CSRF token), not on every
        # response: a sizeable share of a vote's CPU under load. A visitor's session then lasts a year from its
        # last change rather than from the last visit.
        SESSION_REFRESH_EACH_REQUEST=False,
        # A CSRF token lives as long as the page that holds it may sensibly stay open.
        WTF_CSRF_TIME_LIMIT=settings.battle_ttl_seconds,
        # Bodies beyond this are refused with 413 before anything reads them (forms here are a few hundred bytes).
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        MAX_FORM_MEMORY_SIZE=settings.max_body_bytes,
    )
    app.extensions["arena.settings"] = settings

    from arena.web import init_web

    init_web(app, settings)
    return app
