"""The `arena` command (DESIGN §5). Exit 0 on success, 2 with a one-line reason on bad input."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from functools import wraps
from pathlib import Path

import click

from arena.config import ConfigError, Settings, default_database_url, instance_path
from arena.services.records import FORMATS


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


@main.group("import")
def import_group() -> None:
    """Bring prompts, replies, votes or EQ scores in from files."""


def _import_file(database_url: str, path: Path, fmt: str | None, importer, *, progress: bool = False):
    """Read `path` with `importer(session, records[, progress])` in one transaction: all of it, or (on a bad
    record: exit 2 naming its line) nothing. Returns the importer's summary."""
    from arena.db import make_session_factory
    from arena.services.records import RecordError, detect_format, read_records

    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    try:
        fmt = detect_format(path, fmt)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    engine = open_engine(database_url)
    try:
        require_schema(engine)
        with make_session_factory(engine)() as session, progress_bar(path.stat().st_size, "importing") as bar:
            try:
                records = read_records(path, fmt)
                summary = importer(session, records, progress=bar.reached) if progress else importer(session, records)
                session.commit()
            except RecordError as exc:
                session.rollback()
                raise BadInput(f"{path.name}: {exc}; nothing was imported") from exc
    finally:
        # Callers other than the one-shot CLI (tests, scripts) import many files; each must not leave a pool.
        engine.dispose()
    return summary


@import_group.command("prompts")
@database_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file's extension.")
def import_prompts_command(database_url: str, file: Path, fmt: str | None) -> None:
    """Emotional messages: {"text": "...", "emotions": ["Sadness", {"name": "Shame", "intensity": 2}],
    "situation": "...", "need": "...", "language": "en"}, only text required. JSONL, CSV or Parquet.

    All or nothing: a malformed record stops the import, names its line, and leaves the database unchanged.
    A message already stored (same text, ignoring spacing) is kept as it is, so a re-import adds nothing."""
    from arena.services.prompt_import import import_prompts

    summary = _import_file(database_url, file, fmt, import_prompts)
    click.echo(f"{file.name}: {summary}")


@import_group.command("votes")
@database_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file's extension.")
def import_votes_command(database_url: str, file: Path, fmt: str | None) -> None:
    """Battles in the LMArena schema (model_a, model_b, winner, ...): JSONL, CSV or Parquet.

    All or nothing: a malformed record stops the import, names its line, and leaves the database unchanged.
    Records whose question_id is already present are skipped, so a re-import adds nothing."""
    from arena.services.vote_import import import_votes

    summary = _import_file(database_url, file, fmt, import_votes, progress=True)
    click.echo(f"{file.name}: {summary}")


@import_group.command("replies")
@database_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file's extension.")
def import_replies_command(database_url: str, file: Path, fmt: str | None) -> None:
    """Replies from a file: {"prompt": "...", "model": "<slug>", "reply": "..."} (or "prompt_id" for a stored
    prompt); optional emotions, situation, need, language for new prompts. Unknown prompts and models are made."""
    from arena.services.reply_import import import_replies

    summary = _import_file(database_url, file, fmt, import_replies)
    click.echo(f"{file.name}: {summary}")


@import_group.command("eq-scores")
@database_option
@click.argument("file", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--bundled", type=click.Choice(["eqbench"]), help="Load the published EQ-Bench scores shipped with EQ Arena."
)
def import_eq_scores_command(database_url: str, file: Path | None, bundled: str | None) -> None:
    """Model-level EQ scores: CSV with model, benchmark, snapshot, score[, ci_low, ci_high, trait columns, source]."""
    from arena.services.eq_scores import BUNDLED, import_eq_scores

    if (file is None) == (bundled is None):
        raise BadInput("give a FILE or --bundled eqbench (one of them)")
    path = BUNDLED[bundled] if bundled else file
    summary = _import_file(database_url, path, None, import_eq_scores)
    click.echo(f"{path.name}: {summary}")


@main.group("models")
def models_group() -> None:
    """The contestants."""


