"""What a rating run finds beyond each model's rating, from the overall counts: tie propensity (Davidson), position
bias (side A's share of decisive votes and the position_a coefficient), the components of the comparison graph,
and the active-sampling pair weights the pairing service reads."""

from __future__ import annotations

import numpy as np

from ratings import bradley_terry as bt
from ratings import components, sampling
from ratings.covariates import a_side_wins, fit_covariates, position_rows
from ratings.leaderboard import Leaderboard
from ratings.outcomes import PairOutcomes
from ratings.ties import fit_ties


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), digits)


def whole(count: float) -> int:
    return int(round(count))


def ties(outcomes: PairOutcomes, alpha: float, both_bad: str) -> dict | None:
    """Davidson's tie propensity: the chance of a tie between two equally strong models, with its interval."""
    try:
        model = fit_ties(outcomes, alpha, both_bad)
    except ValueError:  # no ties at all: nothing to model
        return None
    low, high = model.interval()
    return {"propensity": _round(model.propensity()), "ci_low": _round(low), "ci_high": _round(high),
            # Whole numbers: the fit's sums carry its pseudo-counts' rounding (57.999999999999986 battles).
            "ties": whole(model.n_ties), "battles": whole(model.n_battles)}  # fmt: skip


def position(outcomes: PairOutcomes, alpha: float, both_bad: str) -> dict:
    """Side A's share of decisive votes, and the position_a coefficient of BT with that one covariate."""
    share, low, high, decisive = a_side_wins(outcomes)
    result = {
        "a_share": _round(share),
        "a_share_low": _round(low),
        "a_share_high": _round(high),
        "decisive": whole(decisive),
    }
    try:
        (coefficient,) = fit_covariates(position_rows(outcomes, both_bad), alpha).coefficients()
    except (ValueError, RuntimeError):  # too few battles seen both ways round to tell
        return result
    return {
        **result,
        "position_a": _round(coefficient.estimate),
        "position_a_low": _round(coefficient.ci_low),
        "position_a_high": _round(coefficient.ci_high),
        "position_a_points": _round(bt.ELO_SCALE * coefficient.estimate, 3),
    }


def component_ids(board: Leaderboard, model_ids: list[int]) -> list[list[int]]:
    """Model ids per component of the comparison graph, largest first."""
    return [[model_ids[k] for k in members] for members in components.members(board.component)]


def pair_weights(
    board: Leaderboard, model_ids: list[int], outcomes: PairOutcomes, alpha: float, both_bad: str
) -> list[tuple[int, int, float]]:
    """(low model id, high model id, probability) for every pair of the rated models, by ratings.sampling."""
    theta = board.theta
    known = sampling.information(theta, outcomes.battle_matrix(both_bad), alpha)
    planned = sampling.planned_votes(outcomes.total)
    weights = sampling.pair_weights(theta, known, planned)
    rows = []
    for i, j, p in zip(weights.i, weights.j, weights.probability, strict=True):
        a, b = model_ids[i], model_ids[j]
        rows.append((min(a, b), max(a, b), float(p)))
    return rows
