"""`arena analysis report`: a rating run and its analyses as HTML, Markdown and CSV, for a paper's reader."""

from __future__ import annotations

from pathlib import Path

import click

from arena.cli.common import BadInput, database_option, json_option, print_json, reading_runs, run_option


@click.command("report")
@database_option
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory to write (created; an earlier report there is replaced whole).")  # fmt: skip
@run_option("A rating run's id. Default: the newest complete run.")
@json_option
def report_command(database_url, out_dir: Path, run_id: int | None, as_json: bool) -> None:
    """A reproducible report of a rating run and its analyses: self-contained HTML (figures inline, no network),
    the same in Markdown, and CSV tables, every number as /api serves it for that run."""
    from arena.web.report import ReportError, build, write

    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"--out {out_dir} exists and is not a directory")
    with reading_runs(database_url, ReportError) as (session, provisional_votes):
        try:
            report = build(session, run_id, provisional_votes, out_name=str(out_dir))
            files = write(report, out_dir)
        except OSError as exc:
            raise BadInput(f"cannot write the report to {out_dir}: {exc.strerror or exc}") from exc
    if not report.analysis_run_ids:
        click.echo(f"arena: warning: no analysis of rating run {report.run_id} is stored, so the report has no "
                   f"effects; run `arena analysis eq --rating-run {report.run_id}` first", err=True)  # fmt: skip
    if as_json:
        print_json({"out": str(out_dir), "run_id": report.run_id, "analysis_run_ids": report.analysis_run_ids,
                    "api": sorted(report.api), "files": files})  # fmt: skip
        return
    analyses = ", ".join(map(str, report.analysis_run_ids)) or "none"
    click.echo(f"report of rating run {report.run_id} (analysis runs: {analyses}) written to {out_dir}: "
               f"report.html, report.md and {sum(f.endswith('.csv') for f in files)} CSV tables")  # fmt: skip
