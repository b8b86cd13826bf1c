"""`arena worker` and `arena jobs enqueue|list`: recompute, generation, judging and export as queued jobs."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from arena.cli.common import BadInput, database_option, print_json, session_factory, single_threaded_blas, split_values
from arena.config import ConfigError, Settings


def _settings(database_url: str) -> Settings:
    try:
        return Settings.from_env(database_url=database_url).checked_jobs()
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc


@click.command("worker")
@database_option
@click.option("--heartbeat", default=30, show_default=True, type=click.IntRange(1, 3600),
              help="Seconds between a running job's heartbeats; a job whose worker died is requeued once two "
              "are missed.")  # fmt: skip
@click.option("--burst", is_flag=True, help="Run what is queued, then exit.")
@click.option("--no-schedule", is_flag=True, help="Only run jobs: queue no scheduled recompute from here.")
def worker_command(database_url: str, heartbeat: int, burst: bool, no_schedule: bool) -> None:
    """Run queued jobs: an RQ worker on ARENA_REDIS_URL, or without Redis, the jobs queued in the database
    (`job_run`) one at a time. Also queues the scheduled recomputes (ARENA_RECOMPUTE_EVERY_*)."""
    single_threaded_blas()  # before any job loads numpy
    from arena.cli.common import open_engine, require_schema
    from arena.queue import job_runs
    from arena.queue.schedule import Scheduler

    settings = _settings(database_url)
    engine = open_engine(database_url)
    require_schema(engine)
    if not settings.redis_url:
        scheduler = Scheduler(engine, settings, drain=True, schedule=not no_schedule)
        click.echo("arena worker: no ARENA_REDIS_URL: running the jobs queued in the database (Ctrl+C to stop)")
        if burst:
            job_runs.requeue_lost_here(scheduler.factory)
            scheduler.check()
            scheduler.run_queued()
            return
        with contextlib.suppress(KeyboardInterrupt):
            scheduler.run_forever()
        return
    import importlib.util

    if importlib.util.find_spec("rq") is None:
        raise BadInput("the queue on ARENA_REDIS_URL needs RQ: pip install -e '.[queue]'")
    from arena.db import make_session_factory
    from arena.queue import rq_queue

    factory = make_session_factory(engine)
    scheduler = None
    if not no_schedule and not burst:
        scheduler = Scheduler(engine, settings, lambda job_id: rq_queue.enqueue(settings.redis_url, factory, job_id))
    click.echo(f"arena worker: RQ queue {rq_queue.QUEUE_NAME!r} on {_redacted(settings.redis_url)}")
    rq_queue.run_worker(settings.redis_url, database_url, settings, heartbeat=heartbeat, burst=burst,
                        scheduler=scheduler)  # fmt: skip


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "redis"


@click.group("jobs")
def jobs_group() -> None:
    """Queued jobs: add one, see them."""


@jobs_group.group("enqueue")
def enqueue_group() -> None:
    """Queue a job: on RQ (ARENA_REDIS_URL) for `arena worker`, or in the database for the site's own thread."""


def _enqueue(database_url: str, kind: str, args: dict, attempts: int, as_json: bool) -> None:
    from arena.queue import job_runs

    settings = _settings(database_url)
    factory = session_factory(database_url)
    job_id = job_runs.create(factory, kind, args, max_attempts=attempts)
    queue = "database"
    if settings.redis_url:
        from arena.queue import rq_queue

        try:
            rq_queue.enqueue(settings.redis_url, factory, job_id, attempts)
        except Exception as exc:
            # Not left queued where nothing would run it: the row says why.
            job_runs.fail_unqueued(factory, job_id, f"could not reach the queue: {exc}")
            raise BadInput(f"cannot queue on ARENA_REDIS_URL: {str(exc).splitlines()[0]}") from exc
        queue = "rq"
    if as_json:
        print_json({"id": job_id, "kind": kind, "queue": queue, "args": args})
        return
    runner = "`arena worker`" if queue == "rq" else "`arena worker`, or a site with ARENA_JOBS=inline"
    click.echo(f"job {job_id} ({kind}) queued ({queue}); {runner} runs it. See `arena jobs list`.")


def _common(command):
    for option in reversed([
        click.option("--attempts", default=3, show_default=True, type=click.IntRange(1, 20),
                     help="Attempts in all before the job fails (a lost worker's attempt counts)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else."),
    ]):  # fmt: skip
        command = option(command)
    return database_option(command)


