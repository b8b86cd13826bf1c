"""Accuracy and Cohen's kappa with bootstrap intervals (ratings/agreement.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.agreement import _kappas, agreement, cohen_kappa, confusion


def reference_kappa(a, b) -> float:
    """Cohen's kappa written out from its definition, item by item (an independent check)."""
    labels = sorted(set(a) | set(b))
    n = len(a)
    observed = sum(x == y for x, y in zip(a, b, strict=True)) / n
    expected = sum((list(a).count(k) / n) * (list(b).count(k) / n) for k in labels)
    return (observed - expected) / (1 - expected)


def test_the_textbook_example():
    # 50 items: both yes 20, a yes / b no 5, a no / b yes 10, both no 15 -> p_o = 0.7, p_e = 0.5, kappa = 0.4.
    a = np.array([0] * 20 + [0] * 5 + [1] * 10 + [1] * 15)
    b = np.array([0] * 20 + [1] * 5 + [0] * 10 + [1] * 15)
    assert confusion(a, b, 2).tolist() == [[20, 5], [10, 15]]
    stats = agreement(a, b, categories=2, rounds=500)
    assert stats.n == 50 and stats.accuracy == pytest.approx(0.7) and stats.kappa == pytest.approx(0.4)
    assert stats.accuracy_ci[0] < 0.7 < stats.accuracy_ci[1]
    assert stats.kappa_ci[0] < 0.4 < stats.kappa_ci[1]


@pytest.mark.parametrize("seed", range(5))
def test_kappa_matches_the_definition_on_three_categories(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, size=200)
    b = np.where(rng.random(200) < 0.6, a, rng.integers(0, 3, size=200))
    assert cohen_kappa(a, b, 3) == pytest.approx(reference_kappa(a.tolist(), b.tolist()))


def test_vectorised_bootstrap_kappas_equal_one_by_one():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 3, size=60), rng.integers(0, 3, size=60)
    idx = rng.integers(0, 60, size=(25, 60))
    expected = [cohen_kappa(a[row], b[row], 3) for row in idx]
    assert _kappas(a, b, idx, 3) == pytest.approx(expected)


def test_perfect_agreement_and_agreement_by_chance():
    labels = np.array([0, 1, 2, 1, 0, 2, 2, 1])
    perfect = agreement(labels, labels, categories=3, rounds=200)
    assert perfect.accuracy == 1.0 and perfect.kappa == pytest.approx(1.0)
    assert perfect.accuracy_ci == (1.0, 1.0)

    rng = np.random.default_rng(7)
    chance = agreement(rng.integers(0, 2, 3000), rng.integers(0, 2, 3000), categories=2, rounds=500, rng=rng)
    assert abs(chance.kappa) < 0.06 and chance.kappa_ci[0] < 0 < chance.kappa_ci[1]


def test_intervals_cover_the_true_accuracy_over_seeds():
    """A judge that agrees with a 60/40 human 80% of the time: accuracy 0.8, kappa 1 - 0.2 / p_e where p_e is
    chance agreement of the marginals; the 95% intervals should cover both in most of 40 seeds."""
    true_acc = 0.8
    covered_acc = covered_kappa = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        human = (rng.random(400) < 0.4).astype(int)
        judge = np.where(rng.random(400) < true_acc, human, 1 - human)
        p1_judge = 0.4 * true_acc + 0.6 * (1 - true_acc)
        p_e = 0.4 * p1_judge + 0.6 * (1 - p1_judge)
        true_kappa = (true_acc - p_e) / (1 - p_e)
        stats = agreement(judge, human, categories=2, rounds=400, rng=rng)
        covered_acc += stats.accuracy_ci[0] <= true_acc <= stats.accuracy_ci[1]
        covered_kappa += stats.kappa_ci[0] <= true_kappa <= stats.kappa_ci[1]
    assert covered_acc >= 34 and covered_kappa >= 34


def test_degenerate_input():
    empty = agreement(np.array([], dtype=int), np.array([], dtype=int), categories=3)
    assert empty.n == 0 and empty.accuracy is None and empty.kappa is None and empty.kappa_ci == (None, None)
    constant = agreement(np.zeros(10, dtype=int), np.zeros(10, dtype=int), categories=3, rounds=50)
    assert constant.accuracy == 1.0 and constant.kappa is None  # chance agreement is certain: kappa undefined
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        agreement(np.array([0, 3]), np.array([0, 1]), categories=3)
    with pytest.raises(ValueError, match="same length"):
        agreement(np.array([0, 1]), np.array([0]), categories=3)


def test_blocks_give_the_same_result_as_one_batch(monkeypatch):
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    a = np.random.default_rng(1).integers(0, 3, 50)
    b = np.random.default_rng(2).integers(0, 3, 50)
    whole = agreement(a, b, categories=3, rounds=100, rng=rng_a)
    monkeypatch.setattr("ratings.agreement.CHUNK_CELLS", 50 * 7)  # blocks of 7 resamples
    blocked = agreement(a, b, categories=3, rounds=100, rng=rng_b)
    assert blocked.n == whole.n and blocked.kappa == whole.kappa
    # The same stream of random indices, drawn in blocks: identical intervals.
    assert blocked.accuracy_ci == pytest.approx(whole.accuracy_ci)
    assert blocked.kappa_ci == pytest.approx(whole.kappa_ci)
