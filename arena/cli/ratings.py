"""`arena ratings recompute` and `arena analysis eq`: rating snapshots and what drives preference."""

from __future__ import annotations

import contextlib

import click

from arena.cli.common import (
    BadInput,
    bad_input_from,
    database_option,
    env_settings,
    json_option,
    open_database,
    reading_runs,
    run_option,
    session_factory,
    single_threaded_blas,
)
from arena.config import ConfigError


@click.group("ratings")
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
    from arena.jobs.vote_filters import FilterSettings

    with bad_input_from(ConfigError):
        settings = env_settings().checked_filters()
    return FilterSettings(settings.daily_vote_cap, settings.filter_min_votes, settings.filter_alpha)


def _arms_on_board() -> bool:
    """ARENA_ARMS_ON_BOARD: battles shown under a presentation arm count on the model board too."""
    return env_settings().arms_on_board


def cluster_warnings(voters: dict | None, sessions: dict | None = None) -> list[str]:
    """Voter-clustered intervals with no voters are the plain bootstrap's: say so rather than let a reader
    believe repeat voters were accounted for. A vote without a voter falls back to its evaluation session."""
    if voters is None or voters["votes_without_voter"] == 0:
        return []
    fallback = "its evaluation session's, or its own" if (sessions or {}).get("sessions") else "its own"
    if voters["voters"] == 0 and fallback == "its own":
        return ["--ci cluster: no counted vote names its voter (judge_hash, judge or a site visitor), so each vote "
                "is its own cluster and the intervals are the plain bootstrap's"]  # fmt: skip
    return [f"--ci cluster: {voters['votes_without_voter']} counted votes name no voter; each is in {fallback} "
            "cluster"]  # fmt: skip


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
    help="'overall', 'conversations', 'single-turn', 'composite', an EmoNet group or category; repeatable. Default: "
    "overall, every group and category with votes, the conversation boards and the first-vote board when there are "
    "any, and the composite board (votes and judges) when a judge scored rated replies.",
)
@click.option("--both-bad", type=click.Choice(["tie", "drop"]), default="tie", show_default=True)
@click.option("--anchor", help="Pin a model's score: SLUG or SLUG=SCORE (default score 1000).")
@click.option(
    "--no-filters",
    is_flag=True,
    help="Skip the vote-quality filters (and lift their earlier exclusions); other exclusions stay.",
)
@click.option(
    "--no-pooling",
    is_flag=True,
    help="Fit each emotion board on its own votes only, instead of pooling it toward the rest of the votes.",
)
@click.option(
    "--no-session-clusters",
    is_flag=True,
    help="Treat every vote as independent, even the votes of one evaluation session (default: resample whole "
    "sessions; without sessions both are the plain bootstrap).",
)
@click.option(
    "--anony-only",
    is_flag=True,
    help="Count only votes cast without the names shown (a record's `anony` false leaves it out): the overall "
    "board, stored as a snapshot of its own beside the current board (/api/leaderboard?anony=only).",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Rebuild the overall board from the votes cast up to DATE (2024-02-20: the whole day, UTC; or an ISO "
    "date and time), stored as a snapshot of its own that does not replace the current board.",
)
@click.option(
    "--recount",
    is_flag=True,
    help="Count every vote again into the maintained counts first (after votes were changed by hand in SQL; the "
    "arena's own commands keep them exact).",
)
@json_option
def recompute_command(
    database_url, rounds, seed, ci, categories, both_bad, anchor, no_filters, no_pooling, no_session_clusters,
    anony_only, as_of, recount, as_json,
) -> None:  # fmt: skip
    """Fit Bradley-Terry ratings with 95% intervals and store them as a new immutable snapshot."""
    import json

    from arena.jobs.scope import VoteScope, parse_as_of

    try:
        scope = VoteScope(anony_only=anony_only, as_of=None if as_of is None else parse_as_of(as_of))
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    if scope.active and no_filters:
        raise BadInput("--no-filters changes which votes count; a rebuilt board (--anony-only, --as-of) keeps them")

    single_threaded_blas()  # before the job's imports load numpy
    from arena.db import make_session_factory
    from arena.jobs.recompute import RecomputeRequest, recompute
    from arena.jobs.recompute_lock import recompute_lock
    from arena.jobs.snapshots import RecomputeError, board_matrices, rank_intervals, run_ratings
    from arena.models import RatingRun

    filters = None if no_filters else _filter_settings()
    engine = open_database(database_url)
    anchor_model, anchor_score = _anchor(anchor)
    request = RecomputeRequest(
        ci=ci, rounds=rounds, seed=seed, both_bad=both_bad, categories=tuple(categories) or None,
        anchor_model=anchor_model, anchor_score=anchor_score, filters=filters, pooling=not no_pooling,
        session_clusters=not no_session_clusters, scope=scope, arms_on_board=_arms_on_board(),
        recount=recount,
    )  # fmt: skip
    factory = make_session_factory(engine)
    # One recompute at a time (a queued one, another command): wait for the one running to finish.
    with bad_input_from(RecomputeError), recompute_lock(engine, wait=True):
        result = recompute(factory, make_session_factory(engine, read_only=True), request)
    from arena.jobs.slugs import model_slugs, with_slugs

    warnings = cluster_warnings(result.summary.get("voters"), result.summary.get("sessions"))
    warnings += result.summary.get("warnings", [])
    for warning in warnings:
        click.echo(f"arena: warning: {warning}", err=True)
    primary = result.results[0]
    with factory() as session:
        rows = run_ratings(session, result.run_id, primary.category)
        slugs = model_slugs(session)
        run = session.get(RatingRun, result.run_id)
        ranks = rank_intervals(board_matrices(session, run.id, primary.category))
    ratings = [
        {
            "model": model.slug,
            "rating": round(r.rating, 3),
            "ci_low": round(r.ci_low, 3),
            "ci_high": round(r.ci_high, 3),
            "rank_ub": r.rank_ub,
            "rank_ci": ranks.get(model.id),
            "battles": r.battles,
            "win_rate": None if r.win_rate is None else round(r.win_rate, 4),
        }
        for r, model in rows
    ]
    if as_json:
        payload = {
            "run_id": result.run_id,
            "status": run.status,
            "scope": result.summary.get("scope"),
            "n_votes": result.n_votes,
            "category": primary.category,
            "categories": [c.category for c in result.results],
            "ratings": ratings,
            "excluded": result.excluded,
            "filters": result.filters.as_params(),
            "warnings": warnings,
            "ties": result.summary.get("ties"),
            "position": result.summary.get("position"),
            "components": result.summary.get("components"),
            "boards": result.summary.get("boards"),
            "sessions": result.summary.get("sessions"),
        }
        # Every model is named by its slug, as in the API: internal ids differ between databases.
        click.echo(json.dumps(with_slugs(payload, slugs)))
        return
    scoped = ""
    if scope.active:
        parts = (["anonymous votes only"] if scope.anony_only else []) + (
            [f"votes up to {scope.as_of.isoformat()}"] if scope.as_of is not None else [])  # fmt: skip
        scoped = f" ({', '.join(parts)}; stored beside the current board, status {run.status})"
    click.echo(f"rating run {result.run_id}{scoped}: {result.n_votes} votes, {len(ratings)} models, "
               f"{ci} intervals, categories: {', '.join(c.category for c in result.results)}")  # fmt: skip
    if result.excluded:
        reasons = ", ".join(f"{n} {reason or '(no reason)'}" for reason, n in result.excluded.items())
        click.echo(f"not counted: {reasons}")
    sessions = result.summary.get("sessions") or {}
    if sessions.get("clustered_by") == "session":
        click.echo(f"intervals resample whole evaluation sessions: {sessions['sessions']} sessions and "
                   f"{sessions['clusters'] - sessions['sessions']} votes without one")  # fmt: skip
    _print_rows(ratings)


def _print_rows(ratings: list[dict]) -> None:
    click.echo(f"{'rank':>4}  {'model':<40} {'rating':>8}  {'95% CI':>17}  {'battles':>8}")
    for row in ratings:
        click.echo(f"{row['rank_ub']:>4}  {row['model']:<40} {row['rating']:>8.1f}  "
                   f"[{row['ci_low']:>7.1f}, {row['ci_high']:>7.1f}]  {row['battles']:>8}")  # fmt: skip


@ratings_group.command("show")
@database_option
@click.option("--category", default="overall", show_default=True,
              help="'overall', 'conversations', 'single-turn', 'composite', an EmoNet group or category.")  # fmt: skip
@click.option("--order", type=click.Choice(["all", "first"]), default="all", show_default=True,
              help="'first': the board of each evaluation session's first vote (overall only).")  # fmt: skip
@click.option("--anony-only", is_flag=True, help="The newest `recompute --anony-only` board (anonymous votes only).")
@run_option("That rating run's board (an --as-of rebuild, say).")
@click.option("--json", "as_json", is_flag=True, help="Print the board as /api/leaderboard gives it, nothing else.")
def show_command(database_url, category, order, anony_only, run_id, as_json) -> None:
    """The newest stored board of a category, as the leaderboard shows it (nothing is computed)."""
    import json

    from arena.jobs.leaderboard import snapshot
    from arena.jobs.snapshots import RecomputeError

    with reading_runs(database_url, RecomputeError) as (session, provisional_votes):
        board = snapshot(session, category, provisional_votes, order, anony_only=anony_only, run_id=run_id)
    if board is None:
        if run_id is not None:
            raise BadInput(f"rating run {run_id} does not exist or did not rate {category!r}")
        if anony_only:
            raise BadInput("no anonymous-only board yet; run `arena ratings recompute --anony-only`")
        raise BadInput(f"no rating snapshot for {category!r} (order {order}) yet; run `arena ratings recompute`")
    if as_json:
        click.echo(json.dumps(board.as_json()))
        return
    first = ", first vote of each session" if board.order == "first" else ""
    kind = f" ({board.status}: {board.scope})" if board.status != "complete" else ""
    click.echo(f"rating run {board.run_id}{kind}, {board.category}{first}: {board.n_votes} votes")
    for warning in board.warnings:
        click.echo(f"arena: warning: {warning}", err=True)
    _print_rows([{"rank_ub": r.rank_ub, "model": r.slug, "rating": r.rating, "ci_low": r.ci_low,
                  "ci_high": r.ci_high, "battles": r.battles} for r in board.rows])  # fmt: skip


def _factories(database_url: str):
    """The writers' and the readers' session factories of the database (an analysis reads runs, stores its own)."""
    from arena.db import make_session_factory

    engine = open_database(database_url)
    return make_session_factory(engine), make_session_factory(engine, read_only=True)


def min_eq_battles_option(then: str):
    help = f"Battles with a reply-level EQ score on both sides needed before {then}"
    return click.option("--min-eq-battles", default=50, show_default=True, type=click.IntRange(1), help=help)


@click.group("analysis")
def analysis_group() -> None:
    """What drives preference: EQ, length, format, sycophancy."""


def _arm_lines(arms: dict | None) -> list[str]:
    """The presentation arms' effects (points of win chance, per unit) and balance tests, as text lines."""
    if not arms:
        return []
    board = "counted on" if arms.get("on_board") else "left out of"
    lines = [f"presentation arms: {arms['battles']} battles drawn with arms ({board} the model board)"]
    for e in arms["effects"]:
        if e["points"] is None:
            lines.append(f"presentation arm {e['arm']}: not enough battles yet: {e['reason']}")
            continue
        lines.append(
            f"presentation arm {e['arm']}: {e['points']:+.1f} points of win chance "
            f"[{e['points_low']:+.1f}, {e['points_high']:+.1f}] against the reply as stored "
            f"(log-odds {e['log_odds']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}]; {e['sides']} sides)"
        )
    for by, table in arms["balance"].items():
        test = table["test"]
        if test is None:
            lines.append(f"balance of arms by {by}: nothing to test (one {by} only)")
            continue
        permuted = "" if test["p_permutation"] is None else f", permutation p = {test['p_permutation']:.3f}"
        lines.append(
            f"balance of arms by {by}: chi-square {test['chi2']:.2f} on {test['dof']} df, p = {test['p_value']:.3f}"
            f"{permuted}"
        )
    return lines


@analysis_group.command("eq")
@database_option
@click.option(
    "--category",
    help="'overall', an EmoNet group or category. Default: overall (shown) and every group "
    "the rating run rated (stored for the analysis page).",
)
@click.option("--rating-run", "rating_run_id", type=int, help="Default: the latest run that rated the category.")
@min_eq_battles_option("eq_overall enters the model.")
@click.option("--seed", default=0, show_default=True, type=int)
@json_option
def analysis_eq_command(database_url, category, rating_run_id, min_eq_battles, seed, as_json) -> None:
    """Covariate coefficients (BT with style and EQ covariates), the EQ- and style-controlled leaderboard, and
    the rank correlation of arena ratings with model-level EQ benchmarks, for the latest rating run."""
    import json

    from arena.jobs.analysis import AnalysisError, analyse
    from arena.jobs.snapshots import FIRST_VOTES, OVERALL, TURN_BOARDS, RecomputeError

    factory, reader = _factories(database_url)
    options = dict(rating_run_id=rating_run_id, min_eq_battles=min_eq_battles, seed=seed)
    with bad_input_from(AnalysisError, RecomputeError):
        result = analyse(factory, reader, category=category or "overall", **options)
    if category is None:
        from arena.models import RatingRun

        with reader() as session:
            run = session.get(RatingRun, result["rating_run_id"])
            # The emotion boards only: the conversation and first-vote boards have no analysis of their own.
            groups = [c for c in run.params.get("categories", []) if c not in (OVERALL, *TURN_BOARDS, FIRST_VOTES)]
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
        if c.get("estimate") is None:
            click.echo(f"{c['feature']:<16} not enough battles yet: {c.get('reason') or 'not identified'}")
            continue
        # A per-unit covariate (the reply shown first, an arm) has no per-SD figure: its SD is 0 or meaningless.
        per_sd = "-" if c.get("estimate_std") is None else f"{c['estimate_std']:.3f}"
        click.echo(
            f"{c['feature']:<16} {c['estimate']:>9.3f} [{c['ci_low']:>8.3f}, {c['ci_high']:>8.3f}] "
            f"{per_sd:>8} {c['odds_ratio']:>10.3f}"
        )
    if result["dropped_covariates"]:
        click.echo(f"left out (unknown or constant): {', '.join(result['dropped_covariates'])}")
    for line in _arm_lines(result.get("arms")):
        click.echo(line)
    turns = result.get("turns") or {}
    if turns.get("eq_effect_by_turns"):
        rows = turns["eq_effect_by_turns"]
        effects = ", ".join(f"{r['turns']}: {r['estimate']:.3f} (se {r['se']:.3f})" for r in rows)
        click.echo(f"EQ effect (log-odds per point) by exchanges seen: {effects}")
    mediation = result.get("mediation") or {}
    if mediation.get("reason") is None and mediation.get("share"):
        share, total, direct = mediation["share"], mediation["total"], mediation["direct"]
        click.echo(f"through felt heard: {share['estimate']:.0%} of the EQ effect (95% CI {share['ci_low']:.0%} to "
                   f"{share['ci_high']:.0%}; log-odds per point {total['estimate']:.3f} without, "
                   f"{direct['estimate']:.3f} with; {mediation['n_battles']} votes with reasons)")  # fmt: skip
    elif mediation.get("n_battles"):
        click.echo(f"through felt heard: not measured ({mediation['reason']})")
    if result.get("edits", {}).get("dimensions"):
        _print_edits(result["edits"])
    for c in result["correlations"]:
        if c["method"] is None:
            click.echo(f"{c['benchmark']} {c['snapshot']}: {c['n_models']} models matched, too few to correlate")
        else:
            click.echo(
                f"{c['benchmark']} {c['snapshot']} {c['method']}: {c['estimate']:.3f} "
                f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}] over {c['n_models']} models"
            )


