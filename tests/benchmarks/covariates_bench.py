"""BT-with-covariates benchmark: 1,000,000 synthetic battles, 100 models, 8 covariates, fitted in-process.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.covariates_bench [--battles 1000000] [--models 100] [--covariates 8]
                                                [--style 0.3] [--repeat 3] [--seed 2026]

Each model gets a style (a per-model mean of every feature, SD --style), so the features are correlated with
who fought the battle, as reply length is in a real arena; that is the case the control exists for. The fit is
timed cold (first call) and warm (median of --repeat more); peak memory is measured by tracemalloc on a
separate call, so the tracing does not slow the timed runs.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
import tracemalloc

import numpy as np

from ratings import bradley_terry as bt
from ratings.covariates import fit_covariates
from ratings.simulate import simulate_covariates, true_strengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--covariates", type=int, default=8)
    parser.add_argument("--style", type=float, default=0.3, help="SD of the per-model feature means")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    k = args.covariates
    theta = true_strengths(args.models, rng)
    beta = rng.normal(0.0, 0.5, k)
    feature_sd = rng.uniform(0.2, 2.0, k)
    style = rng.normal(0.0, args.style, (args.models, k)) * feature_sd
    start = time.perf_counter()
    synth = simulate_covariates(theta, beta, args.battles, rng, feature_sd=feature_sd, style=style)
    simulate_s = time.perf_counter() - start
    battles = synth.battles

    start = time.perf_counter()
    fit = fit_covariates(battles)
    cold_s = time.perf_counter() - start
    warm = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        fit_covariates(battles)
        warm.append(time.perf_counter() - start)

    tracemalloc.start()
    fit_covariates(battles)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    input_mb = sum(a.nbytes for a in (battles.model_a, battles.model_b, battles.score, battles.features)) / 1e6

    coefficients = fit.coefficients()
    covered = sum(c.ci_low <= truth <= c.ci_high for c, truth in zip(coefficients, beta, strict=True))
    rating, low, high = fit.controlled_ratings()
    truth = bt.to_elo(theta)
    rows = [
        ("battles / models / covariates", f"{args.battles:,} / {args.models} / {k}", ""),
        ("simulate (s)", f"{simulate_s:.2f}", ""),
        ("fit, cold (s)", f"{cold_s:.2f}", "< 2"),
        (f"fit, warm, median of {args.repeat} (s)", f"{statistics.median(warm):.2f}" if warm else "-", "< 2"),
        ("Newton iterations", f"{fit.iterations}", ""),
        ("fit peak traced memory (MB)", f"{traced_peak / 1e6:.0f}", ""),
        ("  input arrays (MB)", f"{input_mb:.0f}", ""),
        ("process peak RSS (MB)", f"{rss_peak_mb:.0f}", ""),
        ("max |beta_hat - beta_true|", f"{np.max(np.abs(fit.beta - beta)):.4f}", ""),
        ("median beta standard error", f"{np.median([c.se for c in coefficients]):.4f}", ""),
        ("true beta inside the 95% CI", f"{covered} of {k}", ""),
        ("max |rating - true rating| (Elo)", f"{np.max(np.abs(rating - truth)):.2f}", ""),
        ("true rating inside the 95% CI", f"{int(np.sum((low <= truth) & (truth <= high)))} of {args.models}", ""),
    ]
    for title, value, target in rows:
        print(f"{title:<40}{value:>24}   {target}")


if __name__ == "__main__":
    main()
