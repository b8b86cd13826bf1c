"""The human ceiling on synthetic voters with known noise: for each setting (spread of single pairs of replies
around their models' difference, share of votes that are uniform guesses) and seed, the true ceiling (the mean
over items of the most probable vote's probability) beside the estimate from 2-3 votes per item, with and without
ties, and the model-free bound. Prints points (percent).

    python -m tests.benchmarks.reliability_bench [--seeds 5] [--items 1000]
"""

from __future__ import annotations

import argparse

import numpy as np

from ratings.reliability import reliability
from tests.ratings.test_reliability import synthetic_arena

SETTINGS = ((0.3, 0.0), (1.0, 0.0), (0.3, 0.15), (1.0, 0.15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--items", type=int, default=1000)
    args = parser.parse_args()
    print("spread noise seed | ceiling: truth  estimate [95%]        | without ties: truth estimate | bound")
    worst = 0.0
    for spread, noise in SETTINGS:
        for seed in range(args.seeds):
            d, counts, truth, truth_d = synthetic_arena(seed, spread=spread, noise=noise, items=args.items)
            r = reliability(d, counts, rounds=200, rng=np.random.default_rng(seed))
            low, high = r.ceiling.ci
            worst = max(worst, abs(r.ceiling.value - truth), abs(r.ceiling_decisive.value - truth_d))
            print(f"{spread:>6} {noise:>5} {seed:>4} | {100 * truth:13.1f} {100 * r.ceiling.value:9.1f} "
                  f"[{100 * low:.1f}, {100 * high:.1f}] | {100 * truth_d:19.1f} {100 * r.ceiling_decisive.value:8.1f} "
                  f"| {100 * r.ceiling_bound.value:5.1f}")  # fmt: skip
    print(f"largest gap between estimate and truth: {100 * worst:.1f} points")


if __name__ == "__main__":
    main()