@enqueue_group.command("recompute")
@_common
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(2, 100_000))
@click.option("--seed", default=0, show_default=True, type=int)
def enqueue_recompute(database_url, attempts, as_json, bootstrap, seed) -> None:
    """A recompute with the vote filters of ARENA_* (one at a time: a second while one runs is skipped)."""
    _enqueue(database_url, "recompute", {"bootstrap": bootstrap, "seed": seed}, attempts, as_json)


@enqueue_group.command("generate")
@_common
@click.option("--models", "model_slugs", multiple=True, help="Only these model slugs (repeatable or a,b).")
@click.option("--prompts", "prompt_ids", multiple=True, help="Only these prompt ids (repeatable or 1,2).")
@click.option("--samples", default=1, show_default=True, type=click.IntRange(1))
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256))
@click.option("--max-cost", type=click.FloatRange(0), help="USD budget of this job.")
def enqueue_generate(database_url, attempts, as_json, model_slugs, prompt_ids, samples, concurrency,
                     max_cost) -> None:  # fmt: skip
    """Fill the missing replies (as `arena generate`)."""
    try:
        prompts = [int(p) for p in split_values(prompt_ids)]
    except ValueError as exc:
        raise BadInput(f"--prompts takes prompt ids (numbers), got {', '.join(prompt_ids)}") from exc
    args = {"models": list(split_values(model_slugs)), "prompts": prompts, "samples": samples,
            "concurrency": concurrency, "max_cost": max_cost}  # fmt: skip
    _enqueue(database_url, "generate", args, attempts, as_json)


@enqueue_group.command("judge")
@_common
@click.option("--judge-model", "judge", required=True, help="Slug of the registered judge model.")
@click.option("--models", "model_slugs", multiple=True, help="Only replies of these models.")
@click.option("--limit", type=click.IntRange(1), help="Score at most this many replies.")
@click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 256))
def enqueue_judge(database_url, attempts, as_json, judge, model_slugs, limit, concurrency) -> None:
    """Score replies on the EQ rubric (as `arena judge`)."""
    args = {"judge_model": judge, "models": list(split_values(model_slugs)), "limit": limit,
            "concurrency": concurrency}  # fmt: skip
    _enqueue(database_url, "judge", args, attempts, as_json)


@enqueue_group.command("export")
@_common
@click.option("--format", "fmt", type=click.Choice(["parquet", "jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path),
              help="Directory the worker writes into (a path on the worker's host).")  # fmt: skip
@click.option("--public", is_flag=True, help="Leave out private battles (the worker needs ARENA_SECRET_KEY).")
def enqueue_export(database_url, attempts, as_json, fmt, out_dir, public) -> None:
    """Battles, ratings and analysis for researchers (as `arena export`)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInput(f"{out_dir} exists and is not a directory")
    args = {"format": fmt, "out": str(out_dir.resolve()), "public": public}
    _enqueue(database_url, "export", args, attempts, as_json)


@jobs_group.command("list")
@database_option
@click.option("--kind", type=click.Choice(["recompute", "generate", "judge", "export"]))
@click.option("--status", type=click.Choice(["queued", "running", "succeeded", "failed", "skipped"]))
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout and nothing else.")
def jobs_list(database_url, kind, status, limit, as_json) -> None:
    """The newest jobs: status, attempts, why each was queued, the last error."""
    from arena.queue import job_runs

    with session_factory(database_url)() as session:
        rows = [job_runs.as_dict(r) for r in job_runs.recent(session, limit, kind, status)]
    if as_json:
        print_json({"jobs": rows})
        return
    if not rows:
        click.echo("no jobs")
        return
    click.echo(f"{'id':>6}  {'kind':<9} {'status':<9} {'tries':>5}  {'reason':<8} {'created':<25} last error / result")
    for row in rows:
        tries = f"{row['attempts']}/{row['max_attempts']}"
        detail = row["errors"][-1]["error"].strip().splitlines()[-1] if row["errors"] else _result(row["result"])
        click.echo(f"{row['id']:>6}  {row['kind']:<9} {row['status']:<9} {tries:>5}  {row['reason']:<8} "
                   f"{row['created_at']:<25} {detail[:80]}")  # fmt: skip


def _result(result: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in result.items() if not isinstance(v, dict | list))
