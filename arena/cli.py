"""The `arena` command (DESIGN §5). Exit 0 on success, 2 with a one-line reason on bad input."""

from __future__ import annotations

import os
import secrets
import sys
from functools import wraps

import click

from arena.config import ConfigError, Settings, default_database_url, instance_path


class BadInput(click.ClickException):
    """Bad input or configuration: one line on stderr, exit code 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"arena: {self.format_message()}", err=True, file=file)


def database_option(command):
    @click.option(
        "--database-url",
        envvar="ARENA_DATABASE_URL",
        default=None,
        help="SQLAlchemy URL (default: SQLite in the instance folder). Env: ARENA_DATABASE_URL.",
    )
    @wraps(command)
    def wrapper(*args, database_url=None, **kwargs):
        return command(*args, database_url=database_url or default_database_url(), **kwargs)

    return wrapper


def open_engine(database_url: str):
    from sqlalchemy.exc import ArgumentError, OperationalError

    from arena.db import make_engine

    try:
        engine = make_engine(database_url)
        with engine.connect():
            pass
    except ArgumentError as exc:
        raise BadInput(f"--database-url is not a valid database URL: {exc}") from exc
    except (OperationalError, ModuleNotFoundError) as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise BadInput(f"cannot open the database: {reason}") from exc
    return engine


def require_schema(engine) -> None:
    from arena.migrate import current_revision, head_revision

    current = current_revision(engine)
    if current != head_revision():
        raise BadInput(f"the database schema is at {current or 'nothing'}, not the latest; run `arena init-db` first")


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eq-arena")
def main() -> None:
    """EQ Arena: anonymous battles between replies to emotional messages, rated by Bradley-Terry."""


@main.command("init-db")
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


@main.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--reset", is_flag=True, help="Remove the demo content (with its battles and votes) and load it afresh.")
@click.option("--no-serve", is_flag=True, help="Load the demo bank and exit.")
def demo(database_url: str, host: str, port: int, reset: bool, no_serve: bool) -> None:
    """Initialise the database, load the demo bank (demo personas, not real models) and serve the site."""
    from arena.db import make_session_factory, transaction
    from arena.migrate import upgrade
    from arena.services.demo import load_demo_bank, remove_demo_content

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
    _serve(Settings.from_env(database_url=database_url, secret_key=secret), host, port)


@main.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=click.IntRange(0, 65535))
def serve(database_url: str, host: str, port: int) -> None:
    """Run the site with the development server (production: gunicorn -k gthread 'arena:create_app()')."""
    engine = open_engine(database_url)
    require_schema(engine)
    _serve(Settings.from_env(database_url=database_url), host, port)


def _serve(settings: Settings, host: str, port: int) -> None:
    from werkzeug.serving import run_simple

    from arena import create_app

    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    click.echo(f"EQ Arena on http://{host}:{port}/  (Ctrl+C to stop)")
    sys.stdout.flush()
    run_simple(host, port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":  # pragma: no cover
    main()