@models_group.command("alias")
@database_option
@click.argument("slug")
@click.argument("aliases", nargs=-1, required=True)
def alias_command(database_url: str, slug: str, aliases: tuple[str, ...]) -> None:
    """Other names of a model (as external benchmarks spell it), e.g. `arena models alias gpt-4-1 openai/gpt-4.1`."""
    from arena.db import make_session_factory
    from arena.services.eq_scores import add_alias

    engine = open_engine(database_url)
    require_schema(engine)
    with make_session_factory(engine)() as session:
        try:
            for alias in aliases:
                add_alias(session, slug, alias)
            session.commit()
        except (LookupError, ValueError) as exc:
            session.rollback()
            raise BadInput(str(exc)) from exc
    click.echo(f"{slug}: {len(aliases)} alias(es) recorded")


@main.group("ratings")
def ratings_group() -> None:
    """Rating snapshots from the votes."""


def _anchor(value: str | None) -> tuple[str | None, float]:
    if value is None:
        return None, 1000.0
    slug, _, score = value.partition("=")
    try:
        return slug, float(score) if score else 1000.0
    except ValueError as exc:
        raise BadInput(f"--anchor takes SLUG or SLUG=SCORE, got {value!r}") from exc


@ratings_group.command("recompute")
@database_option
@click.option("--bootstrap", "rounds", default=1000, show_default=True, type=click.IntRange(2, 100_000),
              help="Bootstrap rounds (bootstrap and cluster intervals).")  # fmt: skip
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--ci", type=click.Choice(["bootstrap", "sandwich", "cluster"]), default="bootstrap", show_default=True)
@click.option(
    "--category",
    "categories",
    multiple=True,
    help="'overall', an EmoNet group or category; repeatable. Default: overall and every group with votes.",
)
@click.option("--both-bad", type=click.Choice(["tie", "drop"]), default="tie", show_default=True)
@click.option("--anchor", help="Pin a model's score: SLUG or SLUG=SCORE (default score 1000).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def recompute_command(database_url, rounds, seed, ci, categories, both_bad, anchor, as_json) -> None:
    """Fit Bradley-Terry ratings with 95% intervals and store them as a new immutable snapshot."""
    import json

    from arena.db import make_session_factory
    from arena.services.recompute import RecomputeError, RecomputeRequest, recompute, run_ratings

    engine = open_engine(database_url)
    require_schema(engine)
    anchor_model, anchor_score = _anchor(anchor)
    request = RecomputeRequest(
        ci=ci, rounds=rounds, seed=seed, both_bad=both_bad, categories=tuple(categories) or None,
        anchor_model=anchor_model, anchor_score=anchor_score,
    )  # fmt: skip
    factory = make_session_factory(engine)
    try:
        result = recompute(factory, make_session_factory(engine, read_only=True), request)
    except RecomputeError as exc:
        raise BadInput(str(exc)) from exc
    primary = result.results[0]
    with factory() as session:
        rows = run_ratings(session, result.run_id, primary.category)
    ratings = [
        {
            "model": model.slug,
            "rating": round(r.rating, 3),
            "ci_low": round(r.ci_low, 3),
            "ci_high": round(r.ci_high, 3),
            "rank_ub": r.rank_ub,
            "battles": r.battles,
            "win_rate": None if r.win_rate is None else round(r.win_rate, 4),
        }
        for r, model in rows
    ]
    if as_json:
        payload = {
            "run_id": result.run_id,
            "n_votes": result.n_votes,
            "category": primary.category,
            "categories": [c.category for c in result.results],
            "ratings": ratings,
        }
        click.echo(json.dumps(payload))
        return
    click.echo(f"rating run {result.run_id}: {result.n_votes} votes, {len(ratings)} models, "
               f"{ci} intervals, categories: {', '.join(c.category for c in result.results)}")  # fmt: skip
    click.echo(f"{'rank':>4}  {'model':<40} {'rating':>8}  {'95% CI':>17}  {'battles':>8}")
    for row in ratings:
        click.echo(f"{row['rank_ub']:>4}  {row['model']:<40} {row['rating']:>8.1f}  "
                   f"[{row['ci_low']:>7.1f}, {row['ci_high']:>7.1f}]  {row['battles']:>8}")  # fmt: skip


@main.group("analysis")
def analysis_group() -> None:
    """What drives preference: EQ, length, format, sycophancy."""


@analysis_group.command("eq")
@database_option
@click.option(
    "--category",
    help="'overall', an EmoNet group or category. Default: overall (shown) and every group "
    "the rating run rated (stored for the analysis page).",
)
@click.option("--rating-run", "rating_run_id", type=int, help="Default: the latest run that rated the category.")
@click.option(
    "--min-eq-battles",
    default=50,
    show_default=True,
    type=click.IntRange(1),
    help="Battles with a reply-level EQ score on both sides needed before eq_overall enters the model.",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def analysis_eq_command(database_url, category, rating_run_id, min_eq_battles, seed, as_json) -> None:
    """Covariate coefficients (BT with style and EQ covariates), the EQ- and style-controlled leaderboard, and
    the rank correlation of arena ratings with model-level EQ benchmarks, for the latest rating run."""
    import json

    from arena.db import make_session_factory
    from arena.services.analysis import AnalysisError, analyse
    from arena.services.recompute import RecomputeError

    engine = open_engine(database_url)
    require_schema(engine)
    factory, reader = make_session_factory(engine), make_session_factory(engine, read_only=True)
    options = dict(rating_run_id=rating_run_id, min_eq_battles=min_eq_battles, seed=seed)
    try:
        result = analyse(factory, reader, category=category or "overall", **options)
    except (AnalysisError, RecomputeError) as exc:
        raise BadInput(str(exc)) from exc
    if category is None:
        from arena.models import RatingRun

        with reader() as session:
            run = session.get(RatingRun, result["rating_run_id"])
            groups = [c for c in run.params.get("categories", []) if c != "overall"]
        for group in groups:
            # A group the run rated but with too little to analyse: its analysis page says so.
            with contextlib.suppress(AnalysisError):
                analyse(factory, reader, category=group, **{**options, "rating_run_id": result["rating_run_id"]})
    if as_json:
        keys = ("rating_run_id", "n_battles", "coefficients", "correlations", "controlled_ratings")
        click.echo(json.dumps({**{k: result[k] for k in keys}, **{k: v for k, v in result.items() if k not in keys}}))
        return
    click.echo(
        f"analysis {result['analysis_run_id']} of rating run {result['rating_run_id']} ({result['category']}): "
        f"{result['n_battles']} battles"
    )
    click.echo(f"{'covariate':<16} {'log-odds':>9} {'95% CI':>19} {'per SD':>8} {'odds ratio':>10}")
    for c in result["coefficients"]:
        click.echo(
            f"{c['feature']:<16} {c['estimate']:>9.3f} [{c['ci_low']:>8.3f}, {c['ci_high']:>8.3f}] "
            f"{c['estimate_std']:>8.3f} {c['odds_ratio']:>10.3f}"
        )
    if result["dropped_covariates"]:
        click.echo(f"left out (unknown or constant): {', '.join(result['dropped_covariates'])}")
    for c in result["correlations"]:
        if c["method"] is None:
            click.echo(f"{c['benchmark']} {c['snapshot']}: {c['n_models']} models matched, too few to correlate")
        else:
            click.echo(
                f"{c['benchmark']} {c['snapshot']} {c['method']}: {c['estimate']:.3f} "
                f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}] over {c['n_models']} models"
            )


@main.command("export")
@database_option
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "csv"]), default="parquet", show_default=True)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory to write into (created if missing).",
)
@click.option("--public", is_flag=True, help="Leave out battles on messages flagged as crisis or personal data.")
def export_command(database_url: str, fmt: str, out_dir: Path, public: bool) -> None:
    """Battles (LMArena schema), ratings, analysis, a Kaggle-style view and a dataset card, for researchers."""
    from arena.db import make_session_factory
    from arena.services.export import export

    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir} exists and is not a directory")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ModuleNotFoundError as exc:
            raise BadInput("Parquet needs pyarrow: pip install -e '.[export]' (or use --format jsonl)") from exc
    engine = open_engine(database_url)
    require_schema(engine)
    with make_session_factory(engine, read_only=True)() as session:
        summary = export(session, out_dir, fmt, public=public)
    left_out = f", {summary.skipped_private} private battles left out" if public else ""
    click.echo(f"exported {summary.battles} battles{left_out} to {out_dir}: {', '.join(summary.files)}")


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
