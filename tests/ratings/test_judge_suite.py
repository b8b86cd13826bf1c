"""The judge suite's measures on hand-made items (ratings/judge_suite.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.judge_suite import FIRST, NONE, SECOND, TIE, SuiteInput, suite


def items(n_models=4, seed=0, n=400, swap_flip=0.0, judge_noise=0.2):
    rng = np.random.default_rng(seed)
    theta = np.linspace(-1.5, 1.5, n_models)
    a = rng.integers(0, n_models, n)
    b = (a + rng.integers(1, n_models, n)) % n_models
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    human = np.stack([rng.binomial(3, p), np.zeros(n), np.zeros(n)], axis=1)
    human[:, 1] = 3 - human[:, 0]
    judge = np.where(rng.random(n) < judge_noise, rng.integers(0, 2, n), (p < 0.5).astype(int))
    swapped = np.where(rng.random(n) < swap_flip, 1 - judge, judge)
    swapped[: n // 4] = NONE  # a quarter judged in one order only
    return SuiteInput(a, b, human, judge, n_models, judge_swapped=swapped,
                      own_family=np.array([True] + [False] * (n_models - 1)))  # fmt: skip


def test_accuracy_brier_and_flip_rate_by_hand():
    data = SuiteInput(
        model_a=np.array([0, 1, 2]), model_b=np.array([1, 2, 0]),
        human=np.array([[2, 1, 1], [0, 3, 0], [1, 0, 0]]),
        judge=np.array([FIRST, TIE, SECOND]), n_models=3,
        judge_swapped=np.array([SECOND, NONE, SECOND]),
    )  # fmt: skip
    result = suite(data, rounds=50)
    assert result["votes"] == 8
    assert result["accuracy"]["value"] == pytest.approx((2 + 0 + 0) / 8)
    # Without ties: the judge's decisive items (1st and 3rd), their decisive votes 3 + 1, agreeing 2.
    assert result["accuracy_without_ties"]["value"] == pytest.approx(2 / 4)
    # P(first): item 1 (1 + 0) / 2 = 0.5, item 2 0.5, item 3 0. Squared gaps: item 1's three decisive votes 0.25
    # each and its tie 0, item 2's three votes 0.25 each, item 3's vote for the first 1.
    assert result["brier"]["value"] == pytest.approx((0.75 + 0.75 + 1.0) / 8)
    assert result["swap_flip_rate"]["value"] == pytest.approx(1 / 2) and result["swap_flip_rate"]["n"] == 2


def test_measures_follow_the_judge():
    good, flippy = suite(items(seed=1), rounds=200), suite(items(seed=1, swap_flip=0.3, judge_noise=0.9), rounds=200)
    assert good["board_spearman"]["value"] == pytest.approx(1.0)
    assert good["accuracy"]["value"] > flippy["accuracy"]["value"]
    assert good["swap_flip_rate"]["value"] == 0.0
    assert flippy["swap_flip_rate"]["ci"][0] <= 0.3 <= flippy["swap_flip_rate"]["ci"][1]
    for key in ("accuracy", "brier", "board_kendall", "row_spearman", "separability", "self_family_preference"):
        low, high = good[key]["ci"]
        assert low <= good[key]["value"] <= high or key.startswith(("board", "row"))


def test_self_family_preference_is_the_judges_share_minus_the_humans():
    data = SuiteInput(
        model_a=np.array([0, 1, 2]), model_b=np.array([1, 0, 1]),
        human=np.array([[1, 3, 0], [2, 2, 0], [4, 0, 0]]),
        judge=np.array([FIRST, SECOND, FIRST]), n_models=3,
        own_family=np.array([True, False, False]),
    )  # fmt: skip
    result = suite(data, rounds=30)["self_family_preference"]
    # Items 1 and 2 set model 0 against another: the judge gives it both (1.0), humans 1/4 and 2/4.
    assert result["n"] == 2 and result["judge_share"] == 1.0 and result["human_share"] == pytest.approx(0.375)
    assert result["value"] == pytest.approx(0.625)
