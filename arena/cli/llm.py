"""`arena generate` and `arena judge`: jobs that call models through litellm."""

from __future__ import annotations

from functools import wraps
from pathlib import Path

import click

from arena.cli.common import (
    BadInput,
    bad_input_from,
    database_option,
    json_option,
    print_json,
    progress_bar,
    session_factory,
    split_values,
)


def llm_options(command):
    """Concurrency, timeout and retry options shared by the commands that call models; the command receives
    `concurrency` and `retry`, the RetryPolicy that --timeout, --retries and --backoff make."""
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

    @wraps(command)
    def wrapper(*args, timeout, retries, backoff, **kwargs):
        from arena.llm.retry import RetryPolicy

        return command(*args, retry=RetryPolicy(attempts=retries + 1, base_delay=backoff, timeout=timeout), **kwargs)

    for option in reversed(options):
        wrapper = option(wrapper)
    return wrapper


def models_option(help: str = "Only replies of these models (repeatable or a,b)."):
    return click.option("--models", "model_slugs", multiple=True, help=help)


def limit_option(help: str):
    return click.option("--limit", type=click.IntRange(1), help=help)


def judge_option(help: str):
    return click.option("--judge-model", "judge", help=help)


def require_judge(judge: str | None) -> None:
    if not judge:
        raise BadInput("--judge-model SLUG is required (a model registered with `arena models add`)")


def require_litellm() -> None:
    import importlib.util

    # Only whether it is installed: importing it takes seconds, and bad input should fail fast.
    if importlib.util.find_spec("litellm") is None:
        raise BadInput("calling models needs litellm: pip install -e '.[llm]'")


@click.group("generate", invoke_without_command=True)
@database_option
@models_option("Only these model slugs (repeatable or comma-separated).")
@click.option("--prompts", "prompt_ids", multiple=True, help="Only these prompt ids (repeatable or comma-separated).")
@click.option(
    "--samples",
    default=1,
    show_default=True,
    type=int,
    help="Replies kept per (message, model): battles draw one at random, so reveals teach less.",
)
@llm_options
@click.option("--max-cost", type=click.FloatRange(0), help="USD budget: no call starts that could pass it.")
@click.option("--dry-run", is_flag=True, help="Show the planned calls and their estimated cost; call nothing.")
@json_option
@click.pass_context
def generate_command(ctx, database_url, model_slugs, prompt_ids, samples, concurrency, retry, max_cost, dry_run,
                     as_json) -> None:  # fmt: skip
    """Fill every missing (active prompt, active model) reply through litellm, up to --samples replies per pair;
    resumable, never duplicates. `arena generate edits` rewrites stored replies to change one EI dimension."""
    if ctx.invoked_subcommand is not None:
        return
    from arena.llm.generation import GenerationInputError, GenerationOptions, generate, plan_generation

    slugs = split_values(model_slugs)
    try:
        ids = tuple(int(i) for i in split_values(prompt_ids))
    except ValueError as exc:
        raise BadInput(f"--prompts takes prompt ids (numbers), got {', '.join(prompt_ids)}") from exc
    options = GenerationOptions(models=slugs, prompt_ids=ids, concurrency=concurrency, max_cost=max_cost,
                                samples=samples, retry=retry)  # fmt: skip
    factory = session_factory(database_url)
    require_litellm()
    with bad_input_from(GenerationInputError), factory() as session:
        plan = plan_generation(session, options)
    planned_calls = plan.as_dict()
    if dry_run:
        if as_json:
            print_json({"dry_run": True, **planned_calls})
            return
        unpriced = planned_calls["unpriced_calls"]
        unpriced = f" (+ {unpriced} calls with unknown price)" if unpriced else ""
        click.echo(f"{planned_calls['planned_calls']} calls planned, estimated cost "
                   f"${planned_calls['estimated_cost_usd']:.4f}{unpriced}")  # fmt: skip
        for slug, n in planned_calls["per_model"].items():
            click.echo(f"  {slug:<32} {n:>6} calls")
        return
    with progress_bar(len(plan.calls), "generating") as bar:
        summary = generate(factory, options, plan=plan, progress=bar.reached)
    if as_json:
        print_json({**planned_calls, **summary.as_dict()})
        return
    click.echo(summary.line() if plan.calls else "nothing to generate: every reply is there")


@generate_command.command("edits")
@database_option
@click.option("--dimension", required=True, help="The one EI dimension to change: remove_validation, "
              "add_premature_advice or add_question_back (README, 'Edited replies').")  # fmt: skip
