"""`arena init-db`, `arena demo` and `arena serve`: the schema and the site."""

from __future__ import annotations

import importlib.util
import os
import secrets
import sys

import click

from arena.cli.common import BadInput, database_option, open_engine, require_schema
from arena.config import ConfigError, Settings, instance_path

# How often the demo recomputes its board: it has a few dozen votes, and a visitor should see them counted.
DEMO_EVERY_VOTES, DEMO_EVERY_SECONDS = 10, 30


def demo_secret_key() -> str:
    """A random secret kept in the instance folder, so demo sessions survive a restart."""
    folder = instance_path()
    path = folder / "demo-secret-key"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@click.command("init-db")
@database_option
def init_db(database_url: str) -> None:
    """Create or upgrade the schema (Alembic upgrade head)."""
    from arena.migrate import current_revision, upgrade

    engine = open_engine(database_url)
    before = current_revision(engine)
    upgrade(engine)
    after = current_revision(engine)
    state = "already at" if before == after else f"upgraded from {before or 'empty'} to"
    click.echo(f"schema {state} revision {after}")


@click.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--reset", is_flag=True, help="Remove the demo content (with its battles and votes) and load it afresh.")
@click.option("--no-serve", is_flag=True, help="Load the demo bank and exit.")
def demo(database_url: str, host: str, port: int, reset: bool, no_serve: bool) -> None:
    """Initialise the database, load the demo bank (demo personas, not real models) and serve the site."""
    from arena.db import make_session_factory, transaction
    from arena.ingest.demo import load_demo_bank, remove_demo_content
    from arena.migrate import upgrade

    engine = open_engine(database_url)
    upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        if reset:
            remove_demo_content(session)
        summary = load_demo_bank(session)
    click.echo(f"demo bank: {summary}")
    if no_serve:
        return
    secret = os.environ.get("ARENA_SECRET_KEY") or demo_secret_key()
    # The demo keeps its own strong secret (or takes the one given) and is exempt from the weak-secret check.
    # The demo runs its own jobs (a thread: no Redis, no worker), so its leaderboard fills as votes arrive:
    # every 10 votes or 30 seconds unless ARENA_JOBS / ARENA_RECOMPUTE_* say otherwise.
    jobs = dict(jobs=os.environ.get("ARENA_JOBS") or "inline",
                recompute_every_votes=None if os.environ.get("ARENA_RECOMPUTE_EVERY_VOTES") else DEMO_EVERY_VOTES,
                recompute_every_seconds=None if os.environ.get("ARENA_RECOMPUTE_EVERY_SECONDS")
                else DEMO_EVERY_SECONDS)  # fmt: skip
    settings = Settings.from_env(database_url=database_url, secret_key=secret, require_secret=False, **jobs)
    _serve(settings, host, port)


@click.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port to listen on (default 5000; 8000 with --production).",
)
@click.option(
    "--production",
    is_flag=True,
    help="gunicorn page workers and the live-stream service behind one dispatcher, instead of the development server.",
)
@click.option(
    "--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Page workers (--production)."
)
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=click.IntRange(1, 256),
    help="Threads per page worker (--production).",
)
@click.option(
    "--stream-workers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Stream-service workers (--production).",
)
@click.option("--stream-threads", default=128, show_default=True, type=click.IntRange(8, 4096),
              help="Threads per stream-service worker, about one per open stream (--production).")  # fmt: skip
def serve(database_url: str, host: str, port: int | None, production: bool, workers: int, threads: int,
          stream_workers: int, stream_threads: int) -> None:  # fmt: skip
    """Run the site: the development server, or with --production the one-host production set-up."""
    engine = open_engine(database_url)
    require_schema(engine)
    if not production:
        # Without Redis (the default SQLite set-up) the development server runs the jobs in a thread of its own.
        jobs = None if os.environ.get("ARENA_JOBS") or os.environ.get("ARENA_REDIS_URL") else "inline"
        _serve(Settings.from_env(database_url=database_url, jobs=jobs), host, 5000 if port is None else port)
        return
    settings = Settings.from_env(database_url=database_url)
    from arena.production import ProductionSite, StartError

    try:
        # The services read the same environment: check it here, so a bad setting is one line, not two traces.
        settings.validated().checked_secrets()
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    if importlib.util.find_spec("gunicorn") is None:
        raise BadInput("arena serve --production needs gunicorn: pip install -e '.[serve]'")
    port = 8000 if port is None else port
    _check_port(host, port)
    site = ProductionSite(host=host, port=port, workers=workers, threads=threads, stream_workers=stream_workers,
                          stream_threads=stream_threads, env={"ARENA_DATABASE_URL": database_url})  # fmt: skip
    try:
        site.start()
    except StartError as exc:
        raise BadInput(str(exc)) from exc
    click.echo(f"EQ Arena (production: {workers}x{threads} page threads, {stream_workers}x{stream_threads} stream "
               f"threads) on http://{host}:{port}/  (Ctrl+C to stop)")  # fmt: skip
    sys.stdout.flush()
    try:
        site.serve()
    except StartError as exc:
        raise click.ClickException(str(exc)) from exc


def _check_port(host: str, port: int) -> None:
    """Bind before announcing the URL: a busy port is bad input (exit 2, one line), not a crash after the URL."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise BadInput(
                f"cannot listen on {host}:{port}: {exc.strerror or exc} (try --port with another number)"
            ) from exc


def _serve(settings: Settings, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from arena import create_app
    from arena.dev_server import PrivateRequestHandler

    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    _check_port(host, port)
    click.echo(f"EQ Arena on http://{host}:{port}/  (Ctrl+C to stop)")
    sys.stdout.flush()
    run_simple(host, port, app, threaded=True, use_reloader=False, request_handler=PrivateRequestHandler)
