"""Pairing policies compared on the same truth: votes needed until the mean 95% half-width is 25 Elo points.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.sampling_bench [--models 30] [--seeds 4] [--batch 100] [--spreads 1.0 0.58]

Two scenarios, each simulated under ARENA_SAMPLING=uniform and =active with the same truth and seeds:
- cold start: every model new, no votes yet;
- arrivals: a third of the models join an arena whose other models already have 1,000 battles each.
Each for every truth spread given: strengths normal(0, spread) in logits; 1.0 is an SD of 174 Elo points (30
models span about 700 points), 0.58 an SD of 100 points (a span of about 400, like LMArena's top 60).
Active weights are recomputed after every batch, as the recompute job does from each snapshot, with the job's
plan horizon. Coverage is the share of models whose interval holds the true strength when the run stops.

"oracle" is the ceiling: the best fixed design for the whole run computed from the TRUE strengths and no floor,
against uniform, both from the expected information (no simulation noise). No policy that must estimate the
strengths can beat it by more than noise.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ratings import bradley_terry as bt
from ratings import sampling
from ratings.simulate import simulate, simulate_sampling, true_strengths

ALPHA = 0.01  # the simulation's prior, so the oracle counts the same virtual ties


def votes_to_reach(mean_sd: float, theta: np.ndarray, known: np.ndarray, oracle: bool) -> float:
    """Fewest votes whose expected information brings the mean SD to `mean_sd`: uniform over all pairs, or the
    design optimal for that many votes at the true strengths (bisection on the log of the vote count)."""
    i, j = np.triu_indices(len(theta), 1)
    uniform = np.full(len(i), 1.0 / len(i))
    low, high = np.log(10.0), np.log(5e6)
    for _ in range(30):
        votes = np.exp((low + high) / 2)
        share = sampling.plan(theta, known, votes, i, j) if oracle else uniform
        if sampling.mean_sd(theta, known, votes, share, i, j) <= mean_sd:
            high = np.log(votes)
        else:
            low = np.log(votes)
    return float(np.exp(high))


def scenario(name: str, models: int, seeds: int, batch: int, target: float, spread: float) -> dict:
    votes = {"uniform": [], "active": []}
    covered = {"uniform": [], "active": []}
    ceiling = []
    start = time.perf_counter()
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        theta = true_strengths(models, rng, spread)
        earlier = None
        battles = np.zeros((models, models))
        if name == "arrivals":
            established = models - models // 3
            earlier = simulate(theta[:established], 500 * established, rng)
            np.add.at(battles, (earlier.model_a, earlier.model_b), 1.0)
            battles = battles + battles.T
        known = sampling.information(theta, battles, ALPHA)
        sd = target / (1.959963984540054 * bt.ELO_SCALE)
        uniform_needed = votes_to_reach(sd, theta, known, oracle=False)
        ceiling.append(1 - votes_to_reach(sd, theta, known, oracle=True) / uniform_needed)
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
        "oracle": float(np.mean(ceiling)),
        "coverage_uniform": float(np.mean(covered["uniform"])),
        "coverage_active": float(np.mean(covered["active"])),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--target", type=float, default=25.0, help="mean 95%% half-width to reach (Elo points)")
    parser.add_argument("--spreads", type=float, nargs="+", default=[1.0, 0.58],
                        help="SDs of the true strengths in logits (1 logit = 174 Elo points)")  # fmt: skip
    args = parser.parse_args()
    if args.models < 3 or args.seeds < 1 or args.batch < 1 or args.target <= 0 or min(args.spreads) < 0:
        parser.error("need --models >= 3, --seeds >= 1, --batch >= 1, --target > 0, --spreads >= 0")
    print(f"{args.models} models, {args.seeds} seeds, weights refreshed every {args.batch} votes (plan horizon "
          f"max({sampling.MIN_PLANNED_VOTES}, a tenth of the votes so far)), floor {sampling.DEFAULT_FLOOR:.0%}, "
          f"target mean half-width {args.target:g} points")  # fmt: skip
    print(f"{'scenario':<12}{'spread':>8}{'uniform votes':>15}{'active votes':>14}{'fewer':>8}{'oracle':>8}"
          f"{'coverage u/a':>16}{'seconds':>9}")  # fmt: skip
    for spread in args.spreads:
        for name in ("cold start", "arrivals"):
            r = scenario(name, args.models, args.seeds, args.batch, args.target, spread)
            print(f"{name:<12}{spread:>8.2f}{r['uniform']:>15,.0f}{r['active']:>14,.0f}{r['saving']:>8.0%}"
                  f"{r['oracle']:>8.0%}{r['coverage_uniform']:>9.0%} / {r['coverage_active']:.0%}"
                  f"{r['seconds']:>9.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