@click.option("--editor-model", "editor", required=True, help="Slug of the registered model that edits.")
@models_option()
@limit_option("Edit at most this many replies.")
@llm_options
@json_option
def generate_edits_command(database_url, dimension, editor, model_slugs, limit, concurrency, retry, as_json) -> None:
    """Have the editor model rewrite each stored reply to change only --dimension, keeping its length within 5%
    (characters) and its formatting; an edit outside those bounds is refused and recorded as an edit error, never
    stored. Resumable: one edit per reply and dimension."""
    from arena.llm.editing import EditInputError, EditOptions, edit_replies, editor_model, plan_edits

    options = EditOptions(dimension=dimension, editor=editor, models=split_values(model_slugs), limit=limit,
                          concurrency=concurrency, retry=retry)  # fmt: skip
    factory = session_factory(database_url)
    with bad_input_from(EditInputError), factory() as session:
        model, tasks = editor_model(session, options), plan_edits(session, options)
    require_litellm()
    with progress_bar(len(tasks), "editing") as bar:
        summary = edit_replies(factory, options, editor=model, tasks=tasks, progress=bar.reached)
    if as_json:
        print_json({"dimension": dimension, "editor": editor, "planned": len(tasks), **summary.as_dict()})
        return
    click.echo(summary.line(dimension) if tasks else f"{dimension}: nothing to edit: every reply has its edit")


@click.group("judge", invoke_without_command=True)
@database_option
@judge_option("Slug of the registered judge model (required to score).")
@models_option()
@limit_option("Score at most this many replies (conversation sides).")
@click.option(
    "--conversations",
    is_flag=True,
    help="Score each side of every multi-turn conversation instead: each answer in context and the whole.",
)
@llm_options
@json_option
@click.pass_context
def judge_group(ctx, database_url, judge, model_slugs, limit, conversations, concurrency, retry, as_json):
    """Score replies on the EQ rubric with a judge model (resumable); `arena judge agreement` compares the judge
    with the human votes."""
    if ctx.invoked_subcommand is not None:
        return
    from arena.llm.judging import JudgeInputError, JudgeOptions, judge_model, judge_replies, plan_judging

    unit = "replies"
    if conversations:
        from arena.llm.conversation_judging import judge_conversations, plan_conversation_judging

        plan_judging, judge_replies, unit = plan_conversation_judging, judge_conversations, "conversation sides"

    require_judge(judge)
    options = JudgeOptions(judge=judge, models=split_values(model_slugs), limit=limit, concurrency=concurrency,
                           retry=retry)  # fmt: skip
    factory = session_factory(database_url)
    require_litellm()
    with bad_input_from(JudgeInputError), factory() as session:
        model, tasks = judge_model(session, judge), plan_judging(session, options)
    with progress_bar(len(tasks), "judging") as bar:
        summary = judge_replies(factory, options, model=model, tasks=tasks, progress=bar.reached)
    if as_json:
        print_json({"judge": judge, "planned": len(tasks), **summary.as_dict()})
        return
    every = "conversation side" if conversations else "reply"
    click.echo(summary.line(judge, unit) if tasks else f"{judge}: nothing to score: every {every} has its scores")


@judge_group.command("pairwise")
@database_option
@judge_option("Slug of the registered judge model (required).")
@click.option("--battles", type=click.Choice(["voted", "all"]), default="voted", show_default=True,
              help="The pairs of replies of voted battles, or of every battle.")  # fmt: skip
@limit_option("Judge at most this many pairs of replies (two calls each).")
@llm_options
@json_option
def judge_pairwise_command(database_url, judge, battles, limit, concurrency, retry, as_json) -> None:
    """Ask a judge model which of a battle's two replies is the more emotionally intelligent (A, B or tie), in
    both orders (A/B, then swapped); never a pair of its own family's replies; resumable."""
    from arena.llm.judging import JudgeInputError, judge_model
    from arena.llm.pairwise_judging import PairwiseOptions, judge_pairs, plan_pairwise

    require_judge(judge)
    options = PairwiseOptions(judge=judge, battles=battles, limit=limit, concurrency=concurrency, retry=retry)
    factory = session_factory(database_url)
    require_litellm()
    with bad_input_from(JudgeInputError), factory() as session:
        model, plan = judge_model(session, judge), plan_pairwise(session, options)
    with progress_bar(len(plan.tasks), "judging pairs") as bar:
        summary = judge_pairs(factory, options, model=model, plan=plan, progress=bar.reached)
    if as_json:
        print_json({"judge": judge, "planned": len(plan.tasks), "own_family_skipped": plan.own_family_skipped,
                    **summary.as_dict()})  # fmt: skip
        return
    skipped = f" ({plan.own_family_skipped} pairs of its own family left out)" if plan.own_family_skipped else ""
    done = summary.line(judge, "pairs") if plan.tasks else f"{judge}: nothing to judge: every pair has both verdicts"
    click.echo(done + skipped)


@judge_group.command("agreement")
@database_option
@judge_option("Slug of the judge whose scores to compare (not with --llmfao).")
@click.option("--suite", is_flag=True, help="Every measure: accuracy with and without ties, Brier, rank "
              "correlations, separability, swap flip rate, self-family preference, each with an interval.")  # fmt: skip