@analysis_group.command("edits")
@database_option
@json_option
def analysis_edits_command(database_url, as_json) -> None:
    """The edits study: per dimension edited by `arena generate edits`, the edit's chance of winning a decisive
    vote against its original (battles at ARENA_EDIT_SHARE, sides at random), in points above or below an even
    chance, with a 95% Wilson interval. Ties and both-bad votes are counted, not in the chance."""
    import json

    from arena.jobs.edit_effects import measure

    with session_factory(database_url, read_only=True)() as session:
        result = measure(session)
    if as_json:
        click.echo(json.dumps(result))
        return
    _print_edits(result)


def _print_edits(result: dict) -> None:
    click.echo(f"{result['edits']} edits, {result['votes']} votes between a reply and its edit")
    for row in result["dimensions"]:
        head = f"{row['dimension']:<22} {row['edits']:>5} edits {row['votes']:>6} votes"
        if row["effect_points"] is None:
            click.echo(f"{head}  no decisive vote yet")
            continue
        click.echo(f"{head}  edit wins {100 * row['win_chance']:.1f}% of {row['decisive']} decisive "
                   f"({row['effect_points']:+.1f} points, 95% {row['effect_ci_low']:+.1f} to "
                   f"{row['effect_ci_high']:+.1f}); {row['ties']} ties, {row['both_bad']} both bad")  # fmt: skip


