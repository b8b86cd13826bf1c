"""What every `arena` command shares: the database option, opening and checking the database, the one-line
error (exit 2), JSON output and progress bars."""

from __future__ import annotations

import os
import sys
from functools import wraps

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
    # Not arena.migrate: checking the revision needs no Alembic (see arena.schema_revision).
    from arena.schema_revision import current_revision, head_revision

    current = current_revision(engine)
    if current != head_revision():
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


def session_factory(database_url: str):
    from arena.db import make_session_factory

    engine = open_engine(database_url)
    require_schema(engine)
    return make_session_factory(engine)


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
