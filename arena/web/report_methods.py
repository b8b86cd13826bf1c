"""The report's words: the methods paragraph, the data description and the commands that reproduce the numbers,
each written from what the rating run and its analyses stored (their parameters and summaries), never from
today's defaults."""

from __future__ import annotations

import shlex

from arena.jobs.snapshots import OVERALL

CI_WORDS = {
    "bootstrap": "a multinomial bootstrap of the vote counts",
    "sandwich": "the sandwich (robust) covariance of the fit",
    "cluster": "a bootstrap that resamples whole voters",
}
# Defaults of `arena ratings recompute`: the reproduction command names every option anyway, so it still holds
# when a default changes.
FILTER_ENV = (("daily_cap", "ARENA_DAILY_VOTE_CAP"), ("min_votes", "ARENA_FILTER_MIN_VOTES"),
              ("alpha", "ARENA_FILTER_ALPHA"))  # fmt: skip


def _counts(counts: dict) -> str:
    named = [f"{n:,} {reason or '(no reason)'}" for reason, n in sorted(counts.items()) if n]
    return ", ".join(named) if named else "none"


def rating_methods(run, summary: dict, boards: list[str]) -> list[str]:
    """Sentences on how the ratings were made: model, prior, ties, both-bad, filters, intervals, clustering."""
    p = run.params
    anchor = (f"anchored so that {p['anchor_model']} scores {p['anchor_score']:g}" if p.get("anchor_model")
              else "mean-centred at 1000")  # fmt: skip
    both_bad = ("a \"both bad\" vote counts as a tie" if p.get("both_bad", "tie") == "tie"
                else "\"both bad\" votes are left out (--both-bad drop)")  # fmt: skip
    out = [
        f"Ratings are a Bradley-Terry model fitted (choix's ILSR) to the counts of each (model A, model B, outcome) "
        f"cell of the {run.n_votes:,} counted votes of the overall board, with alpha = {p.get('alpha', 0.01):g} "
        f"virtual ties added to every pair (a weak prior that keeps every strength finite), on the Elo scale "
        f"1000 + 400/ln(10) x strength, {anchor}. A tie counts half a win each way, and {both_bad}."
    ]
    if len(boards) > 1:
        pooled = ("pooled toward the votes outside the board (empirical Bayes)" if p.get("pooling", True)
                  else "fitted on their own votes only (--no-pooling)")  # fmt: skip
        out.append(f"Boards rated: {', '.join(boards)}; the emotion boards are {pooled}.")
    sessions = summary.get("sessions") or {}
    clustered = sessions.get("clustered_by")
    interval = (f"95% intervals come from {CI_WORDS.get(p.get('ci'), p.get('ci'))}"
                + (f" ({p.get('rounds'):,} rounds, seed {run.seed})" if p.get("ci") != "sandwich" else ""))  # fmt: skip
    if clustered == "session":
        interval += (f", resampling whole evaluation sessions ({sessions.get('sessions', 0):,} sessions; "
                     f"{sessions.get('clusters', 0):,} clusters in all)")  # fmt: skip
    elif clustered == "voter":
        voters = summary.get("voters") or {}
        interval += (f", clustered by voter ({voters.get('voters', 0):,} voters; "
                     f"{voters.get('votes_without_voter', 0):,} votes without one are their own cluster)")  # fmt: skip
    else:
        interval += ", every vote independent"
    out.append(interval + "; a model's rank interval comes from the same draws.")
    filters = p.get("filters") or {}
    scope = p.get("scope") or {}
    if scope.get("anony_only") or scope.get("as_of"):
        limits = (["votes cast without the names shown"] if scope.get("anony_only") else []) + (
            [f"votes cast up to {scope['as_of']}"] if scope.get("as_of") else [])  # fmt: skip
        out.append(f"This is a rebuilt board of {' and '.join(limits)} (status {run.status}); the vote filters "
                   "were not rerun for it.")  # fmt: skip
    elif filters.get("enabled"):
        settings = filters.get("settings") or {}
        out.append(
            f"The vote-quality filters were on (at most {settings.get('daily_cap')} counted votes per voter a day; "
            f"a voter tested from {settings.get('min_votes')} votes at significance {settings.get('alpha')}); they "
            f"excluded: {_counts(filters.get('excluded') or {})} (voters flagged: "
            f"{_counts(filters.get('voters') or {})}); {filters.get('lifted', 0):,} earlier exclusions were lifted."
        )
    else:
        out.append("The vote-quality filters were off for this run (--no-filters).")
    out.append(f"Votes kept but not counted when the run was made, by reason: {_counts(p.get('excluded') or {})}.")
    for warning in summary.get("warnings") or ():
        out.append(f"Warning stored with the run: {warning}.")
    return out


