"""`arena import prompts|votes|replies|eq-scores`: files in, all or nothing."""

from __future__ import annotations

from pathlib import Path

import click

from arena.cli.common import BadInput, database_option, open_engine, progress_bar, require_schema
from arena.ingest.records import FORMATS

SOURCE_HELP = ("Where the file comes from, for the export's dataset card: a citation, a licence, a URL (one line). "
               "The card also lists the file's name, sha256 and rows.")  # fmt: skip


class NothingImported(Exception):
    """Every record of the file was invalid: nothing went in."""


def _source(source: str | None) -> str | None:
    from arena.ingest.file_provenance import check_source

    try:
        return check_source(source)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc


@click.group("import")
def import_group() -> None:
    """Bring prompts, replies, votes or EQ scores in from files."""


def import_file(database_url: str, path: Path, fmt: str | None, importer, *, progress: bool = False, on_error=None):
    """Read `path` with `importer(session, records[, progress])` in one transaction: all of it, or (on a bad
    record: exit 2 naming its line) nothing. `on_error` takes records the reader cannot read, instead of
    stopping. Returns the importer's summary."""
    from arena.db import make_session_factory
    from arena.ingest.records import RecordError, detect_format, read_records

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
                records = read_records(path, fmt, on_error)
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
    from arena.ingest.prompt_import import import_prompts

    summary = import_file(database_url, file, fmt, import_prompts)
    click.echo(f"{file.name}: {summary}")


@import_group.command("votes")
@database_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Default: from the file's extension (.json by its content)."
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Import the valid records and skip the others, each written with its line and reason to the report.",
)
@click.option(
    "--skip-report",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where --skip-invalid writes the skipped records (JSON lines). Default: FILE.skipped.jsonl beside FILE.",
)
@click.option(
    "--exclusive",
    is_flag=True,
    help="PostgreSQL: check foreign keys and build plain indexes once for the whole file, not per row (about "
    "twice as fast); the battle and vote tables are locked until the import ends, so the site waits. Needs the "
    "tables' owner.",
)
@click.option(
    "--parse-workers",
    type=click.IntRange(min=1),
    help="Processes that read and check a JSON-lines file's records while this one writes them. Default: one per "
    "core (at most 4) for a file of 32 MB or more, else 1 (this process reads it).",
)
@click.option("--source", "source", metavar="TEXT", help=SOURCE_HELP)
def import_votes_command(
    database_url: str, file: Path, fmt: str | None, skip_invalid: bool, skip_report: Path | None, exclusive: bool,
    parse_workers: int | None, source: str | None,
) -> None:  # fmt: skip
    """Battles as published: FastChat's battle schema (model_a, model_b, winner, judge or judge_hash, anony, tstamp,
    ...; JSON lines or clean_battle_*.json's JSON array), LMArena's 100k/140k columns and Kaggle's 55k CSV; JSONL,
    JSON, CSV or Parquet. A raw `judge` is hashed with ARENA_SECRET_KEY and never stored.

    All or nothing unless --skip-invalid: a malformed record stops the import, names its line, and leaves the
    database unchanged. Records whose question_id is already present are skipped, so a re-import adds nothing;
    records without one are told apart by content and occurrence (two identical lines are two votes)."""
    import dataclasses

    from sqlalchemy.exc import ProgrammingError

    from arena.config import ConfigError, Settings
    from arena.hashing import judge_key
    from arena.ingest.battle_records import MissingSecret, no_site_key
    from arena.ingest.file_provenance import file_sha256, record_file
    from arena.ingest.parsed_battles import JsonLinesFile, default_workers
    from arena.ingest.records import detect_format
    from arena.ingest.skip_report import SkipReport, default_report_path
    from arena.ingest.vote_import import ImportBusy, import_votes

    if skip_report is not None and not skip_invalid:
        raise BadInput("--skip-report goes with --skip-invalid")
    source = _source(source)
    sha256 = file_sha256(file) if file.is_file() else None
    try:
        # The secret keys every voter hash the import stores: a weak one is refused here as at the site's start.
        secret = Settings.from_env().checked_secrets().secret_key
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    hash_judge = (lambda raw: judge_key(secret, raw)) if secret else no_site_key
    report = SkipReport(skip_report or default_report_path(file)) if skip_invalid and file.is_file() else None
    unread = 0

    def unreadable(error, record) -> None:
        nonlocal unread
        unread += 1
        report(error, record)

    def importer(session, records, progress):
        workers = parse_workers or default_workers(file)
        if workers > 1 and detect_format(file, fmt) == "jsonl":
            # Worker processes read the JSON-lines file instead of the reader import_file opened (which has not
            # read anything yet): the same records, parsed on every core.
            records = JsonLinesFile(file, unreadable if report else None, workers)
        summary = import_votes(session, records, progress, exclusive=exclusive, hash_judge=hash_judge, skip=report,
                               file_scope=sha256)  # fmt: skip
        if report is not None and summary.imported == 0 and summary.skipped == 0 and report.count + unread:
            raise NothingImported
        record_file(session, "votes", file, sha256, summary.read + unread, summary.imported, source,
                    anony=summary.anony, invalid=summary.invalid + unread)  # fmt: skip
        return summary

    try:
        summary = import_file(database_url, file, fmt, importer, progress=True, on_error=unreadable if report else None)
    except NothingImported:
        # The skipped records are the whole story: keep their report for fixing.
        report.keep()
        raise BadInput(f"{file.name}: every record was invalid ({report.count} skipped, each with its reason in "
                       f"{report.path}); nothing was imported") from None  # fmt: skip
    except BaseException as exc:
        if report is not None:
            report.discard()
        if isinstance(exc, ImportBusy):
            raise BadInput(f"{file.name}: {exc}; nothing was imported") from exc
        if isinstance(exc, ProgrammingError) and exclusive and "must be owner" in str(exc):
            raise BadInput("--exclusive needs the owner of the battle and vote tables; import without it") from exc
        if isinstance(exc, MissingSecret):
            raise BadInput(f"{file.name}: {exc}; nothing was imported") from exc
        raise
    if report is not None and report.count:
        report.keep()
        summary = dataclasses.replace(summary, read=summary.read + unread, invalid=report.count)
        click.echo(f"{file.name}: {summary} (skipped records: {report.path})")
        return
    if report is not None:
        report.discard()
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
@click.option(
    "--turns",
    type=click.Choice(["first", "all"]),
    help="With --format eqbench4: keep only each transcript's first answer (first, the default) or also the whole "
    "conversation, the persona's initial state and the published judge scores (all).",
)
@click.option("--source", "source", metavar="TEXT", help=SOURCE_HELP)
def import_replies_command(database_url: str, file: Path, fmt: str | None, turns: str | None, source: str | None):
    """Replies from a file: {"prompt": "...", "model": "<slug>", "reply": "..."} (or "prompt_id" for a stored
    prompt); optional emotions, situation, need, language for new prompts. Unknown prompts and models are made.
    With --format eqbench4, FILE is a directory of EQ-Bench 4 transcripts: each opening user message becomes a
    prompt (tagged with the scenario's category), each first assistant turn that model's reply; --turns all also
    keeps every turn of each transcript (for transcript battles)."""
    from arena.ingest.file_provenance import file_sha256, record_file
    from arena.ingest.reply_import import import_replies

    if turns is not None and fmt != "eqbench4":
        raise BadInput("--turns goes with --format eqbench4")
    source = _source(source)
    if fmt == "eqbench4":
        if source is not None:
            raise BadInput("--source is recorded per file; a directory of transcripts is not one file")
        summary = _import_transcripts(database_url, file, whole=turns == "all")
    else:
        if file.is_dir():
            raise BadInput(f"{file} is a directory; for EQ-Bench 4 transcripts pass --format eqbench4")
        sha256 = file_sha256(file) if file.is_file() else None

        def importer(session, records):
            summary = import_replies(session, records)
            record_file(session, "replies", file, sha256, summary.read, summary.replies, source)
            return summary

        summary = import_file(database_url, file, fmt, importer)
    click.echo(f"{file.name}: {summary}")


