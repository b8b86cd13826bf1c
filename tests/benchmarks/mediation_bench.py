"""The felt-heard mediation on synthetic arenas with a known share: for each setting (direct EQ effect, effect of
feeling heard) the difference method's target on 300,000 battles (1 when EQ acts only through feeling heard, 0
when feeling heard does not act), then per seed the estimate on --battles votes with its 95% cluster-bootstrap
interval. Prints the shares, the mean error and how often the interval held the truth.

    python -m tests.benchmarks.mediation_bench [--seeds 10] [--battles 3000] [--rounds 200]
"""

from __future__ import annotations

import argparse

import numpy as np

from ratings.mediation import difference_mediation
from ratings.simulate import simulate_mediation

SETTINGS = (("all through heard", 0.0, 1.2), ("part through heard", 0.15, 1.2), ("none through heard", 0.3, 0.0))


def share(arena, rounds: int, seed: int = 0):
    return difference_mediation(arena.battles, "eq_overall", arena.heard_a - arena.heard_b, "felt_heard",
                                cluster=arena.voter, rounds=rounds, rng=np.random.default_rng(seed))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--battles", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    for label, direct, heard in SETTINGS:
        big = simulate_mediation(300_000, np.random.default_rng(1), direct=direct, heard_effect=heard)
        truth = share(big, rounds=0).share
        estimates, covered = [], 0
        for seed in range(args.seeds):
            found = share(simulate_mediation(args.battles, np.random.default_rng(100 + seed), direct=direct,
                                             heard_effect=heard), args.rounds, seed)  # fmt: skip
            estimates.append(found.share)
            covered += found.share_ci[0] <= truth <= found.share_ci[1]
            print(f"{label:20s} seed {seed}: share {found.share:6.3f} [{found.share_ci[0]:6.3f}, "
                  f"{found.share_ci[1]:6.3f}]  truth {truth:6.3f}")  # fmt: skip
        mean = float(np.mean(estimates))
        print(f"{label:20s} truth {truth:.3f}  mean estimate {mean:.3f}  mean error {mean - truth:+.3f}  "
              f"interval held the truth {covered}/{args.seeds}")  # fmt: skip


if __name__ == "__main__":
    main()
