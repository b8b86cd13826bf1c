"""`arena export` and `arena privacy delete`: data out for researchers, and visitors' data removed on request."""

from __future__ import annotations

from pathlib import Path

import click

from arena.cli.common import BadInput, database_option, open_engine, require_schema


@click.command("export")
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
    from arena.jobs.export import ExportError, export

    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir} exists and is not a directory")
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ModuleNotFoundError as exc:
            raise BadInput("Parquet needs pyarrow: pip install -e '.[export]' (or use --format jsonl)") from exc
    secret = _public_secret() if public else None
    engine = open_engine(database_url)
    require_schema(engine)
    with make_session_factory(engine, read_only=True)() as session:
        try:
            summary = export(session, out_dir, fmt, public=public, secret_key=secret)
        except ExportError as exc:
            raise BadInput(str(exc)) from exc
    left_out = f", {summary.skipped_private} private battles left out" if public else ""
    click.echo(f"exported {summary.battles} battles{left_out} to {out_dir}: {', '.join(summary.files)}")


def _public_secret() -> str:
    """The site's secret, which keys the public export's voter pseudonyms: the same secret, the same pseudonyms."""
    from arena.config import ConfigError, Settings

    try:
        secret = Settings.from_env().checked_secrets().secret_key
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc
    if not secret:
        raise BadInput(
            "--public needs the site's ARENA_SECRET_KEY in the environment: it keys the voters' public pseudonyms "
            "(the same secret gives the same pseudonyms in every export)"
        )
    return secret


@click.group("privacy")
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
    from arena.voting.privacy import BadVisitorKey, delete_visitor_data, normalise_visitor_key

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
