"""The composite board against the human-only board on synthetic arenas with known strengths: sparse human votes
plus a biased judge that scores every reply. Prints each seed's RMSE to the truth (Elo points) and the ratio.

    python -m tests.benchmarks.composite_bench [--seeds 20] [--models 20] [--votes 300] [--bias 0.25]
"""

from __future__ import annotations

import argparse
import csv
import time
from dataclasses import dataclass

import numpy as np

from ratings import bradley_terry as bt
from ratings import composite
from ratings.leaderboard import RatingParams, rate
from ratings.outcomes import Outcome, PairOutcomes


@dataclass
class Arena:
    truth: np.ndarray
    human: composite.Source
    outcomes: PairOutcomes
    scores: composite.Source


def simulate(
    seed: int, n_models: int = 20, votes: int = 300, voters: int = 60, messages: int = 60, bias: float = 0.25,
    spread: float = 0.8, tie_share: float = 0.2,
) -> Arena:  # fmt: skip
    """Humans: `votes` battles of uniform pairs by `voters` people, BT outcomes, `tie_share` ties. The judge sees
    strengths shifted by a bias of SD `bias` logits per model and scores one reply per model and message:
    5 + 1.5 (its strength + reply noise of SD 1), rounded to whole points in 0-10."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, spread, n_models)
    theta -= theta.mean()
    a = rng.integers(0, n_models, votes)
    b = (a + rng.integers(1, n_models, votes)) % n_models
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    tie = rng.random(votes) < tie_share
    y = np.where(tie, 0.5, (rng.random(votes) < p).astype(float))
    voter = rng.integers(0, voters, votes)
    human = composite.human_source(a, b, y, np.ones(votes), voter)
    outcome = np.where(tie, Outcome.TIE, np.where(y == 1, Outcome.A_WINS, Outcome.B_WINS))
    outcomes = PairOutcomes(n_models, a, b, outcome.astype(np.int64), np.ones(votes))
    judged = theta + rng.normal(0, bias, n_models)
    model = np.tile(np.arange(n_models), messages)
    message = np.repeat(np.arange(messages), n_models)
    quality = judged[model] + rng.normal(0, 1.0, len(model))
    score = np.clip(np.rint(5 + 1.5 * quality), 0, 10)
    scores = composite.score_source("judge", model, message, score)
    return Arena(theta, human, outcomes, scores)


def llmfao_sources() -> tuple[int, composite.Source, composite.Source, list[str]]:
    """The LLMFAO crowd's votes (clustered by worker) and GPT-4's verdicts on the same pairs (one order each,
    clustered by pair), over the 59 models."""
    from tests.shared_data import shared_file

    y_of = {"left": 1.0, "right": 0.0, "tie": 0.5}
    with shared_file("llmfao/crowd-comparisons.csv").open(newline="", encoding="utf-8") as handle:
        crowd = list(csv.DictReader(handle))
    with shared_file("llmfao/gpt4-crowd-comparisons.csv").open(newline="", encoding="utf-8") as handle:
        gpt4 = list(csv.DictReader(handle))
    names = sorted({r[side] for r in crowd + gpt4 for side in ("left", "right")})
    index = {name: k for k, name in enumerate(names)}

    def columns(rows):
        i = np.array([index[r["left"]] for r in rows])
        j = np.array([index[r["right"]] for r in rows])
        return i, j, np.array([y_of[r["winner"]] for r in rows])

    i, j, y = columns(crowd)
    human = composite.human_source(i, j, y, np.ones(len(i)), np.array([int(r["worker"]) for r in crowd]))
    i, j, y = columns(gpt4)
    verdicts = composite.verdict_source("gpt-4", i, j, y, np.array([int(r["id"]) for r in gpt4]))
    return len(names), human, verdicts, names


def rmse(estimate: np.ndarray, truth: np.ndarray) -> float:
    return float(np.sqrt(np.mean((bt.ELO_SCALE * ((estimate - estimate.mean()) - (truth - truth.mean()))) ** 2)))


def run(seed: int, **kwargs) -> tuple[float, float, composite.CompositeFit]:
    arena = simulate(seed, **kwargs)
    n = len(arena.truth)
    human_board = rate(arena.outcomes, RatingParams(ci="sandwich"))
    fit = composite.composite(n, arena.human, [arena.scores], seed=seed)
    return rmse(human_board.theta, arena.truth), rmse(fit.theta, arena.truth), fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--votes", type=int, default=300)
    parser.add_argument("--bias", type=float, default=0.25)
    args = parser.parse_args()
    started = time.perf_counter()
    human, mixed = [], []
    for seed in range(args.seeds):
        h, c, fit = run(seed, n_models=args.models, votes=args.votes, bias=args.bias)
        human.append(h)
        mixed.append(c)
        scale = fit.scales.get("judge", float("nan"))
        print(f"seed {seed:2d}: human-only RMSE {h:6.1f}  composite {c:6.1f}  ratio {c / h:.2f}  "
              f"one judge pair = {fit.weights['judge']:.4g} human votes, judge scale {scale:.2f}")  # fmt: skip
    ratio = float(np.mean(mixed) / np.mean(human))
    print(f"mean RMSE over {args.seeds} seeds: human-only {np.mean(human):.1f} points, composite {np.mean(mixed):.1f}; "
          f"ratio {ratio:.3f} (target <= 0.85); {time.perf_counter() - started:.1f} s")  # fmt: skip
    n, human, verdicts, _ = llmfao_sources()
    fit = composite.composite(n, human, [verdicts])
    tried = {w: ll for w, _, ll in fit.selection["gpt-4"]}
    best = fit.weights["gpt-4"]
    print(f"LLMFAO: {human.observations:.0f} crowd votes by {len(np.unique(human.cluster))} workers, "
          f"{verdicts.observations:.0f} GPT-4 verdicts: one verdict = {best:.4g} crowd votes (judge scale "
          f"{fit.scales.get('gpt-4', float('nan')):.2f}); held-out log-likelihood per vote {tried[best]:.4f} against "
          f"{tried[0.0]:.4f} for the crowd alone")  # fmt: skip


if __name__ == "__main__":
    main()
