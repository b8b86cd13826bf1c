"""Per-voter quality tests on synthetic voters with known behaviour, and on real crowd workers.

Honest voters (including ones with strong tastes of their own) must almost never be flagged; scripted voters
(always A, always one model, coin flips against clear differences) must be.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ratings import bradley_terry as bt
from ratings import voter_quality as vq
from ratings.outcomes import Outcome
from ratings.simulate import SyntheticBattles, simulate_voters, true_strengths
from tests.ratings.test_bradley_terry import outcomes_from_votes
from tests.shared_data import llmfao_crowd_votes

N_MODELS = 8


def flags(battles: SyntheticBattles) -> dict[str, np.ndarray]:
    """Each rule's flags per voter, under ratings fitted to all the votes (as the recompute job does)."""
    theta = bt.fit(battles.aggregate().win_matrix())
    cells = vq.VoteCells.from_clustered(battles.aggregate_by_voter(), theta)
    return {
        "outlier": vq.outlier_voters(cells).flagged,
        "position": vq.one_sided_by_position(cells).flagged,
        "model": vq.one_sided_by_model(cells, battles.n_models).flagged,
    }


def honest(seed: int, taste_sd: float, favourite_boost: float, n_voters: int = 300) -> SyntheticBattles:
    rng = np.random.default_rng(seed)
    theta = true_strengths(N_MODELS, rng)
    return simulate_voters(theta, rng.integers(5, 400, n_voters), rng, taste_sd=taste_sd,
                           favourite_boost=favourite_boost)  # fmt: skip


@pytest.mark.parametrize(
    ("taste_sd", "favourite_boost", "max_rate"),
    [
        (0.0, 0.0, 0.001),  # the crowd's own preferences
        (0.5, 1.0, 0.002),  # strong, consistent personal taste: a favourite ~170 Elo points above the crowd's view
    ],
)
def test_honest_voters_are_almost_never_flagged(taste_sd, favourite_boost, max_rate):
    flagged, tested = {"outlier": 0, "position": 0, "model": 0}, 0
    for seed in range(20):
        battles = honest(seed, taste_sd, favourite_boost)
        tested += int((np.bincount(battles.voter) >= vq.DEFAULT_MIN_VOTES).sum())
        for rule, mask in flags(battles).items():
            flagged[rule] += int(mask.sum())
    rate = sum(flagged.values()) / tested
    print(f"\nhonest voters, taste sd {taste_sd}, favourite +{favourite_boost}: {tested} tested over 20 seeds, "
          f"flagged {flagged}, false-positive rate {rate:.4%}")  # fmt: skip
    assert rate <= max_rate


def scripted(kind: str, n_votes: int, theta: np.ndarray, rng: np.random.Generator, target: int = 0):
    """(model_a, model_b, outcome) of a script: always side A, a coin flip, or always one model."""
    n = len(theta)
    a = rng.integers(0, n, n_votes)
    b = rng.integers(0, n - 1, n_votes)
    b = b + (b >= a)
    if kind == "always_a":
        return a, b, np.full(n_votes, Outcome.A_WINS)
    if kind == "coin":
        return a, b, rng.integers(0, 2, n_votes)
    # Always `target`: the script reloads until the target is on screen, on a random side.
    other = rng.integers(0, n - 1, n_votes)
    other = other + (other >= target)
    on_a = rng.random(n_votes) < 0.5
    return (
        np.where(on_a, target, other), np.where(on_a, other, target),
        np.where(on_a, Outcome.A_WINS, Outcome.B_WINS),
    )  # fmt: skip


def with_scripts(seed: int, scripts: list[tuple[str, int, str]], spread: float = 1.5):
    """Honest voters plus one voter per script; returns the battles and the scripts' voter indices."""
    rng = np.random.default_rng(seed)
    theta = true_strengths(N_MODELS, rng, spread=spread)
    crowd = simulate_voters(theta, rng.integers(5, 300, 200), rng, taste_sd=0.5, favourite_boost=1.0)
    targets = {"weakest": int(np.argmin(theta)), "strongest": int(np.argmax(theta))}
    parts = [(crowd.model_a, crowd.model_b, crowd.outcome, crowd.voter)]
    for k, (kind, n_votes, target) in enumerate(scripts):
        a, b, o = scripted(kind, n_votes, theta, rng, targets.get(target, 0))
        parts.append((a, b, o, np.full(n_votes, 200 + k)))
    a, b, o, v = (np.concatenate(column) for column in zip(*parts, strict=True))
    return SyntheticBattles(theta, a, b, o.astype(np.int64), v), [200 + k for k in range(len(scripts))]


def test_scripted_voters_are_flagged_by_the_rule_that_describes_them():
    scripts = [("always_a", 60, ""), ("coin", 200, ""), ("always_model", 60, "weakest")]
    caught = np.zeros((3, 3), dtype=int)
    for seed in range(10):
        battles, voters = with_scripts(seed, scripts)
        verdict = flags(battles)
        for row, voter in enumerate(voters):
            caught[row] += [verdict[rule][voter] for rule in ("position", "outlier", "model")]
    print(f"\nscripts caught over 10 seeds (rows always A, coin, always weakest; cols position, outlier, model):\n"
          f"{caught}")  # fmt: skip
    assert caught[0, 0] == 10 and caught[2, 2] == 10
    assert caught[1, 1] >= 9