def analysis_methods(analysis: dict, beta_prior: float, first: bool = True) -> list[str]:
    """Sentences on one stored analysis: the covariate model, its prior and errors, what was left out. After the
    first analysis of a report, a category's analysis says only what differs."""
    result, params = analysis["result"], analysis["params"]
    covariates = [c["feature"] for c in result.get("coefficients", [])]
    errors = "clustered by voter" if result.get("clustered_by_voter") else "robust per battle (too few voters)"
    if not first:
        left_out = ", ".join(result.get("dropped_covariates") or []) or "nothing"
        return [f"The analysis of '{analysis['category']}' (analysis run {analysis['analysis_run_id']}) is the same "
                f"model on its {result.get('n_battles', 0):,} battles, errors {errors}; covariates fitted: "
                f"{', '.join(covariates) if covariates else 'none'}; left out: {left_out}."]  # fmt: skip
    out = [
        f"The analysis of '{analysis['category']}' (analysis run {analysis['analysis_run_id']}) fits Bradley-Terry "
        f"with covariates (Newton's method, exact Hessian) to {result.get('n_battles', 0):,} battles: each "
        f"covariate is a difference between the two replies (A minus B), and the side shown first enters as a "
        f"constant; effects have a normal prior with SD {beta_prior:g} (log-odds per SD, per unit for yes-or-no "
        f"covariates); standard errors are {errors}; reply features {analysis['feature_set']}. Covariates fitted: "
        f"{', '.join(covariates) if covariates else 'none'}."
    ]
    if result.get("dropped_covariates"):
        out.append(f"Left out (unknown for most battles, or never different): "
                   f"{', '.join(result['dropped_covariates'])}.")  # fmt: skip
    out.append(f"Judged EQ enters once {params.get('min_eq_battles')} battles have a score on both replies; the "
               f"rank correlations with model-level EQ scores (Spearman, Kendall) have intervals from "
               f"{params.get('rounds')} draws that also redraw the ratings (seed {params.get('seed')}).")  # fmt: skip
    if result.get("covariate_fit_error"):
        out.append(f"The covariate fit failed: {result['covariate_fit_error']}.")
    prediction = result.get("prediction")
    if prediction:
        out.append(f"Held-out prediction: {prediction['folds']} folds {prediction['split']} (seed "
                   f"{prediction['seed']}), {prediction['votes']:,} votes of {prediction['voters']:,} voters; best: "
                   f"{prediction['best']}.")  # fmt: skip
    return out


def reproduce_commands(run, analyses: list[dict], out_dir: str) -> list[str]:
    """The commands that recompute this run and its analyses from the same votes, and this report."""
    p = run.params
    filters = (p.get("filters") or {}).get("settings") or {}
    env = " ".join(f"{name}={filters[key]}" for key, name in FILTER_ENV if key in filters)
    recompute = ["arena", "ratings", "recompute", "--bootstrap", str(p.get("rounds")), "--seed", str(run.seed),
                 "--ci", str(p.get("ci")), "--both-bad", str(p.get("both_bad"))]  # fmt: skip
    if p.get("anchor_model"):
        recompute += ["--anchor", f"{p['anchor_model']}={p['anchor_score']:g}"]
    scope = p.get("scope") or {}
    if scope.get("anony_only"):
        recompute.append("--anony-only")
    if scope.get("as_of"):
        recompute += ["--as-of", scope["as_of"]]
    if not (p.get("filters") or {}).get("enabled") and not (scope.get("anony_only") or scope.get("as_of")):
        recompute.append("--no-filters")
    if not p.get("pooling", True):
        recompute.append("--no-pooling")
    if not p.get("session_clusters", True):
        recompute.append("--no-session-clusters")
    lines = [f"git checkout {commit}" for commit in [_commit(run.code_version)] if commit]
    lines.append((f"{env} " if env else "") + shlex.join(recompute) + "   # prints the new run's id: RUN")
    for a in analyses:
        ap = a["params"]
        eq = ["arena", "analysis", "eq", "--rating-run", "RUN", "--category", a["category"], "--min-eq-battles",
              str(ap.get("min_eq_battles")), "--seed", str(ap.get("seed"))]  # fmt: skip
        lines.append(shlex.join(eq))
        prediction = a["result"].get("prediction")
        if prediction:
            lines.append(shlex.join(["arena", "analysis", "predict", "--category", a["category"], "--folds",
                                     str(prediction["folds"]), "--seed", str(prediction["seed"]),
                                     "--min-eq-battles", str(ap.get("min_eq_battles"))]))  # fmt: skip
    lines.append(shlex.join(["arena", "analysis", "report", "--run", "RUN", "--out", out_dir]))
    return lines


def _commit(code_version: str) -> str | None:
    """The git commit in a code version such as 0.1.0+g1a2b3c4d5e6f."""
    _, _, local = code_version.partition("+g")
    return local or None


def card_facts(facts: dict) -> list[tuple[str, str]]:
    """The data description's lines, from the counts the report read (as the export's dataset card states them)."""
    rows = [
        ("Battles voted", f"{facts['battles']:,}"),
        ("Votes counted for the leaderboard", f"{facts['counted']:,}"),
        ("Votes kept but not counted", f"{facts['battles'] - facts['counted']:,}"),
        ("Models in the battles", f"{facts['models']:,}"),
        ("Messages (prompts) in the battles", f"{facts['prompts']:,}"),
        ("Votes cast on this site / imported", f"{facts['site']:,} / {facts['imported']:,}"),
        ("Imported votes whose file said the names were shown (`anony` false)", f"{facts['not_anonymous']:,}"),
        ("First and last vote (UTC)", f"{facts['first_vote'] or '-'} to {facts['last_vote'] or '-'}"),
        ("Reply feature set", facts["feature_set"]),
    ]
    return rows


def board_label(board: str) -> str:
    return "overall (every counted vote)" if board == OVERALL else board
