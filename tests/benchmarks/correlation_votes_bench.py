"""How many votes before the arena's correlation with EQ-Bench 4 is known to within +-0.3?

Simulates the EQ study on the 28 EQ-Bench 4 models: battles between uniformly drawn pairs (as the site draws
them), outcomes from "true" arena strengths, ratings with bootstrap intervals, then the Spearman correlation
with EQ-Bench 4's published Elo and its interval, exactly as `arena analysis eq` computes it (models resampled,
every model's true rating and score drawn from its errors-in-variables posterior). Three worlds: voters who agree
with EQ-Bench 4 perfectly (true rank correlation 1) and voters who agree in part (EQ-Bench 4's Elo plus
independent noise, true Spearman about 0.8 or 0.5). Prints, per vote count, the median estimate and half-width
of the 95% interval over seeds, and how many seeds' intervals held the true Spearman.

    python -m tests.benchmarks.correlation_votes_bench [--seeds 5] [--rounds 300]
"""

from __future__ import annotations

import argparse
import csv
import statistics

import numpy as np

from ratings import bradley_terry as bt
from ratings.correlation import rank_correlations, se_from_interval
from ratings.leaderboard import RatingParams, rate
from ratings.simulate import simulate
from tests.shared_data import shared_file

VOTE_COUNTS = (50, 100, 150, 200, 300, 500, 1000, 2000, 4000, 8000)
TARGET = 0.3


def eqbench4() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with shared_file("eqbench4_models.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return tuple(np.array([float(r[c]) for r in rows]) for c in ("elo", "elo_ci_low", "elo_ci_high"))


def interval(theta: np.ndarray, votes: int, scores, score_se, seed: int, rounds: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    battles = simulate(theta, votes, rng, tie_share=0.3, both_bad_share=0.2)
    board = rate(battles.aggregate(), RatingParams(rounds=rounds, seed=seed))
    (spearman,) = rank_correlations(
        board.rating, scores, rng, rating_se=se_from_interval(board.ci_low, board.ci_high), score_se=score_se,
        rounds=rounds, methods=("spearman",),
    )  # fmt: skip
    return spearman.estimate, spearman.ci_low, spearman.ci_high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=300, help="bootstrap rounds for ratings and correlation")
    args = parser.parse_args()
    elo, low, high = eqbench4()
    score_se = se_from_interval(low, high)
    perfect = (elo - elo.mean()) / bt.ELO_SCALE
    noise = np.random.default_rng(99).normal(0, perfect.std(), len(elo))
    worlds = {"agree fully": perfect, "mostly agree": perfect + 0.9 * noise, "agree weakly": perfect + 2.0 * noise}
    for name, theta in worlds.items():
        true_rho = float(np.corrcoef(np.argsort(np.argsort(theta)), np.argsort(np.argsort(elo)))[0, 1])
        print(f"\nvoters who {name} with EQ-Bench 4 (true Spearman {true_rho:.2f}); {len(elo)} models")
        print(f"{'votes':>8} {'median estimate':>16} {'median half-width':>18} {'held truth':>11}   < +-{TARGET}?")
        for votes in VOTE_COUNTS:
            runs = [interval(theta, votes, elo, score_se, seed, args.rounds) for seed in range(args.seeds)]
            width = statistics.median((high - low) / 2 for _, low, high in runs)
            estimate = statistics.median(r[0] for r in runs)
            held = sum(low <= true_rho <= high for _, low, high in runs)
            print(f"{votes:>8,} {estimate:>16.2f} {width:>18.2f} {held:>6}/{len(runs):<4}   "
                  f"{'yes' if width < TARGET else 'no'}")  # fmt: skip


if __name__ == "__main__":
    main()