@analysis_group.command("predict")
@database_option
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 50),
              help="Folds of voters: each explanation is fitted on the others and scored on each in turn.")  # fmt: skip
@click.option("--category", default="overall", show_default=True, help="'overall', an EmoNet group or category.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the split of voters into folds.")
@min_eq_battles_option("the EQ explanations are tried.")
@json_option
def analysis_predict_command(database_url, folds, category, seed, min_eq_battles, as_json) -> None:
    """Which explanation predicts new votes: plain BT, Davidson ties, +style, +EQ, pooled boards (and arms),
    each scored on the votes of voters it was not fitted on (no voter in two folds). Stored with the latest
    analysis for /analysis."""
    import json

    single_threaded_blas()
    from arena.jobs.analysis import AnalysisError
    from arena.jobs.prediction import predict
    from arena.jobs.snapshots import RecomputeError

    factory, reader = _factories(database_url)
    with bad_input_from(AnalysisError, RecomputeError):
        result = predict(factory, reader, category=category, folds=folds, seed=seed, min_eq_battles=min_eq_battles)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{result['votes']} votes of {result['voters']} voters ({result['category']}), {folds} folds by voter, "
               f"stored with analysis {result['analysis_run_id']}")  # fmt: skip
    click.echo(f"{'explanation':<12} {'log-loss':>9} {'vs BT':>16} {'accuracy':>9} {'Brier':>7} {'calib.':>7}")
    for row in result["explanations"]:
        if not row["available"]:
            click.echo(f"{row['key']:<12} not tried: {row['reason']}")
            continue
        versus = f"{row['log_loss_vs_bt']:+.4f} ({row['log_loss_vs_bt_se']:.4f})"
        numbers = [row[k] for k in ("accuracy", "brier", "calibration_error")]
        accuracy, brier, calibration = ("-" if v is None else f"{v:.3f}" for v in numbers)
        click.echo(f"{row['key']:<12} {row['log_loss']:>9.4f} {versus:>16} {accuracy:>9} {brier:>7} {calibration:>7}")
    verdict = "clearly ahead of" if result["clearly_best"] else "but within two standard errors of"
    click.echo(f"best: {result['best']} ({verdict} {result['runner_up']}: lead {result['lead']:.4f} log-loss, "
               f"se {result['lead_se']:.4f})")  # fmt: skip
