"""The recompute's math alone, in process, on counts drawn like scale_bench's (issue 23): CPU seconds per phase.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.recompute_math_bench --votes 100000 --votes 10000000 [--save PATH]

Without the database: scale_bench's votes (200 models, uniform distinct pairs, the soft-tie outcomes of
ratings.simulate, 2,000 prompts tagged with one or two EmoNet categories) are drawn as counts, one multinomial
per set of tags over the (model_a, model_b, outcome) cells, and summed per board (a vote counts once on a group
board however many of the group's categories its prompt carries), so ten million votes take seconds. Then what
the recompute does with them: the overall board (1000 bootstrap rounds) and its votes to flip, and per family
(40 categories, 7 groups) the pooled fit and every board's votes to flip. One BLAS thread, as the command runs.

--save PATH writes every board's votes to flip (npz), to compare two versions of the code on the same counts.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from arena.taxonomy import EMONET_CATEGORIES, EMONET_GROUPS, GROUP_OF  # noqa: E402
from ratings import flip, pooling  # noqa: E402
from ratings.leaderboard import RatingParams, from_posterior, rate  # noqa: E402
from ratings.outcomes import Outcome, PairOutcomes  # noqa: E402
from ratings.simulate import true_strengths  # noqa: E402


def prompt_tags(n_prompts: int) -> list[frozenset[str]]:
    """scale_bench's tags: prompt p has category p % 40, and every third prompt one more."""
    tags = [{EMONET_CATEGORIES[p % len(EMONET_CATEGORIES)]} for p in range(n_prompts)]
    for p in range(0, n_prompts, 3):
        tags[p].add(EMONET_CATEGORIES[(p * 7 + 3) % len(EMONET_CATEGORIES)])
    return [frozenset(t) for t in tags]


def cell_probabilities(theta: np.ndarray, tie_share: float = 0.4, both_bad_share: float = 0.2):
    """ratings.simulate's battle as a distribution over (model_a, model_b, outcome) cells."""
    n = len(theta)
    a, b = np.nonzero(~np.eye(n, dtype=bool))
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    tie = tie_share * 2.0 * np.minimum(p, 1.0 - p)
    per_outcome = {Outcome.A_WINS: p - tie / 2, Outcome.B_WINS: 1.0 - p - tie / 2,
                   Outcome.TIE: tie * (1 - both_bad_share), Outcome.BOTH_BAD: tie * both_bad_share}  # fmt: skip
    pair = 1.0 / len(a)
    cells = [(a, b, np.full(len(a), int(o)), pair * share) for o, share in per_outcome.items()]
    return tuple(np.concatenate(part) for part in zip(*cells, strict=True))


def draw_boards(n_votes: int, n_models: int = 200, n_prompts: int = 2000, seed: int = 0):
    """(overall counts, {board label: counts}) over the same cells, drawn like scale_bench's votes."""
    rng = np.random.default_rng(seed)
    theta = true_strengths(n_models, rng)
    a, b, o, prob = cell_probabilities(theta)
    prob = prob / prob.sum()
    tags = prompt_tags(n_prompts)
    per_prompt = rng.multinomial(n_votes, np.full(n_prompts, 1.0 / n_prompts))
    classes: dict[frozenset[str], int] = {}
    for t, v in zip(tags, per_prompt.tolist(), strict=True):
        classes[t] = classes.get(t, 0) + v
    overall = np.zeros(len(prob))
    boards = {label: np.zeros(len(prob)) for label in [*EMONET_GROUPS, *EMONET_CATEGORIES]}
    for t, v in sorted(classes.items(), key=lambda item: sorted(item[0])):
        counts = rng.multinomial(v, prob).astype(np.float64)
        overall += counts
        for label in t | {GROUP_OF[c] for c in t}:
            boards[label] += counts

    def outcomes(counts):
        on = counts > 0
        return PairOutcomes(n_models, a[on], b[on], o[on], counts[on])

    return outcomes(overall), {label: outcomes(c) for label, c in boards.items() if c.sum() > 0}


def cpu() -> float:
    return time.process_time()


def run(n_votes: int, rounds: int, seed: int) -> tuple[dict, dict]:
    overall, boards = draw_boards(n_votes, seed=seed)
    params = RatingParams(rounds=rounds)
    times, flips = {}, {}
    start = cpu()
    board = rate(overall, params)
    times["overall bootstrap"] = cpu() - start
    start = cpu()
    flips["overall"] = flip.board_flips(overall, board.rating, board.theta, params.alpha, params.both_bad,
                                        board.component)  # fmt: skip
    times["overall flips"] = cpu() - start
    for family, labels in (("categories", EMONET_CATEGORIES), ("groups", EMONET_GROUPS)):
        counted = {label: boards[label] for label in labels if label in boards}
        wins = np.stack([o.win_matrix(params.both_bad) for o in counted.values()])
        start = cpu()
        result = pooling.pool(wins, overall.win_matrix(params.both_bad), params.alpha, board.component)
        times[f"{family} pooled fit"] = cpu() - start
        spent = 0.0
        for g, (label, outcomes) in enumerate(counted.items()):
            shown = from_posterior(outcomes, result.theta[g], result.covariance[g], board.component, params)
            start = cpu()
            prior = (result.centre[g], result.prior_precision(g))
            flips[label] = flip.pooled_board_flips(outcomes, shown.rating, result.theta[g], *prior, board.component)
            spent += cpu() - start
        times[f"{family} flips"] = spent
    times["total"] = sum(times.values())
    return times, flips


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, action="append", help="repeatable (default: 100,000)")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", help="npz of every board's votes to flip, keyed votes/board")
    args = parser.parse_args(argv)
    saved = {}
    for n_votes in args.votes or [100_000]:
        times, flips = run(n_votes, args.rounds, args.seed)
        print(json.dumps({"votes": n_votes, "cpu_s": {k: round(v, 2) for k, v in times.items()},
                          "load_average_1m": round(os.getloadavg()[0], 1)}), flush=True)  # fmt: skip
        saved.update({f"{n_votes}/{label}": value for label, value in flips.items()})
    if args.save:
        np.savez(args.save, **saved)


if __name__ == "__main__":
    main()
