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
@click.option(
    "--exclusive",
    is_flag=True,
    help="PostgreSQL: check foreign keys and build plain indexes once for the whole file, not per row (about "
    "twice as fast); the battle and vote tables are locked until the import ends, so the site waits. Needs the "
    "tables' owner.",
)
def import_votes_command(database_url: str, file: Path, fmt: str | None, exclusive: bool) -> None:
    """Battles in the LMArena schema (model_a, model_b, winner, ...): JSONL, CSV or Parquet.

    All or nothing: a malformed record stops the import, names its line, and leaves the database unchanged.
    Records whose question_id is already present are skipped, so a re-import adds nothing."""
    from sqlalchemy.exc import ProgrammingError

    from arena.services.vote_import import import_votes

    def importer(session, records, progress):
        return import_votes(session, records, progress, exclusive=exclusive)

    try:
        summary = _import_file(database_url, file, fmt, importer, progress=True)
    except ProgrammingError as exc:
        if exclusive and "must be owner" in str(exc):
            raise BadInput("--exclusive needs the owner of the battle and vote tables; import without it") from exc
        raise
    click.echo(f"{file.name}: {summary}")


@import_group.command("replies")
@database_option
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice((*FORMATS, "eqbench4")),
    help="Default: from the file's extension. eqbench4: FILE is a directory of EQ-Bench 4 transcripts "
    "(<model>/<n>.json).",
)
def import_replies_command(database_url: str, file: Path, fmt: str | None) -> None:
    """Replies from a file: {"prompt": "...", "model": "<slug>", "reply": "..."} (or "prompt_id" for a stored
    prompt); optional emotions, situation, need, language for new prompts. Unknown prompts and models are made.
    With --format eqbench4, FILE is a directory of EQ-Bench 4 transcripts: each opening user message becomes a
    prompt (tagged with the scenario's category), each first assistant turn that model's reply."""
    from arena.services.reply_import import import_replies

    if fmt == "eqbench4":
        summary = _import_transcripts(database_url, file)
    else:
        if file.is_dir():
            raise BadInput(f"{file} is a directory; for EQ-Bench 4 transcripts pass --format eqbench4")
        summary = _import_file(database_url, file, fmt, import_replies)
    click.echo(f"{file.name}: {summary}")


def _import_transcripts(database_url: str, directory: Path):
    """EQ-Bench 4 transcripts, all or nothing like any other import; a bad transcript is named by its file."""
    from arena.db import make_session_factory
    from arena.services.eqbench4 import read_transcripts, transcript_files
    from arena.services.records import RecordError
    from arena.services.reply_import import import_replies

    if not directory.is_dir():
        raise BadInput(f"{directory}: not a directory of EQ-Bench 4 transcripts (<model>/<n>.json)")
    files = transcript_files(directory)
    if not files:
        raise BadInput(f"{directory}: no transcripts found (expected <model>/<n>.json files)")
    engine = open_engine(database_url)
    require_schema(engine)
    with make_session_factory(engine)() as session:
        try:
            summary = import_replies(session, read_transcripts(files))
            session.commit()
        except RecordError as exc:
            session.rollback()
            where = files[exc.line - 1]
            reason = str(exc).removeprefix(f"line {exc.line}: ")
            if not reason.startswith(f"{where.parent.name}/"):
                reason = f"{where.parent.name}/{where.name}: {reason}"
            raise BadInput(f"{reason}; nothing was imported") from exc
    return summary


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


def _print_json(payload) -> None:
    import json

    click.echo(json.dumps(payload))


def _session_factory(database_url: str):
    from arena.db import make_session_factory

    engine = open_engine(database_url)
    require_schema(engine)
    return make_session_factory(engine)


