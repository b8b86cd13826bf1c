"""What every `arena` command shares: the database and --json options, opening and checking the database, the
one-line error (exit 2), JSON output and progress bars."""

from __future__ import annotations

import contextlib
import os
import sys
import weakref
from functools import wraps
from pathlib import Path

import click

from arena.config import default_database_url


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


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")

# What a PostgreSQL URL looks like, for the errors that meet a wrong one.
POSTGRES_URL_FORM = "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
# The files SQLite (and the writers' queue, arena.db) may create beside a database.
_SQLITE_SIDE_FILES = ("-writers", "-journal", "-wal", "-shm")
# Engines opened on a SQLite file that did not exist yet, with the files that opening created: a command that
# then finds no schema removes them, so a mistyped path leaves nothing behind.
_created: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def open_engine(database_url: str):
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, OperationalError

    from arena.db import make_engine

    try:
        parsed = make_url(database_url)
    except ArgumentError as exc:
        raise BadInput(f"--database-url is not a valid database URL: {exc}") from exc
    sqlite_file = _sqlite_file(parsed)
    new_files: list[Path] = []
    if sqlite_file is not None:
        # The default database's instance folder is made on first use; a folder named in a URL must exist, or a
        # typo would create a directory tree somewhere.
        if database_url != default_database_url() and not sqlite_file.parent.is_dir():
            raise BadInput(f"no directory {sqlite_file.parent} for the SQLite database in --database-url: "
                           "check the path, or create the directory first")  # fmt: skip
        new_files = [p for p in _sqlite_paths(sqlite_file) if not p.exists()]
    elif parsed.get_backend_name() != "postgresql" and parsed.drivername.startswith("postgres"):
        raise BadInput(f"--database-url: write a PostgreSQL URL as {POSTGRES_URL_FORM} (not {parsed.drivername}://)")
    engine = None
    try:
        engine = make_engine(database_url)
        with engine.connect():
            pass
    except ArgumentError as exc:
        _remove(engine, new_files)
        raise BadInput(f"--database-url is not a valid database URL: {exc}") from exc
    except ModuleNotFoundError as exc:
        _remove(engine, new_files)
        if parsed.get_backend_name() == "postgresql":
            raise BadInput(
                "a PostgreSQL database needs the postgres extra (psycopg): install it where arena runs, e.g. "
                f".venv/bin/pip install -e '.[postgres]'; the URL form is {POSTGRES_URL_FORM}"
            ) from exc
        raise BadInput(f"cannot open the database: {exc}") from exc
    except OperationalError as exc:
        _remove(engine, new_files)
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise BadInput(f"cannot open the database: {reason}") from exc
    if new_files:
        _created[engine] = new_files
    return engine


def _sqlite_file(parsed) -> Path | None:
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _sqlite_paths(database: Path) -> list[Path]:
    return [database] + [database.with_name(database.name + suffix) for suffix in _SQLITE_SIDE_FILES]


def _remove(engine, files: list[Path]) -> None:
    """Remove the files opening a new SQLite database created (the command refused it)."""
    if engine is not None:
        engine.dispose()
    for path in files:
        path.unlink(missing_ok=True)


def require_schema(engine) -> None:
    # Not arena.migrate: checking the revision needs no Alembic (see arena.schema_revision).
    from arena.schema_revision import current_revision, head_revision

    current = current_revision(engine)
    if current == head_revision():
        return
    created = _created.pop(engine, None)
    if created:
        # A file this command just created: most likely a mistyped path. Leave nothing behind.
        _remove(engine, created)
        raise BadInput(f"no database at {created[0]}: check the path in --database-url, or create one there with "
                       "`arena init-db`")  # fmt: skip
    raise BadInput(f"the database schema is at {current or 'nothing'}, not the latest; run `arena init-db` first")


# Thread pools of the BLAS libraries numpy and scipy may load (OpenBLAS, OpenMP builds, MKL, Apple Accelerate).
_BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def single_threaded_blas() -> None:
    """One BLAS thread for the rest of this process, unless the operator chose a number. Call it before numpy is
    first imported: the libraries read these variables when they load. The rating math works on many small
    matrices (60 x 60) and the bootstrap already runs its own two threads; BLAS threads on top of them only contend
    for the cores (a 300,000-vote recompute on a 2-core machine: 3.5 s instead of 4.0 s)."""
    if "numpy" in sys.modules:  # too late for this process (a caller that imported it); children need not inherit it
        return
    for variable in _BLAS_THREAD_VARIABLES:
        os.environ.setdefault(variable, "1")


def print_json(payload) -> None:
    import json

    click.echo(json.dumps(payload))


@contextlib.contextmanager
def bad_input_from(*errors: type[Exception]):
    """These errors, raised inside, are bad input: their reason on one line, exit 2."""
    try:
        yield
    except errors as exc:
        raise BadInput(str(exc)) from exc


def env_settings():
    """The ARENA_* settings; a bad one is bad input."""
    from arena.config import ConfigError, Settings

    with bad_input_from(ConfigError):
        return Settings.from_env()


def open_database(database_url: str):
    """The engine of a database that exists and has the latest schema (otherwise bad input)."""
    engine = open_engine(database_url)
    require_schema(engine)
    return engine


def session_factory(database_url: str, *, read_only: bool = False):
    from arena.db import make_session_factory

    return make_session_factory(open_database(database_url), read_only=read_only)


def run_option(help: str):
    """--run: a rating run's id."""
    return click.option("--run", "run_id", type=click.IntRange(1), help=help)


@contextlib.contextmanager
def reading_runs(database_url: str, *errors: type[Exception]):
    """What a command that reads stored rating runs starts with: the provisional-votes setting, and a read-only
    session of the database in which `errors` are bad input."""
    provisional_votes = env_settings().provisional_votes
    with session_factory(database_url, read_only=True)() as session, bad_input_from(*errors):
        yield session, provisional_votes


def split_values(values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeatable options that also take comma-separated lists."""
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


class progress_bar:
    """A progress bar on stderr while it is a terminal (stdout stays clean for --json); silent otherwise."""

    def __init__(self, length: int, label: str) -> None:
        self._bar = click.progressbar(length=length, label=label, file=sys.stderr) if sys.stderr.isatty() else None
        self._done = 0

    def __enter__(self) -> progress_bar:
        if self._bar is not None:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)

    def reached(self, done: int) -> None:
        if self._bar is not None:
            self._bar.update(max(0, done - self._done))
        self._done = max(done, self._done)
