"""Votes to flip against greedy refits, on LLMFAO's real crowd votes and on synthetic arenas.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.flip_bench [--seeds 3] [--candidates 64]

For every pair of neighbours on each board: the published number (ratings.flip.votes_to_flip, confirmed by
refits), the first linear estimate (influence function only, no refit) and the slow reference (greedy refits, one
vote at a time, each the one whose removal by an actual refit shrinks the gap most; among the `--candidates` kinds
the influence function ranks highest, all kinds with `--candidates 0`). Prints the share of pairs within 20% of the
reference, the distribution of the ratio to it, and the time each took.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from ratings import bradley_terry as bt
from ratings import flip, pooling
from ratings import leaderboard as lb
from ratings.outcomes import PairOutcomes
from ratings.simulate import simulate, simulate_boards, true_strengths
from tests.ratings.test_bradley_terry import outcomes_from_votes
from tests.shared_data import llmfao_crowd_votes

ALPHA = bt.DEFAULT_ALPHA


def llmfao_outcomes() -> PairOutcomes:
    return outcomes_from_votes(llmfao_crowd_votes())[0]


def compare(problem: flip.Problem, theta: np.ndarray, present: np.ndarray, candidates: int | None) -> dict:
    """Per neighbour pair: confirmed, linear and greedy-refit votes to flip, and the times."""
    upper, lower = flip.neighbours(theta, present)
    gap = theta[upper] - theta[lower]
    started = time.perf_counter()
    flips = flip.votes_to_flip(problem, upper, lower, gap)
    fast = time.perf_counter() - started
    problem.steps = 2  # as the recompute refits the emotion boards: two warm-started chord steps
    quick = flip.votes_to_flip(problem, upper, lower, gap).votes
    problem.steps = None
    started = time.perf_counter()
    greedy = np.array([flip.greedy_refits(problem, int(u), int(v), float(g), candidates=candidates)
                       for u, v, g in zip(upper, lower, gap, strict=True)])  # fmt: skip
    slow = time.perf_counter() - started
    return {"confirmed": flips.votes, "linear": flips.linear, "quick": quick, "greedy": greedy, "fast_s": fast,
            "slow_s": slow}  # fmt: skip


def within(estimate: np.ndarray, reference: np.ndarray, tolerance: float = 0.2) -> np.ndarray:
    return np.abs(estimate - reference) <= tolerance * reference


def report(name: str, rows: list[dict]) -> None:
    confirmed = np.concatenate([r["confirmed"] for r in rows])
    linear = np.concatenate([r["linear"] for r in rows])
    quick = np.concatenate([r["quick"] for r in rows])
    greedy = np.concatenate([r["greedy"] for r in rows])
    ok = greedy > 0
    c, li, qk, g = confirmed[ok], linear[ok], quick[ok], greedy[ok]
    ratio = c / g
    print(f"{name}: {ok.sum()} neighbour pairs (greedy reference k: median {np.median(g):.0f}, max {g.max()}); "
          f"{(greedy < 0).sum()} more never swapped by greedy refits, of which confirmed says so for "
          f"{((greedy < 0) & (confirmed < 0)).sum()}")  # fmt: skip
    for label, estimate in (("confirmed", c), ("2 steps", qk), ("linear", li)):
        r = estimate / g
        print(f"  {label:9s}: within 20% {within(estimate, g).mean():.1%}; equal {np.mean(estimate == g):.1%}; "
              f"fewer {np.mean(estimate < g):.1%}; more {np.mean(estimate > g):.1%}; ratio to greedy "
              f"min {r.min():.2f} p5 {np.percentile(r, 5):.2f} median {np.median(r):.2f} "
              f"p95 {np.percentile(r, 95):.2f} max {r.max():.2f}")  # fmt: skip
    worst = np.argsort(-np.abs(np.log(ratio)))[:3]
    print(f"  worst confirmed/greedy: {[(int(c[k]), int(g[k])) for k in worst]}")
    fast, slow = sum(r["fast_s"] for r in rows), sum(r["slow_s"] for r in rows)
    print(f"  time: votes_to_flip {fast:.2f} s, greedy refits {slow:.1f} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=64, help="kinds refitted per greedy step (0: all)")
    args = parser.parse_args(argv)
    candidates = args.candidates or None

    outcomes = llmfao_outcomes()
    theta = bt.fit(outcomes.win_matrix(), ALPHA)
    report("LLMFAO crowd (8,931 votes, 59 models)", [
        compare(flip.Problem.plain(outcomes, ALPHA), theta, np.arange(outcomes.n_models), candidates)])  # fmt: skip

    rows = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        for n_models, n_battles, spread in ((20, 5_000, 0.6), (40, 20_000, 1.0)):
            battles = simulate(true_strengths(n_models, rng, spread), n_battles, rng).aggregate()
            fitted = bt.fit(battles.win_matrix(), ALPHA)
            rows.append(compare(flip.Problem.plain(battles, ALPHA), fitted, np.arange(n_models), candidates))
    report(f"synthetic arenas ({args.seeds} seeds x 20 models/5k votes and 40 models/20k votes)", rows)

    rows = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(100 + seed)
        boards = simulate_boards(true_strengths(20, rng, 0.6), 0.3, [4000, 600, 150], rng)
        overall, per_board = boards.aggregate()
        overall_board = lb.rate(overall, lb.RatingParams(ci="sandwich"))
        wins = np.stack([b.win_matrix() for b in per_board])
        pooled = pooling.pool(wins, overall.win_matrix(), ALPHA, overall_board.component)
        for g, board in enumerate(per_board):
            problem = flip.Problem.pooled(board, pooled.centre[g], pooled.prior_precision(g))
            rows.append(compare(problem, pooled.theta[g], flip._present(board), candidates))
    report(f"synthetic pooled boards ({args.seeds} seeds x 3 boards of 4,000/600/150 votes, tau fixed)", rows)


if __name__ == "__main__":
    main()