@models_group.command("add")
@database_option
@click.argument("slug")
@click.option("--litellm", "litellm_model", required=True, help="litellm model string, e.g. openai/gpt-4.1-mini.")
@click.option("--display", help="Display name (default: the slug).")
@click.option("--provider", help="Default: the litellm model's prefix.")
@click.option("--api-base", help="Base URL of an OpenAI-compatible endpoint.")
@click.option("--api-key-env", help="NAME of the environment variable holding the API key (its value is never stored).")
@click.option("--fallback", "fallbacks", multiple=True, help="Slug of a model to try when this one fails; repeatable.")
@click.option("--input-cost-per-token", type=float, help="USD, for models litellm has no price for.")
@click.option("--output-cost-per-token", type=float, help="USD, for models litellm has no price for.")
@click.option("--inactive", is_flag=True, help="Register without taking part in generation and battles.")
def models_add_command(database_url, slug, litellm_model, display, provider, api_base, api_key_env, fallbacks,
                       input_cost_per_token, output_cost_per_token, inactive) -> None:  # fmt: skip
    """Register a model (or update its litellm settings); its replies, votes and ratings are kept."""
    from arena.db import transaction
    from arena.services.registry import ModelSpec, RegistryError, check_fallbacks, upsert_model

    meta = {
        "api_base": api_base, "api_key_env": api_key_env, "fallbacks": list(fallbacks) or None,
        "input_cost_per_token": input_cost_per_token, "output_cost_per_token": output_cost_per_token,
    }  # fmt: skip
    spec = ModelSpec(slug, litellm_model, display=display, provider=provider, active=False if inactive else None,
                     meta={k: v for k, v in meta.items() if v is not None})  # fmt: skip
    factory = _session_factory(database_url)
    try:
        spec.validate()
        with transaction(factory) as session:
            state = upsert_model(session, spec)
            check_fallbacks(session)
    except RegistryError as exc:
        raise BadInput(str(exc)) from exc
    click.echo(f"{slug}: {state}")


@models_group.command("list")
@database_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def models_list_command(database_url: str, as_json: bool) -> None:
    """Every model, active or not, with how it is reached (key variable names, never values)."""
    from arena.services.registry import list_models

    with _session_factory(database_url)() as session:
        models = list_models(session)
    if as_json:
        _print_json({"models": models})
        return
    click.echo(f"{'model':<32} {'active':<7} {'litellm model':<40} {'api key from':<20} fallbacks")
    for m in models:
        click.echo(f"{m['slug']:<32} {'yes' if m['active'] else 'no':<7} {m['litellm_model'] or '-':<40} "
                   f"{m['api_key_env'] or '-':<20} {', '.join(m['fallbacks'] or []) or '-'}")  # fmt: skip


@models_group.command("sync")
@database_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def models_sync_command(database_url: str, file: Path) -> None:
    """Register every model of a TOML file of [[models]] tables (all of them, or on an error none). Models not in
    the file are left as they are."""
    from arena.db import transaction
    from arena.services.registry import RegistryError, read_models_toml, sync_models

    if not file.is_file():
        raise BadInput(f"{file}: no such file")
    factory = _session_factory(database_url)
    try:
        specs = read_models_toml(file)
        with transaction(factory) as session:
            counts = sync_models(session, specs)
    except RegistryError as exc:
        raise BadInput(f"{exc}; nothing was changed") from exc
    click.echo(f"{file.name}: {counts['added']} added, {counts['updated']} updated, {counts['unchanged']} unchanged")


def _set_active(database_url: str, slugs: tuple[str, ...], active: bool) -> None:
    from arena.db import transaction
    from arena.services.registry import RegistryError, set_active

    factory = _session_factory(database_url)
    try:
        with transaction(factory) as session:
            changed = sum(set_active(session, slug, active) for slug in slugs)
    except RegistryError as exc:
        raise BadInput(f"{exc}; nothing was changed") from exc
    click.echo(f"{changed} model(s) {'activated' if active else 'deactivated'}")


@models_group.command("activate")
@database_option
@click.argument("slugs", nargs=-1, required=True)
def models_activate_command(database_url: str, slugs: tuple[str, ...]) -> None:
    """Let models take part again (generation, battles)."""
    _set_active(database_url, slugs, True)


@models_group.command("deactivate")
@database_option
@click.argument("slugs", nargs=-1, required=True)
def models_deactivate_command(database_url: str, slugs: tuple[str, ...]) -> None:
    """Take models out of generation and new battles; their replies, votes and ratings are kept."""
    _set_active(database_url, slugs, False)


