"""Presentation arms benchmark: does the analysis recover a planted arm effect, and leave a null arm at zero?

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.arms_bench [--seeds 100] [--battles 3000] [--models 8] [--effect 0.4]

Each seed builds an arena the way the site does: battles between random pairs of models whose replies differ in
length (a per-model style, so length goes with who fought), each side's arm drawn with ARENA_ARMS's probabilities
(plain_text:0.2,no_helpline:0.2: the first carries the planted effect in log-odds, the second none), outcomes from
Bradley-Terry plus length, arm and a small first-side edge (decisive votes: a tie has no Bradley-Terry truth to
recover; ties the model does not explain dilute every effect towards zero). The fit is the analysis's own: the same
covariate columns (arena.jobs.arm_study.columns), the same ridge (arena.jobs.analysis.BETA_PRIOR), robust errors.
It prints, per arm, how often the 95% interval covered the truth, the mean estimate and its error relative to
the planted effect, and the mean interval width in points of win chance. The issue's bar: coverage >= 90% and mean
error below a tenth of the effect for the planted arm; >= 93% of intervals containing 0 for the null one.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np

from arena.jobs.analysis import BETA_PRIOR
from arena.jobs.arm_study import columns, win_points
from arena.voting.arms import parse_arms
from ratings.covariates import CovariateBattles, fit_covariates

DECLARED = "plain_text:0.2,no_helpline:0.2"


def one_arena(seed: int, battles: int, models: int, effect: float) -> dict[str, tuple[float, float, float]]:
    rng, draw = np.random.default_rng(seed), random.Random(seed)
    arms = parse_arms(DECLARED)
    theta = rng.normal(0, 0.6, models)
    style = rng.normal(0, 0.3, models)  # per-model length tendency
    a = rng.integers(0, models, battles)
    b = (a + rng.integers(1, models, battles)) % models
    length = np.clip(style[a] - style[b] + rng.normal(0, 0.2, battles), -1, 1)
    arm_a = np.array([arms.draw(draw)[0] for _ in range(battles)], dtype=object)
    arm_b = np.array([arms.draw(draw)[0] for _ in range(battles)], dtype=object)
    arm_columns, arm_names = columns(arm_a, arm_b)
    truth = {"arm_plain_text": effect, "arm_no_helpline": 0.0}
    eta = theta[a] - theta[b] + 0.3 * length + 0.05
    for column, name in zip(arm_columns, arm_names, strict=True):
        eta = eta + truth[name] * column
    p = 1 / (1 + np.exp(-eta))
    score = np.where(rng.random(battles) < p, 1.0, 0.0)
    features = np.column_stack([length, *arm_columns, np.ones(battles)])
    names = ("length_ratio", *arm_names, "position_a")
    fit = fit_covariates(CovariateBattles(models, a, b, score, features, names), beta_prior=BETA_PRIOR)
    return {c.feature: (c.estimate, c.ci_low, c.ci_high) for c in fit.coefficients() if c.feature in truth}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--battles", type=int, default=3000)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--effect", type=float, default=0.4, help="planted log-odds effect of plain_text")
    args = parser.parse_args()
    truth = {"arm_plain_text": args.effect, "arm_no_helpline": 0.0}
    found: dict[str, list[tuple[float, float, float]]] = {name: [] for name in truth}
    started = time.perf_counter()
    for seed in range(args.seeds):
        for name, estimate in one_arena(seed, args.battles, args.models, args.effect).items():
            found[name].append(estimate)
    elapsed = time.perf_counter() - started
    print(f"{args.seeds} arenas of {args.battles} battles, {args.models} models, arms {DECLARED}; {elapsed:.1f} s")
    for name, rows in found.items():
        est = np.array(rows)
        covered = np.mean((est[:, 1] <= truth[name]) & (truth[name] <= est[:, 2]))
        error = est[:, 0].mean() - truth[name]
        relative = f" ({abs(error) / truth[name]:.1%} of the effect)" if truth[name] else ""
        width = np.mean([win_points(high) - win_points(low) for _, low, high in rows])
        print(f"{name}: truth {truth[name]:.3f} log-odds ({win_points(truth[name]):+.1f} points); "
              f"mean estimate {est[:, 0].mean():.3f}, mean error {error:+.4f}{relative}; "
              f"95% interval covers the truth in {covered:.0%}; mean width {width:.1f} points")  # fmt: skip


if __name__ == "__main__":
    main()
