"""Pairing policies compared on the same truth: votes needed until the mean 95% half-width is 25 Elo points.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.sampling_bench [--models 30] [--seeds 8] [--batch 100]

Two scenarios, each simulated under ARENA_SAMPLING=uniform and =active with the same truth and seeds:
- cold start: every model new, no votes yet;
- arrivals: a third of the models join an arena whose other models already have 1,000 battles each.
Active weights are recomputed after every batch, as the recompute job does from each snapshot. Coverage is the
share of models whose interval holds the true strength when the run stops.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ratings.simulate import simulate, simulate_sampling, true_strengths


def scenario(name: str, models: int, seeds: int, batch: int, target: float) -> dict:
    votes = {"uniform": [], "active": []}
    covered = {"uniform": [], "active": []}
    start = time.perf_counter()
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        theta = true_strengths(models, rng)
        earlier = None
        if name == "arrivals":
            established = models - models // 3
            earlier = simulate(theta[:established], 500 * established, rng)
        for policy in votes:
            run = simulate_sampling(theta, policy, np.random.default_rng(1000 + seed), batch=batch,
                                    target_half_width=target, earlier=earlier)  # fmt: skip
            votes[policy].append(run.votes)
            covered[policy].append(run.covered)
    return {
        "name": name,
        "uniform": float(np.mean(votes["uniform"])),
        "active": float(np.mean(votes["active"])),
        "saving": 1 - float(np.mean(np.array(votes["active"]) / np.array(votes["uniform"]))),
        "coverage_uniform": float(np.mean(covered["uniform"])),
        "coverage_active": float(np.mean(covered["active"])),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--target", type=float, default=25.0, help="mean 95%% half-width to reach (Elo points)")
    args = parser.parse_args()
    print(f"{args.models} models, truth normal(0, 1 logit), {args.seeds} seeds, weights refreshed every "
          f"{args.batch} votes, target mean half-width {args.target:g} points")  # fmt: skip
    print(f"{'scenario':<12}{'uniform votes':>15}{'active votes':>14}{'fewer':>8}{'coverage u/a':>16}   target")
    for name in ("cold start", "arrivals"):
        r = scenario(name, args.models, args.seeds, args.batch, args.target)
        print(f"{name:<12}{r['uniform']:>15,.0f}{r['active']:>14,.0f}{r['saving']:>8.0%}"
              f"{r['coverage_uniform']:>9.0%} / {r['coverage_active']:.0%}   >= 30% fewer, cov. >= 90%")  # fmt: skip


if __name__ == "__main__":
    main()