def test_few_votes_are_never_judged_however_lopsided():
    battles, (script,) = with_scripts(3, [("always_a", vq.DEFAULT_MIN_VOTES - 1, "")])
    assert not any(mask[script] for mask in flags(battles).values())
    battles, (script,) = with_scripts(3, [("always_a", vq.DEFAULT_MIN_VOTES + 10, "")])
    assert flags(battles)["position"][script]


def test_always_picking_the_clear_favourite_is_not_improbable():
    # The crowd's best model, far ahead: always picking it is what the ratings expect, so it is no evidence.
    battles, (fan, promoter) = with_scripts(
        4, [("always_model", 60, "strongest"), ("always_model", 60, "weakest")], spread=2.0
    )
    verdict = flags(battles)
    assert not verdict["model"][fan] and verdict["model"][promoter]


def test_a_consistent_contrarian_has_a_taste_not_a_script():
    # A voter whose ranking is the crowd's reversed disagrees with the ratings but agrees with themselves.
    rng = np.random.default_rng(5)
    theta = true_strengths(N_MODELS, rng, spread=1.5)
    crowd = simulate_voters(theta, np.full(100, 80), rng)
    contrarian = simulate_voters(-theta, np.array([200]), rng)
    coin_a, coin_b, coin_o = scripted("coin", 200, theta, rng)
    battles = SyntheticBattles(
        theta,
        np.concatenate([crowd.model_a, contrarian.model_a, coin_a]),
        np.concatenate([crowd.model_b, contrarian.model_b, coin_b]),
        np.concatenate([crowd.outcome, contrarian.outcome, coin_o]).astype(np.int64),
        np.concatenate([crowd.voter, np.full(200, 100), np.full(200, 101)]),
    )
    cells = vq.VoteCells.from_clustered(battles.aggregate_by_voter(), bt.fit(battles.aggregate().win_matrix()))
    result = vq.outlier_voters(cells)
    assert result.effect[100] < 0 and result.p_bound[100] < result.threshold  # improbable under the crowd...
    assert vq.has_own_taste(cells, 100) and not result.flagged[100]  # ...but consistent: kept
    assert not vq.has_own_taste(cells, 101) and result.flagged[101]  # the coin is flagged


def test_tail_bounds_are_upper_bounds_on_exact_tails():
    for n, p in [(30, 0.5), (60, 0.8), (200, 0.3)]:
        for k in range(n // 2, n + 1, 5):
            exact = stats.binom.sf(k - 1, n, p)  # P(X >= k)
            assert vq.chernoff_tail(n, k / n, p) >= exact * (1 - 1e-9)
            assert vq.bernstein_tail(k - n * p, n * p * (1 - p), 1 - p) >= exact * (1 - 1e-9)
    assert vq.chernoff_tail(40, 1.0, 0.8) == pytest.approx(0.8**40)
    assert vq.chernoff_tail(40, 0.5, 0.8) == 1.0 and vq.bernstein_tail(-3.0, 5.0, 1.0) == 1.0


def test_real_crowd_workers_are_flagged_only_when_extreme():
    """The LLMFAO crowd's 8,931 votes by 124 paid workers: a real crowd with some careless workers. Only a few
    are flagged, each with over a hundred votes and a glaring pattern (coin-level agreement with everyone else
    or one model picked nearly every time)."""
    votes = llmfao_crowd_votes()
    outcomes, names = outcomes_from_votes(votes)
    index = {m: k for k, m in enumerate(names)}
    workers = {w: k for k, w in enumerate(sorted({v[3] for v in votes}))}
    code = {"model_a": Outcome.A_WINS, "model_b": Outcome.B_WINS, "tie": Outcome.TIE}
    theta = bt.fit(outcomes.win_matrix())
    battles = SyntheticBattles(
        theta,
        np.array([index[v[0]] for v in votes]),
        np.array([index[v[1]] for v in votes]),
        np.array([code[v[2]] for v in votes], dtype=np.int64),
        np.array([workers[v[3]] for v in votes]),
    )
    cells = vq.VoteCells.from_clustered(battles.aggregate_by_voter(), theta)
    outliers, by_model = vq.outlier_voters(cells), vq.one_sided_by_model(cells, len(names))
    position = vq.one_sided_by_position(cells)
    out, mod = outliers.flagged, by_model.flagged
    print(f"\nLLMFAO crowd: {len(votes)} votes, {len(workers)} workers, {outliers.n_tests} tested; outliers "
          f"{np.flatnonzero(out).tolist()} (agreement {outliers.effect[out].round(2)}, votes {outliers.n_votes[out]}), "
          f"one-sided by model {np.flatnonzero(mod).tolist()} (share {by_model.effect[mod].round(2)} of "
          f"{by_model.n_votes[mod]} battles), by position {int(position.flagged.sum())}")  # fmt: skip
    flagged = outliers.flagged | by_model.flagged | position.flagged
    assert flagged.sum() <= outliers.n_tests // 10
    assert np.all(outliers.n_votes[flagged] >= 100)
    assert np.all(np.abs(outliers.effect[outliers.flagged]) <= 0.1)
    assert np.all(by_model.effect[by_model.flagged] >= vq.DEFAULT_MIN_SHARE)