def _llm_options(command):
    """Concurrency, timeout and retry options shared by `generate` and `judge`."""
    options = [
        click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256)),
        click.option(
            "--timeout",
            default=60.0,
            show_default=True,
            type=click.FloatRange(0.01),
            help="Seconds per call (the whole reply).",
        ),
        click.option(
            "--retries",
            default=2,
            show_default=True,
            type=click.IntRange(0, 20),
            help="Retries after a timeout, rate limit, provider error or broken reply.",
        ),
        click.option(
            "--backoff",
            default=1.0,
            show_default=True,
            type=click.FloatRange(0),
            help="Seconds before the first retry; doubles each time (at most 30).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _split(values: tuple[str, ...]) -> tuple[str, ...]:
    """Repeatable options that also take comma-separated lists."""
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


def _require_litellm() -> None:
    import importlib.util

    # Only whether it is installed: importing it takes seconds, and bad input should fail fast.
    if importlib.util.find_spec("litellm") is None:
        raise BadInput("calling models needs litellm: pip install -e '.[llm]'")


@main.command("generate")
@database_option
@click.option("--models", "model_slugs", multiple=True, help="Only these model slugs (repeatable or comma-separated).")
@click.option("--prompts", "prompt_ids", multiple=True, help="Only these prompt ids (repeatable or comma-separated).")
@_llm_options
@click.option("--max-cost", type=click.FloatRange(0), help="USD budget: no call starts that could pass it.")
@click.option("--dry-run", is_flag=True, help="Show the planned calls and their estimated cost; call nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def generate_command(database_url, model_slugs, prompt_ids, concurrency, timeout, retries, backoff, max_cost,
                     dry_run, as_json) -> None:  # fmt: skip
    """Fill every missing (active prompt, active model) reply through litellm; resumable, never duplicates."""
    from arena.services.generation import GenerationInputError, GenerationOptions, generate, plan_generation
    from arena.services.retry import RetryPolicy

    slugs = _split(model_slugs)
    try:
        ids = tuple(int(i) for i in _split(prompt_ids))
    except ValueError as exc:
        raise BadInput(f"--prompts takes prompt ids (numbers), got {', '.join(prompt_ids)}") from exc
    options = GenerationOptions(
        models=slugs, prompt_ids=ids, concurrency=concurrency, max_cost=max_cost,
        retry=RetryPolicy(attempts=retries + 1, base_delay=backoff, timeout=timeout),
    )  # fmt: skip
    factory = _session_factory(database_url)
    _require_litellm()
    try:
        with factory() as session:
            plan = plan_generation(session, options)
    except GenerationInputError as exc:
        raise BadInput(str(exc)) from exc
    planned = plan.as_dict()
    if dry_run:
        if as_json:
            _print_json({"dry_run": True, **planned})
            return
        unpriced = f" (+ {planned['unpriced_calls']} calls with unknown price)" if planned["unpriced_calls"] else ""
        click.echo(f"{planned['planned_calls']} calls planned, estimated cost "
                   f"${planned['estimated_cost_usd']:.4f}{unpriced}")  # fmt: skip
        for slug, n in planned["per_model"].items():
            click.echo(f"  {slug:<32} {n:>6} calls")
        return
    with progress_bar(len(plan.calls), "generating") as bar:
        summary = generate(factory, options, plan=plan, progress=bar.reached)
    if as_json:
        _print_json({**planned, **summary.as_dict()})
        return
    click.echo(summary.line() if plan.calls else "nothing to generate: every reply is there")


@main.group("judge", invoke_without_command=True)
@database_option
@click.option("--judge-model", "judge", help="Slug of the registered judge model (required to score).")
@click.option("--models", "model_slugs", multiple=True, help="Only replies of these models (repeatable or a,b).")
@click.option("--limit", type=click.IntRange(1), help="Score at most this many replies.")
@_llm_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
@click.pass_context
def judge_group(ctx, database_url, judge, model_slugs, limit, concurrency, timeout, retries, backoff, as_json):
    """Score replies on the EQ rubric with a judge model (resumable); `arena judge agreement` compares the judge
    with the human votes."""
    if ctx.invoked_subcommand is not None:
        return
    from arena.services.judging import JudgeInputError, JudgeOptions, judge_model, judge_replies, plan_judging
    from arena.services.retry import RetryPolicy

    if not judge:
        raise BadInput("--judge-model SLUG is required (a model registered with `arena models add`)")
    options = JudgeOptions(
        judge=judge, models=_split(model_slugs), limit=limit, concurrency=concurrency,
        retry=RetryPolicy(attempts=retries + 1, base_delay=backoff, timeout=timeout),
    )  # fmt: skip
    factory = _session_factory(database_url)
    _require_litellm()
    try:
        with factory() as session:
            model, tasks = judge_model(session, judge), plan_judging(session, options)
    except JudgeInputError as exc:
        raise BadInput(str(exc)) from exc
    with progress_bar(len(tasks), "judging") as bar:
        summary = judge_replies(factory, options, model=model, tasks=tasks, progress=bar.reached)
    if as_json:
        _print_json({"judge": judge, "planned": len(tasks), **summary.as_dict()})
        return
    click.echo(summary.line(judge) if tasks else f"{judge}: nothing to score: every reply has its scores")


@judge_group.command("agreement")
@database_option
@click.option("--judge-model", "judge", required=True, help="Slug of the judge whose scores to compare.")
@click.option("--bootstrap", "rounds", default=2000, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def judge_agreement_command(database_url, judge, rounds, seed, as_json) -> None:
    """How often the judge's preferred reply (higher overall score) matches the human vote: accuracy and Cohen's
    kappa with 95% bootstrap intervals. `decisive`: votes for A or B (a judge tie counts as a miss);
    `three_way`: all votes, both_bad read as a tie."""
    from arena.services.judging import judge_agreement

    with _session_factory(database_url)() as session:
        result = judge_agreement(session, judge, rounds=rounds, seed=seed)
    if as_json:
        _print_json(result)
        return
    click.echo(f"{judge}: {result['n_battles']} voted battles with both replies scored "
               f"({result['judge_ties']} judged equal)")  # fmt: skip
    for view in ("decisive", "three_way"):
        stats = result[view]
        if not stats["n"]:
            click.echo(f"  {view:<10} n=0: nothing to compare")
            continue
        kappa = "undefined" if stats["kappa"] is None else f"{stats['kappa']:.3f}"
        click.echo(f"  {view:<10} n={stats['n']:<6} accuracy {stats['accuracy']:.3f} {_ci(stats['accuracy_ci'])}  "
                   f"kappa {kappa} {_ci(stats['kappa_ci'])}")  # fmt: skip


def _ci(bounds) -> str:
    low, high = bounds
    return "[-]" if low is None else f"[{low:.3f}, {high:.3f}]"


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


def _filter_settings():
    from arena.services.vote_filters import FilterSettings

    try:
        settings = Settings.from_env().checked_filters()
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    return FilterSettings(settings.daily_vote_cap, settings.filter_min_votes, settings.filter_alpha)


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
@click.option(
    "--no-filters",
    is_flag=True,
    help="Skip the vote-quality filters (and lift their earlier exclusions); other exclusions stay.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def recompute_command(database_url, rounds, seed, ci, categories, both_bad, anchor, no_filters, as_json) -> None:
    """Fit Bradley-Terry ratings with 95% intervals and store them as a new immutable snapshot."""
    import json

    from arena.db import make_session_factory
    from arena.services.recompute import RecomputeRequest, recompute
    from arena.services.snapshots import RecomputeError, run_ratings

    filters = None if no_filters else _filter_settings()
    engine = open_engine(database_url)
    require_schema(engine)
    anchor_model, anchor_score = _anchor(anchor)
    request = RecomputeRequest(
        ci=ci, rounds=rounds, seed=seed, both_bad=both_bad, categories=tuple(categories) or None,
        anchor_model=anchor_model, anchor_score=anchor_score, filters=filters,
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
            "excluded": result.excluded,
            "filters": result.filters.as_params(),
        }
        click.echo(json.dumps(payload))
        return
    click.echo(f"rating run {result.run_id}: {result.n_votes} votes, {len(ratings)} models, "
               f"{ci} intervals, categories: {', '.join(c.category for c in result.results)}")  # fmt: skip
    if result.excluded:
        reasons = ", ".join(f"{n} {reason or '(no reason)'}" for reason, n in result.excluded.items())
        click.echo(f"not counted: {reasons}")
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
    from arena.services.snapshots import RecomputeError

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


@main.group("privacy")
def privacy_group() -> None:
    """Visitors' data: deletion on request."""


@privacy_group.command("delete")
@database_option
@click.option("--visitor-key", required=True, help="The visitor key (32 hex digits) the visitor sent, from /privacy.")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted, delete nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def privacy_delete_command(database_url: str, visitor_key: str, dry_run: bool, as_json: bool) -> None:
    """Delete a visitor's votes, battles, messages and terms acceptance, in one transaction (as /privacy does)."""
    import json

    from arena.db import make_session_factory
    from arena.services.privacy import BadVisitorKey, delete_visitor_data, normalise_visitor_key

    try:
        key = normalise_visitor_key(visitor_key)
    except BadVisitorKey as exc:
        raise BadInput(str(exc)) from exc
    engine = open_engine(database_url)
    require_schema(engine)
    with make_session_factory(engine)() as session:
        summary = delete_visitor_data(session, key)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    if as_json:
        click.echo(json.dumps({"visitor_key": key, "dry_run": dry_run, **summary.as_dict()}))
        return
    verb = "would delete" if dry_run else "deleted"
    click.echo(
        f"{key}: {verb} {summary.votes} votes, {summary.battles} battles, {summary.prompts} messages "
        f"({summary.replies} replies), {summary.terms_acceptances} terms acceptances; "
        f"{summary.others_votes_detached} other visitors' votes kept without the message"
    )


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
    from arena.dev_server import PrivateRequestHandler

    try:
        app = create_app(settings)
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    click.echo(f"EQ Arena on http://{host}:{port}/  (Ctrl+C to stop)")
    sys.stdout.flush()
    run_simple(host, port, app, threaded=True, use_reloader=False, request_handler=PrivateRequestHandler)


if __name__ == "__main__":  # pragma: no cover
    main()