@click.option("--llmfao", "llmfao_dir", type=click.Path(path_type=Path),
              help="With --suite: LLMFAO's folder (crowd-comparisons.csv, gpt4-crowd-comparisons.csv) instead of "
              "the site's votes.")  # fmt: skip
@click.option("--bootstrap", "rounds", default=2000, show_default=True, type=click.IntRange(10, 100_000))
@click.option("--seed", default=0, show_default=True, type=int)
@json_option
def judge_agreement_command(database_url, judge, suite, llmfao_dir, rounds, seed, as_json) -> None:
    """How often the judge's preferred reply (higher overall score) matches the human vote: accuracy and Cohen's
    kappa with 95% bootstrap intervals. `decisive`: votes for A or B (a judge tie counts as a miss);
    `three_way`: all votes, both_bad read as a tie. With --suite, the whole set of measures
    (ratings/judge_suite.py) and the human ceiling beside them."""
    if llmfao_dir is not None and not suite:
        raise BadInput("--llmfao needs --suite")
    if llmfao_dir is not None and judge:
        raise BadInput("--llmfao measures LLMFAO's own judge (GPT-4): leave out --judge-model")
    if not judge and llmfao_dir is None:
        raise BadInput("--judge-model SLUG is required (or --suite --llmfao DIR)")
    if suite:
        _judge_suite(database_url, judge, llmfao_dir, rounds, seed, as_json)
        return
    from arena.llm.judging import judge_agreement

    with session_factory(database_url)() as session:
        result = judge_agreement(session, judge, rounds=rounds, seed=seed)
    if as_json:
        print_json(result)
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


SUITE_LINES = (
    ("accuracy", "accuracy, with ties"),
    ("accuracy_without_ties", "accuracy, without ties"),
    ("brier", "Brier score (lower is better)"),
    ("board_spearman", "board rank correlation, Spearman"),
    ("board_kendall", "board rank correlation, Kendall"),
    ("row_spearman", "row-wise rank correlation"),
    ("separability", "separability of the judge's board"),
    ("separability_humans", "separability of the human board"),
    ("swap_flip_rate", "flip rate when the replies are swapped"),
    ("self_family_preference", "self-family preference (judge minus humans)"),
)
HUMAN_LINES = (
    ("agreement", "human-human agreement, with ties"),
    ("agreement_decisive", "human-human agreement, without ties"),
    ("ceiling", "ceiling for any judge, with ties"),
    ("ceiling_decisive", "ceiling for any judge, without ties"),
    ("ceiling_bound", "model-free bound on the ceiling, with ties"),
    ("ceiling_bound_decisive", "model-free bound on the ceiling, without ties"),
)


def _judge_suite(database_url, judge, llmfao_dir, rounds, seed, as_json) -> None:
    from arena.jobs.judge_suite import SuiteInputError, llmfao_suite, site_suite

    try:
        if llmfao_dir is not None:
            result = llmfao_suite(llmfao_dir, rounds=rounds, seed=seed)
        else:
            with session_factory(database_url)() as session:
                result = site_suite(session, judge, rounds=rounds, seed=seed)
    except SuiteInputError as exc:
        raise BadInput(str(exc)) from exc
    if as_json:
        print_json(result)
        return
    by = {"verdicts": " (its pairwise verdicts)", "scores": " (its reply scores)"}
    judged_by = by.get(result.get("judged_by"), "")
    click.echo(f"{result['judge']}{judged_by} on {result['source']}: {result['items']} pairs, {result['votes']} human "
               f"votes, {result.get('models', 0)} models; 95% bootstrap intervals ({rounds} rounds)")  # fmt: skip
    if not result["items"]:
        click.echo(f"  {result['reason']}")
        return
    for key, label in SUITE_LINES:
        click.echo("  " + _suite_line(label, result[key]))
    if "humans" in result:
        click.echo(f"humans: {result['humans']['items']} pairs voted by two or more people")
        for key, label in HUMAN_LINES:
            click.echo("  " + _suite_line(label, result["humans"][key]))


def _suite_line(label: str, metric: dict) -> str:
    if metric["value"] is None:
        return f"{label:<46} not available: {metric.get('reason', 'too few data')}"
    extra = ""
    if "always_half" in metric:
        extra = f"  (always 1/2: {metric['always_half']:.3f})"
    if "judge_share" in metric:
        extra = f"  (judge {metric['judge_share']:.3f}, humans {metric['human_share']:.3f})"
    return f"{label:<46} {metric['value']:.3f} {_ci(metric['ci'])}  n={metric['n']}{extra}"


def _ci(bounds) -> str:
    low, high = bounds
    return "[-]" if low is None else f"[{low:.3f}, {high:.3f}]"