def _import_transcripts(database_url: str, directory: Path, *, whole: bool = False):
    """EQ-Bench 4 transcripts, all or nothing like any other import; a bad transcript is named by its file.
    `whole`: every turn too (arena.ingest.transcript_import)."""
    from arena.db import make_session_factory
    from arena.ingest.eqbench4 import read_full_transcripts, read_transcripts, transcript_files
    from arena.ingest.records import RecordError
    from arena.ingest.reply_import import import_replies
    from arena.ingest.transcript_import import import_transcripts

    if not directory.is_dir():
        raise BadInput(f"{directory}: not a directory of EQ-Bench 4 transcripts (<model>/<n>.json)")
    files = transcript_files(directory)
    if not files:
        raise BadInput(f"{directory}: no transcripts found (expected <model>/<n>.json files)")
    engine = open_engine(database_url)
    require_schema(engine)
    with make_session_factory(engine)() as session:
        try:
            if whole:
                summary = import_transcripts(session, read_full_transcripts(files))
            else:
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
    "--bundled",
    type=click.Choice(["eqbench", "eqbench4"]),
    help="Load published scores shipped with EQ Arena: eqbench (EQ-Bench 3 and v2) or eqbench4 (EQ-Bench 4 Elo "
    "with intervals and ability scores, named as in its transcripts).",
)
def import_eq_scores_command(database_url: str, file: Path | None, bundled: str | None) -> None:
    """Model-level EQ scores: CSV with model, benchmark, snapshot, score[, ci_low, ci_high, trait columns, source]."""
    from arena.ingest.eq_scores import BUNDLED, import_eq_scores

    if (file is None) == (bundled is None):
        raise BadInput("give a FILE or --bundled eqbench|eqbench4 (one of them)")
    path = BUNDLED[bundled] if bundled else file
    summary = import_file(database_url, path, None, import_eq_scores)
    click.echo(f"{path.name}: {summary}")
