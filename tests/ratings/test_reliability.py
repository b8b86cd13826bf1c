"""Human agreement, self-consistency and the judge ceiling from repeated battles (ratings/reliability.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ratings import bradley_terry as bt
from ratings.reliability import (
    FIRST,
    SECOND,
    TIE,
    ceiling_bound,
    davidson_probabilities,
    reliability,
    wilson,
)


def synthetic_arena(seed: int, *, spread: float, noise: float, n_models: int = 8, items: int = 1000,
                    singles: int = 5000, nu: float = 0.8):  # fmt: skip
    """Voters with known noise: each pair of replies has its own log-odds (the models' difference plus a normal
    of sd `spread`), ties follow Davidson's model, and each vote is a uniform guess with probability `noise`.
    Returns the board's log-odds per repeated item (fitted on the single votes, as the site does), the votes of
    2-3 distinct visitors per item, and the true ceilings (with and without ties)."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0, 1.0, n_models)

    def draw(n):
        a = rng.integers(0, n_models, n)
        b = (a + rng.integers(1, n_models, n)) % n_models
        x = theta[a] - theta[b] + rng.normal(0, spread, n)
        return a, b, (1 - noise) * davidson_probabilities(x, nu) + noise / 3

    a, b, p = draw(singles)
    labels = (rng.random(singles)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    wins = np.zeros((n_models, n_models))
    np.add.at(wins, (a[labels == FIRST], b[labels == FIRST]), 1.0)
    np.add.at(wins, (b[labels == SECOND], a[labels == SECOND]), 1.0)
    np.add.at(wins, (a[labels == TIE], b[labels == TIE]), 0.5)
    np.add.at(wins, (b[labels == TIE], a[labels == TIE]), 0.5)
    board = bt.fit(wins)
    a, b, p = draw(items)
    counts = np.array([rng.multinomial(m, pi) for m, pi in zip(rng.integers(2, 4, items), p, strict=True)])
    truth = p.max(axis=1).mean()
    truth_decisive = p[:, :2].max(axis=1).sum() / p[:, :2].sum()
    return board[a] - board[b], counts, truth, truth_decisive


@pytest.mark.parametrize(("spread", "noise"), [(0.3, 0.0), (1.0, 0.0), (0.3, 0.15), (1.0, 0.15)])
@pytest.mark.parametrize("seed", range(2))
def test_the_estimated_ceiling_is_within_3_points_of_the_truth(seed, spread, noise):
    d, counts, truth, truth_decisive = synthetic_arena(seed, spread=spread, noise=noise)
    result = reliability(d, counts, rounds=100, rng=np.random.default_rng(seed))
    assert abs(result.ceiling.value - truth) <= 0.03
    assert abs(result.ceiling_decisive.value - truth_decisive) <= 0.03
    low, high = result.ceiling.ci
    assert low <= result.ceiling.value <= high and high - low < 0.12
    # The model-free bound holds whatever the model; near chance agreement it is steep, so its estimate is noisy
    # and only its interval is sure to reach the truth.
    assert result.ceiling_bound.ci[1] >= truth


def test_agreement_is_the_share_of_agreeing_pairs_per_item():
    # Item 1: votes first, first, tie -> pairs (ff, ft, ft): 1/3; item 2: first, second -> 0; item 3: one vote.
    counts = np.array([[2, 0, 1], [1, 1, 0], [1, 0, 0]])
    result = reliability(np.zeros(3), counts, rounds=50)
    assert result.items == 2 and result.pairs == 4
    assert result.agreement.value == pytest.approx((1 / 3 + 0) / 2)
    # Decisive only: item 1 has first, first -> 1; item 2 first, second -> 0.
    assert result.agreement_decisive.value == pytest.approx(0.5)


def test_the_bound_is_exact_for_one_favourite_and_even_rest():
    p = np.array([0.6, 0.2, 0.2])
    assert ceiling_bound(float((p**2).sum()), 3) == pytest.approx(0.6)
    assert ceiling_bound(0.5, 2) == pytest.approx(0.5)
    assert ceiling_bound(1.0, 2) == pytest.approx(1.0)


def test_self_consistency_per_visitor_and_overall():
    rng = np.random.default_rng(4)
    # 60 visitors, 10 repeats each; visitor v repeats their verdict with probability 0.5 + v / 120.
    voters = np.repeat(np.arange(60), 10)
    rate = 0.5 + voters / 120
    first = rng.integers(0, 2, len(voters))
    second = np.where(rng.random(len(voters)) < rate, first, 1 - first)
    result = reliability(np.zeros(0), np.zeros((0, 3)), repeat_voters=voters, first=first, second=second,
                         rounds=300, rng=rng)  # fmt: skip
    truth = rate.mean()
    assert result.self_consistency.n == 600
    assert result.self_consistency.ci[0] <= truth <= result.self_consistency.ci[1]
    assert result.agreement.value is None and result.ceiling.value is None  # no item seen by two visitors
    assert len(result.voters) == 60 and all(v.repeats == 10 for v in result.voters)
    assert all(v.ci[0] <= v.rate <= v.ci[1] for v in result.voters)
    # A tie on either side leaves the pair out of the decisive figure.
    with_tie = reliability(np.zeros(0), np.zeros((0, 3)), repeat_voters=[0, 0], first=[TIE, FIRST],
                           second=[TIE, FIRST], rounds=20)  # fmt: skip
    assert with_tie.self_consistency.value == 1.0 and with_tie.self_consistency_decisive.n == 1


def test_wilson_interval():
    low, high = wilson(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-3) and high == pytest.approx(0.9433, abs=1e-3)
    assert wilson(0, 0) == (0.0, 1.0)
