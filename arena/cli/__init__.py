"""The `arena` command (DESIGN §5): one module per command group, the shared options and the one-line error
(exit 2) in `common`. Commands import their services inside the function, so `arena --help` stays fast and a
command never pays for another's imports (litellm, numpy, pyarrow)."""

from __future__ import annotations

import click

from arena.cli import export, imports, jobs, llm, models, ratings, report, site


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="eq-arena")
def main() -> None:
    """EQ Arena: anonymous battles between replies to emotional messages, rated by Bradley-Terry."""


for command in (
    site.init_db, site.demo, site.serve,
    imports.import_group, models.models_group,
    llm.generate_command, llm.judge_group,
    ratings.ratings_group, ratings.analysis_group,
    export.export_command, export.privacy_group,
    jobs.worker_command, jobs.jobs_group,
):  # fmt: skip
    main.add_command(command)
# Its own module (the analysis group lives in ratings.py): the report reads every study, and changes apart.
ratings.analysis_group.add_command(report.report_command)
