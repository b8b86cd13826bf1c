"""The composite board (ratings.composite): with the judge at weight 0 it is the human board; with a biased judge
and sparse votes it lands nearer the truth; weights are chosen on voters held out whole."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from ratings import composite
from ratings.leaderboard import RatingParams, rate
from ratings.simulate import simulate, true_strengths
from tests.benchmarks.composite_bench import llmfao_sources, rmse
from tests.benchmarks.composite_bench import simulate as simulate_arena


@pytest.mark.parametrize("both_bad", ["tie", "drop"])
@pytest.mark.parametrize("seed", [0, 1])
def test_judge_weight_zero_reproduces_the_human_board(seed, both_bad):
    rng = np.random.default_rng(seed)
    n = 12
    outcomes = simulate(true_strengths(n, rng), 600, rng, tie_share=0.3, both_bad_share=0.2).aggregate()
    board = rate(outcomes, RatingParams(ci="sandwich", both_bad=both_bad))
    human = composite.human_from_outcomes(outcomes, both_bad)
    model = np.tile(np.arange(n), 20)
    judge = composite.score_source("judge", model, np.repeat(np.arange(20), n), rng.integers(0, 11, len(model)))
    fit = composite.fit(n, [human, replace(judge, weight=0.0)])
    assert np.max(np.abs(fit.rating - board.rating)) < 1e-6
    # Its sandwich is the board's sandwich too: the judge adds nothing to H or to B at weight 0.
    assert np.max(np.abs(fit.ci_low - board.ci_low)) < 1e-6
    assert np.max(np.abs(fit.ci_high - board.ci_high)) < 1e-6
    # A judge with weight moves the board (the test above could not pass by ignoring judges altogether).
    moved = composite.fit(n, [human, replace(judge, weight=0.5)])
    assert np.max(np.abs(moved.rating - board.rating)) > 1.0


def test_a_biased_judge_brings_sparse_human_votes_nearer_the_truth():
    """Four seeds of the benchmark's arena (20 models, 300 votes by 60 voters, a judge biased by 0.25 logits
    per model scoring one reply per model on 60 messages): mean RMSE at most 0.85 of the human board's."""
    human, mixed = [], []
    for seed in range(4):
        arena = simulate_arena(seed)
        n = len(arena.truth)
        board = rate(arena.outcomes, RatingParams(ci="sandwich"))
        fit = composite.composite(n, arena.human, [arena.scores], seed=seed)
        human.append(rmse(board.theta, arena.truth))
        mixed.append(rmse(fit.theta, arena.truth))
        assert fit.folds == 5 and fit.weights["judge"] > 0
    assert np.mean(mixed) <= 0.85 * np.mean(human)


def test_folds_never_split_a_voter():
    rng = np.random.default_rng(3)
    voter = rng.integers(0, 40, 500)
    human = composite.human_source(rng.integers(0, 5, 500), np.full(500, 5), np.ones(500), np.ones(500), voter)
    folds = composite.folds_by_voter(human, 5)
    for v in np.unique(voter):
        assert len(np.unique(folds[voter == v])) == 1
    assert len(np.unique(folds)) == 5


def test_a_judge_never_scores_its_own_family():
    family = ["openai", "anthropic", "openai", "meta"]
    model = np.tile(np.arange(4), 3)
    message = np.repeat(np.arange(3), 4)
    scores = composite.score_source("gpt", model, message, np.arange(12) % 10, family=family, judge_family="openai")
    assert not ({0, 2} & set(scores.i.tolist()) | {0, 2} & set(scores.j.tolist()))
    assert len(scores) == 3  # one pair (1, 3) per message
    everyone = composite.score_source("gpt", model, message, np.arange(12) % 10)
    assert len(everyone) == 3 * 6


def test_score_pairs_are_soft_targets_of_the_score_gap():
    scores = composite.score_source("j", [0, 1, 2], [7, 7, 8], [8.0, 6.0, 9.0], temperature=2.0)
    assert len(scores) == 1  # model 2 answered another message alone
    assert scores.y[0] == pytest.approx(1 / (1 + np.exp(-1.0)))


def test_llmfao_crowd_and_gpt4_verdicts():
    """Real data: the LLMFAO crowd's votes (folds by worker) and GPT-4's verdicts on the same pairs. The chosen
    weight predicts held-out workers at least as well as the crowd alone, and the board's sentence has a number."""
    n, human, verdicts, _ = llmfao_sources()
    fit = composite.composite(n, human, [verdicts])
    tried = {w: ll for w, _, ll in fit.selection["gpt-4"]}
    assert tried[fit.weights["gpt-4"]] >= tried[0.0]
    assert fit.observations["gpt-4"] > 2000
    assert np.all(fit.ci_high - fit.ci_low > 0)
