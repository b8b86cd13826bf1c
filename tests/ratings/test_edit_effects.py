"""ratings.edit_effects: the edit's win chance among decisive votes, its Wilson interval, and the same in points.
On simulated votes with a planted effect the interval covers it about 95% of the time, and with no effect it
contains 0 about as often."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.edit_effects import edit_effect


def coverage(true_chance: float, votes: int, seeds: int) -> tuple[float, float]:
    """Share of seeds whose interval covers the planted effect, and the mean error of the estimate in points."""
    rng = np.random.default_rng(7)
    covered, errors = 0, []
    truth = 100 * (true_chance - 0.5)
    for _ in range(seeds):
        ties = rng.binomial(votes, 0.15)
        wins = rng.binomial(votes - ties, true_chance)
        effect, low, high = edit_effect(int(wins), int(votes - ties - wins), int(ties)).points()
        covered += low <= truth <= high
        errors.append(effect - truth)
    return covered / seeds, float(np.mean(errors))


@pytest.mark.parametrize("true_chance", [0.5, 0.62, 0.3])
def test_the_interval_covers_the_planted_effect(true_chance):
    share, mean_error = coverage(true_chance, votes=200, seeds=400)
    assert share >= 0.92
    assert abs(mean_error) < max(0.1 * abs(100 * (true_chance - 0.5)), 0.5)


def test_points_ties_and_no_decisive_vote():
    effect = edit_effect(30, 10, ties=5, both_bad=2)
    assert effect.win_chance == 0.75 and effect.decisive == 40 and effect.points()[0] == pytest.approx(25.0)
    low, high = effect.ci_low, effect.ci_high
    assert low < 0.75 < high and effect.as_dict()["effect_ci_low"] == pytest.approx(100 * (low - 0.5))
    assert edit_effect(0, 0, ties=3).points() == (None, None, None)
    assert edit_effect(0, 0, ties=3).as_dict()["ties"] == 3
