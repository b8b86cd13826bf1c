"""What each kind of job does, from its stored options: the same services the commands call (`arena ratings
recompute`, `arena generate`, `arena judge`, `arena export`). A task returns a small JSON summary; it raises
JobSkipped when there was nothing to do (another recompute holds the lock, no votes to rate yet) and BadJob when
its options cannot work (retrying would not help); any other exception is a failed attempt, retried."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from arena.config import Settings
from arena.db import make_session_factory

# The options each kind takes (what `arena jobs enqueue KIND` accepts), with their defaults.
OPTIONS: dict[str, dict[str, Any]] = {
    "recompute": {"bootstrap": 1000, "seed": 0},
    "generate": {
        "models": [],
        "prompts": [],
        "samples": 1,
        "concurrency": 4,
        "max_cost": None,
        "retries": 2,
        "timeout": 60.0,
    },  # fmt: skip
    "judge": {"judge_model": None, "models": [], "limit": None, "concurrency": 4, "retries": 2, "timeout": 60.0},
    "export": {"format": "jsonl", "out": None, "public": False},
}


class JobSkipped(Exception):
    """Nothing to do this time; `result` says why (and, for a recompute, the votes it saw)."""

    def __init__(self, reason: str, result: dict | None = None) -> None:
        super().__init__(reason)
        self.result = {"skipped": reason, **(result or {})}


class BadJob(Exception):
    """The job's options cannot work: failed at once, not retried."""


def run_task(engine: Engine, kind: str, args: dict[str, Any], settings: Settings) -> dict[str, Any]:
    return _TASKS[kind](engine, {**OPTIONS[kind], **args}, settings)


def vote_watermark(engine: Engine) -> int:
    """The newest vote's id: the end of a B-tree (an index read on both databases, never a scan)."""
    from arena.models import Vote

    with make_session_factory(engine, read_only=True)() as session:
        return int(session.scalar(select(func.max(Vote.id))) or 0)


def _recompute(engine: Engine, args: dict, settings: Settings) -> dict:
    from arena.jobs.recompute import RecomputeRequest, recompute
    from arena.jobs.recompute_lock import RecomputeBusy, recompute_lock
    from arena.jobs.snapshots import RecomputeError
    from arena.jobs.vote_filters import FilterSettings

    filters = FilterSettings(settings.daily_vote_cap, settings.filter_min_votes, settings.filter_alpha)
    request = RecomputeRequest(rounds=int(args["bootstrap"]), seed=int(args["seed"]), filters=filters)
    try:
        with recompute_lock(engine, wait=False):
            # Read before the recompute's own read: votes cast in between are counted but not in the watermark,
            # so the next recompute comes a little early rather than late.
            watermark = vote_watermark(engine)
            try:
                result = recompute(make_session_factory(engine), make_session_factory(engine, read_only=True),
                                   request)  # fmt: skip
            except RecomputeError as exc:
                # Too few votes yet (fewer than two models): the schedule waits for new votes, not a retry.
                raise JobSkipped(str(exc), {"vote_watermark": watermark}) from exc
    except RecomputeBusy as exc:
        raise JobSkipped(str(exc)) from exc
    return {"rating_run_id": result.run_id, "n_votes": result.n_votes, "vote_watermark": watermark}


def _retry(args: dict):
    from arena.llm.retry import RetryPolicy

    return RetryPolicy(attempts=int(args["retries"]) + 1, timeout=float(args["timeout"]))


def _generate(engine: Engine, args: dict, settings: Settings) -> dict:
    from arena.llm.generation import GenerationInputError, GenerationOptions, generate, plan_generation

    options = GenerationOptions(
        models=tuple(args["models"]), prompt_ids=tuple(int(p) for p in args["prompts"]),
        concurrency=int(args["concurrency"]), max_cost=args["max_cost"], samples=int(args["samples"]),
        retry=_retry(args),
    )  # fmt: skip
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            plan = plan_generation(session, options)
    except GenerationInputError as exc:
        raise BadJob(str(exc)) from exc
    return {"planned_calls": len(plan.calls), **generate(factory, options, plan=plan).as_dict()}


def _judge(engine: Engine, args: dict, settings: Settings) -> dict:
    from arena.llm.judging import JudgeInputError, JudgeOptions, judge_model, judge_replies, plan_judging

    if not args["judge_model"]:
        raise BadJob("a judge job needs judge_model (a registered model's slug)")
    options = JudgeOptions(judge=args["judge_model"], models=tuple(args["models"]), limit=args["limit"],
                           concurrency=int(args["concurrency"]), retry=_retry(args))  # fmt: skip
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            model, tasks = judge_model(session, options.judge), plan_judging(session, options)
    except JudgeInputError as exc:
        raise BadJob(str(exc)) from exc
    summary = judge_replies(factory, options, model=model, tasks=tasks)
    return {"judge": options.judge, "planned": len(tasks), **summary.as_dict()}


def _export(engine: Engine, args: dict, settings: Settings) -> dict:
    from arena.jobs.export import ExportError, export

    if not args["out"]:
        raise BadJob("an export job needs out (the directory to write into)")
    out_dir = Path(args["out"])
    if args["public"] and not settings.secret_key:
        raise BadJob("a public export needs ARENA_SECRET_KEY where the job runs (it keys the voters' pseudonyms)")
    with make_session_factory(engine, read_only=True)() as session:
        try:
            summary = export(session, out_dir, args["format"], public=bool(args["public"]),
                             secret_key=settings.secret_key if args["public"] else None)  # fmt: skip
        except (ExportError, ValueError) as exc:
            raise BadJob(str(exc)) from exc
    return {"battles": summary.battles, "skipped_private": summary.skipped_private, "files": summary.files,
            "out": str(out_dir)}  # fmt: skip


_TASKS = {"recompute": _recompute, "generate": _generate, "judge": _judge, "export": _export}
