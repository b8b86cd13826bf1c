"""Session clustering benchmark: do the 95% intervals cover the truth when a session's votes share an effect?

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.session_clustering_bench [--arenas 200] [--models 8] [--sessions 150]
        [--votes-per-session 20] [--session-sd 1.5] [--single-votes 300] [--rounds 1000] [--seed 0]

Each arena: true strengths (SD 0.6 logits); evaluation sessions, each perceiving every model's strength shifted by
its own normal(0, --session-sd) and casting --votes-per-session votes with that shift (a visitor who, in one
sitting, keeps talking with models that suit their conversation); and --single-votes votes without a session. The
truth an interval should cover is the strengths a fit of infinitely many such votes converges to
(`ratings.simulate.population_strengths`). Every arena is rated four ways on the same counts: the bootstrap and
the sandwich treating every vote as independent, and the same two with whole sessions resampled (the recompute's
default when sessions exist). Printed: each method's share of model intervals that cover the truth, its median
interval width, and the target (clustered >= 93% where independent < 90%).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ratings import bradley_terry as bt
from ratings.intervals import ClusteredOutcomes
from ratings.leaderboard import RatingParams, rate
from ratings.simulate import population_strengths, session_rows, simulate_sessions, true_strengths

METHODS = (
    ("bootstrap, every vote independent", "bootstrap", False),
    ("bootstrap, sessions resampled", "bootstrap", True),
    ("sandwich, every vote independent", "sandwich", False),
    ("sandwich, clustered by session", "sandwich", True),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arenas", type=int, default=200)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--sessions", type=int, default=150)
    parser.add_argument("--votes-per-session", type=int, default=20)
    parser.add_argument("--session-sd", type=float, default=1.5)
    parser.add_argument("--single-votes", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    hits = {name: [] for name, _, _ in METHODS}
    widths = {name: [] for name, _, _ in METHODS}
    started = time.perf_counter()
    for arena in range(args.arenas):
        rng = np.random.default_rng([args.seed, arena])
        theta = true_strengths(args.models, rng, 0.6)
        truth = bt.to_elo(population_strengths(theta, args.session_sd))
        battles = simulate_sessions(theta, args.sessions, args.votes_per_session, rng, session_sd=args.session_sd,
                                    single_votes=args.single_votes)  # fmt: skip
        outcomes = battles.aggregate()
        clustered = ClusteredOutcomes.from_sessions(outcomes, session_rows(battles))
        for name, ci, by_session in METHODS:
            board = rate(outcomes, RatingParams(ci=ci, rounds=args.rounds, seed=arena),
                         clustered if by_session else None)  # fmt: skip
            hits[name].extend((board.ci_low <= truth) & (truth <= board.ci_high))
            widths[name].extend(board.ci_high - board.ci_low)
    elapsed = time.perf_counter() - started

    votes = args.sessions * args.votes_per_session + args.single_votes
    print(f"{args.arenas} arenas of {args.models} models, {votes:,} votes each: {args.sessions} sessions of "
          f"{args.votes_per_session} votes (session SD {args.session_sd} logits) and {args.single_votes} votes "
          f"without a session; {args.rounds} bootstrap rounds; {elapsed:.1f} s")  # fmt: skip
    print(f"{'method':<38} {'coverage of the truth':>22} {'median width (points)':>22}")
    for name, _, _ in METHODS:
        print(f"{name:<38} {np.mean(hits[name]):>21.1%} {np.median(widths[name]):>22.1f}")
    independent = np.mean(hits[METHODS[0][0]])
    clustered_coverage = np.mean(hits[METHODS[1][0]])
    met = clustered_coverage >= 0.93 and independent < 0.90
    print(f"target (sessions resampled >= 93% where independent < 90%): {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
