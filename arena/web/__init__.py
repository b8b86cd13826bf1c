"""Web layer: extensions, per-request database session, security headers, blueprints."""

from __future__ import annotations

from flask import Flask, current_app, g
from flask_htmx import HTMX
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from arena.config import PROJECT_ROOT, Settings
from arena.db import make_engine, make_session_factory
from arena.voting.battle_ids import BattleIdSigner
from arena.voting.history import OwnVotes, SeenPrompts
from arena.voting.pairing import PairingPool
from arena.voting.sharing import ShareLinks
from arena.web.bidi import finalize
from arena.web.cookie_session import CookieSessionInterface
from arena.web.live_gate import LiveGate
from arena.web.markdown import render_markdown
from arena.web.reason_chips import reason_chip_rows
from arena.web.static_files import init_static

csrf = CSRFProtect()
htmx = HTMX()

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        # The proof-of-work widget's solver runs in workers served from here (static/vendor/altcha-*).
        "worker-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


def db_session() -> Session:
    """The request's session, opened on first use and closed (rolled back if uncommitted) at teardown."""
    if "db_session" not in g:
        from flask import current_app

        g.db_session = current_app.extensions["arena.session_factory"]()
    return g.db_session


def read_session() -> Session:
    """A session for pages that only read: on SQLite it takes no write lock, so it never waits on voters."""
    if "db_read_session" not in g:
        from flask import current_app

        g.db_read_session = current_app.extensions["arena.read_session_factory"]()
    return g.db_read_session


def unshared_read_session() -> Session:
    """For reads that need no common snapshot: on PostgreSQL each statement is its own transaction (no BEGIN and
    ROLLBACK round trips around them); elsewhere the read session."""
    from flask import current_app

    factory = current_app.extensions.get("arena.autocommit_session_factory")
    if factory is None:
        return read_session()
    if "db_autocommit_session" not in g:
        g.db_autocommit_session = factory()
    return g.db_autocommit_session


def _close_session(_exc: BaseException | None) -> None:
    for key in ("db_session", "db_read_session", "db_autocommit_session"):
        session = g.pop(key, None)
        if session is None:
            continue
        try:
            session.close()
        except DBAPIError as error:
            # The database went away under an open transaction (a restart): its rollback fails. The answer is
            # already made; drop the dead connection instead of turning a finished request into a 500.
            session.invalidate()
            current_app.logger.warning("database connection lost at the end of a request: %s",
                                       str(error.orig or error).splitlines()[0])  # fmt: skip


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    # Full pages and htmx partials share URLs; caches must keep them apart.
    headers.add("Vary", "HX-Request")
    return response


def init_web(app: Flask, settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    app.extensions["arena.engine"] = engine
    app.extensions["arena.session_factory"] = make_session_factory(engine)
    app.extensions["arena.read_session_factory"] = make_session_factory(engine, read_only=True)
    if engine.dialect.name != "sqlite":
        # SQLite's writers queue in their BEGIN (arena.db), so there every write keeps its transaction.
        app.extensions["arena.autocommit_session_factory"] = make_session_factory(
            engine.execution_options(isolation_level="AUTOCOMMIT")
        )
    app.extensions["arena.pairing"] = PairingPool(sampling=settings.sampling, arms=settings.declared_arms())
    # A visitor's history, kept per worker and topped up (arena/voting/history.py).
    app.extensions["arena.seen"] = SeenPrompts()
    app.extensions["arena.own_votes"] = OwnVotes()
    app.extensions["arena.battle_ids"] = BattleIdSigner(app.config["SECRET_KEY"])
    app.extensions["arena.share_links"] = ShareLinks(app.config["SECRET_KEY"])
    app.extensions["arena.live_gate"] = LiveGate(settings)
    from arena.queue.schedule import for_site

    # Recomputes queued (or, inline, run) as votes arrive and time passes; the vote only wakes it (battle.vote).
    app.extensions["arena.jobs"] = for_site(engine, settings)

    from arena.web import request_checks

    request_checks.register(app)
    init_static(app, PROJECT_ROOT / "static")
    csrf.init_app(app)
    htmx.init_app(app)
    app.teardown_appcontext(_close_session)
    app.session_interface = CookieSessionInterface()
    app.after_request(_security_headers)
    app.jinja_env.filters["markdown"] = render_markdown
    app.jinja_env.finalize = finalize
    app.jinja_env.globals["reason_chip_rows"] = reason_chip_rows

    from arena.web import (
        admin,
        analysis,
        api,
        battle,
        errors,
        leaderboard,
        live,
        meta,
        my_ranking,
        privacy,
        sharing,
        terms,
    )

    errors.register(app)
    meta.register(app)
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Trust exactly the configured proxies: with more, a visitor could forge their address and scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops,
                                x_host=settings.proxy_hops)  # fmt: skip
        app.config["SESSION_COOKIE_SECURE"] = True
    app.register_blueprint(battle.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(leaderboard.bp)
    app.register_blueprint(my_ranking.bp)
    app.register_blueprint(analysis.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(terms.bp)
    app.register_blueprint(privacy.bp)
    app.register_blueprint(sharing.bp)
    _rate_limits(app, settings)


def _rate_limits(app: Flask, settings: Settings) -> None:
    """One limiter per app (its counters live in Redis when configured), on the routes that create work."""
    from flask_limiter import Limiter

    from arena.web.limit_storage import SCHEME as MEMORY_SCHEME
    from arena.web.limits import network_limit_key, visitor_limit_key

    limiter = Limiter(
        key_func=visitor_limit_key,
        app=app,
        storage_uri=settings.redis_url or f"{MEMORY_SCHEME}://",
        enabled=settings.rate_limit_enabled,
        headers_enabled=True,
        # A limiter whose store is down must not take the site down with it: fall back to memory.
        in_memory_fallback_enabled=True,
    )
    app.extensions["arena.limiter"] = limiter
    if not settings.rate_limit_enabled:
        # A disabled limiter still evaluates its limits on every call of a wrapped view; leave the views bare.
        return
    per_network = limiter.shared_limit(settings.rate_limit_network, scope="network", key_func=network_limit_key)
    # Accepting the terms and deleting write too: the vote's limit keeps a script from flooding either.
    for endpoint, per_visitor in (("battle.new_battle", settings.rate_limit_battle),
                                  ("battle.vote", settings.rate_limit_vote),
                                  ("terms.accept", settings.rate_limit_vote),
                                  ("terms.challenge", settings.rate_limit_battle),
                                  ("privacy.delete", settings.rate_limit_vote),
                                  ("live.start", settings.rate_limit_live),
                                  ("live.next_message", settings.rate_limit_live),
                                  ("live.continue_conversation", settings.rate_limit_live),
                                  ("live.stream", settings.rate_limit_live)):  # fmt: skip
        view = app.view_functions[endpoint]
        app.view_functions[endpoint] = per_network(limiter.limit(per_visitor)(view))
    # Each live message costs two paid calls: fresh cookies must not multiply a network's share of them.
    live_per_network = limiter.limit(settings.rate_limit_live_network, key_func=network_limit_key,
                                     scope="live-network")  # fmt: skip
    for endpoint in ("live.start", "live.next_message", "live.continue_conversation"):
        app.view_functions[endpoint] = live_per_network(app.view_functions[endpoint])
    # Guessing the admin token is throttled per network, whatever the cookies.
    admin_login = limiter.limit(settings.rate_limit_admin_login, key_func=network_limit_key, scope="admin-login")
    app.view_functions["admin.login"] = admin_login(app.view_functions["admin.login"])
