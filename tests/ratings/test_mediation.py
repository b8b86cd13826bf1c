"""The difference-in-coefficients mediation on synthetic arenas whose mediated share is known: EQ acting only
through "felt heard" (share 1), not through it at all (share 0), and half way (the share the method targets,
computed on a very large arena of the same design)."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.mediation import difference_mediation
from ratings.simulate import simulate_mediation


def mediated(arena, rounds: int, seed: int = 0):
    return difference_mediation(arena.battles, "eq_overall", arena.heard_a - arena.heard_b, "felt_heard",
                                cluster=arena.voter, rounds=rounds, rng=np.random.default_rng(seed))  # fmt: skip


@pytest.mark.parametrize(
    ("direct", "heard_effect", "truth"),
    [(0.0, 1.2, 1.0), (0.3, 0.0, 0.0), (0.15, 1.2, None)],
    ids=["all-through-heard", "none-through-heard", "part-through-heard"],
)
def test_the_share_mediated_is_recovered_with_an_interval(direct, heard_effect, truth):
    if truth is None:
        # The difference method's own target: its value on an arena a hundred times larger (no bootstrap).
        truth = mediated(simulate_mediation(100_000, np.random.default_rng(1), direct=direct,
                                            heard_effect=heard_effect), rounds=0).share  # fmt: skip
        assert 0.4 < truth < 0.7
    found = [mediated(simulate_mediation(1_500, np.random.default_rng(seed), direct=direct,
                                         heard_effect=heard_effect), rounds=40) for seed in range(3)]  # fmt: skip
    # Three arenas: the interval covers the truth in most, the estimates centre on it.
    assert sum(m.share_ci[0] <= truth <= m.share_ci[1] for m in found) >= 2
    assert abs(np.mean([m.share for m in found]) - truth) < 0.15
    for m in found:
        assert m.indirect == pytest.approx(m.total - m.direct)
        assert m.rounds + m.failed_rounds == 40 and m.failed_rounds < 3
        # The mediator's own effect is found where it was planted.
        assert (m.mediator_effect > 0.6) == (heard_effect > 0)


def test_the_result_serialises_with_null_for_what_is_not_finite():
    arena = simulate_mediation(600, np.random.default_rng(3))
    out = mediated(arena, rounds=20).as_dict()
    assert set(out) >= {"total", "direct", "indirect", "share", "n_battles", "rounds"}
    assert out["share"]["ci_low"] <= out["share"]["estimate"] <= out["share"]["ci_high"]
