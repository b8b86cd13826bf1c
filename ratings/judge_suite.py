"""What an LLM judge is worth against human votes: the measures of `arena judge agreement --suite`.

An item is one pair of replies (a battle, or an LLMFAO pair) in a fixed orientation: its first and second model,
the human votes on it per label (0 first better, 1 second better, 2 tie; "both bad" is a tie), the judge's
verdict in that orientation and, where the judge also saw the replies the other way round, that verdict too
(read back into the item's orientation). Every measure gets a 95% percentile interval from one bootstrap over
items (each round redraws the items, with all their votes and verdicts):

- accuracy: the share of human votes whose label the judge gave (with ties: three labels); without ties: human
  votes for a side on items where the judge chose a side (the MT-Bench convention).
- Brier: mean squared gap between the judge's probability that the first reply wins (1, 0 or 1/2 for a verdict,
  the mean of both orders where there are two) and each vote (1, 0, 1/2 for a tie); beside it the Brier of
  always saying 1/2.
- rank correlation with the human board: board-level, Spearman and Kendall between the Bradley-Terry fit of the
  human votes and that of the judge's verdicts on the same items; row-wise, for each model with three or more
  opponents, Spearman between its (smoothed) win rates against them by humans and by the judge, averaged.
- separability: the share of model pairs whose ratings the board tells apart (|difference| > 1.96 standard
  errors, from the fit's information), on the judge's board and on the humans'.
- swap flip rate: on items judged in both orders, the share where the verdict changed with the order (read back
  into the item's orientation: a tie in one order and a side in the other is a change, a tie in both is not).
- self-family preference: on items where exactly one reply comes from the judge's own family, the share the
  judge gives that reply (ties half) minus the share the humans give it.

Pure numpy (and the engine's batched Bradley-Terry fit)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings import bradley_terry as bt
from ratings.batched import fit_many

FIRST, SECOND, TIE = 0, 1, 2
NONE = -1  # no verdict in the swapped order
CHUNK = 200


@dataclass(frozen=True)
class SuiteInput:
    model_a: np.ndarray  # (items,) model index of the first reply
    model_b: np.ndarray
    human: np.ndarray  # (items, 3) human votes per label
    judge: np.ndarray  # (items,) the judge's label
    n_models: int
    judge_swapped: np.ndarray | None = None  # (items,) label with the replies shown the other way round, or NONE
    own_family: np.ndarray | None = None  # (n_models,) bool: models of the judge's own family


def _metric(value, draws, n, **extra) -> dict:
    draws = np.asarray(draws, dtype=float)
    draws = draws[np.isfinite(draws)]
    finite = value is not None and np.isfinite(value)
    ci = [round(float(x), 4) for x in np.percentile(draws, [2.5, 97.5])] if finite and len(draws) else [None, None]
    return {"value": round(float(value), 4) if finite else None, "ci": ci, "n": int(n), **extra}


def _wins(model_a, model_b, first, second, n_models, weights) -> np.ndarray:
    """(rounds, n, n) win matrices: weights (rounds, items) times each item's first/second wins."""
    rounds = weights.shape[0]
    wins = np.zeros((rounds, n_models * n_models))
    forward = model_a * n_models + model_b
    backward = model_b * n_models + model_a
    for r in range(rounds):
        wins[r] = np.bincount(forward, weights=weights[r] * first, minlength=n_models * n_models)
        wins[r] += np.bincount(backward, weights=weights[r] * second, minlength=n_models * n_models)
    return wins.reshape(rounds, n_models, n_models)


def _fit(wins: np.ndarray) -> np.ndarray:
    start = bt.fit(wins.mean(axis=0))
    return np.concatenate([fit_many(wins[i : i + CHUNK], bt.DEFAULT_ALPHA, start) for i in range(0, len(wins), CHUNK)])


def _separability(wins: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Per round, the share of model pairs whose difference exceeds 1.96 standard errors (Fisher information of
    the regularised fit; its pseudo-inverse through H + J/n, since H has the constant vector as null space)."""
    n = wins.shape[1]
    games = wins + np.swapaxes(wins, 1, 2) + bt.DEFAULT_ALPHA
    p = 1 / (1 + np.exp(-(theta[:, :, None] - theta[:, None, :])))
    weight = games * p * (1 - p)
    idx = np.arange(n)
    weight[:, idx, idx] = 0
    hessian = -weight
    hessian[:, idx, idx] = weight.sum(axis=2)
    covariance = np.linalg.inv(hessian + 1.0 / n) - 1.0 / n
    var = np.diagonal(covariance, axis1=1, axis2=2)
    se = np.sqrt(np.maximum(var[:, :, None] + var[:, None, :] - 2 * covariance, 1e-300))
    gap = np.abs(theta[:, :, None] - theta[:, None, :])
    upper = np.triu_indices(n, 1)
    return (gap > 1.959963984540054 * se)[:, upper[0], upper[1]].mean(axis=1)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Average ranks along the last axis (ties share their mean rank)."""
    order = np.argsort(x, axis=-1, kind="stable")
    ranks = np.empty_like(x)
    np.put_along_axis(ranks, order, np.arange(x.shape[-1], dtype=float)[None, :].repeat(x.shape[0], 0), axis=-1)
    # Ties: replace each rank by the mean rank of its equal values (rows are short: a model's opponents).
    for row in range(x.shape[0]):
        values, inverse = np.unique(x[row], return_inverse=True)
        if len(values) < x.shape[1]:
            ranks[row] = (np.bincount(inverse, weights=ranks[row]) / np.bincount(inverse))[inverse]
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (x * y).sum(axis=-1) / np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))


def _kendall(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    dx = np.sign(x[:, :, None] - x[:, None, :])
    dy = np.sign(y[:, :, None] - y[:, None, :])
    n = x.shape[1]
    return (dx * dy).sum(axis=(1, 2)) / (n * (n - 1))


def _row_wise(human_wins: np.ndarray, judge_wins: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Per round, the mean over models (three or more opponents met) of the Spearman correlation of their win
    rates against each opponent by humans and by the judge, smoothed by half a win so no rate is undefined."""

    def rates(wins):
        games = wins + np.swapaxes(wins, 1, 2)
        return (wins + 0.5) / (games + 1.0)

    human, judge = rates(human_wins), rates(judge_wins)
    per_model = []
    for m in range(observed.shape[0]):
        opponents = np.flatnonzero(observed[m])
        if len(opponents) >= 3:
            per_model.append(_pearson(_ranks(human[:, m, opponents]), _ranks(judge[:, m, opponents])))
    if not per_model:
        return np.full(human.shape[0], np.nan)
    return np.nanmean(np.stack(per_model), axis=0)


def suite(data: SuiteInput, *, rounds: int = 1000, rng: np.random.Generator | None = None) -> dict:
    """Every measure of the module's docstring as {"value", "ci", "n", ...}; a measure the data cannot give is
    None with a `reason`."""
    rng = rng if rng is not None else np.random.default_rng(0)
    a, b = np.asarray(data.model_a, dtype=np.int64), np.asarray(data.model_b, dtype=np.int64)
    human = np.asarray(data.human, dtype=float).reshape(-1, 3)
    judge = np.asarray(data.judge, dtype=np.int64)
    items, n_models = len(judge), data.n_models
    if items == 0:
        return {"items": 0, "votes": 0, "reason": "no item has both a human vote and a judge verdict"}
    swapped = None if data.judge_swapped is None else np.asarray(data.judge_swapped, dtype=np.int64)
    # Rows of weights: the observed sample first, then the bootstrap rounds (multinomial counts of each item).
    counts = rng.multinomial(items, np.full(items, 1.0 / items), size=rounds).astype(float)
    weights = np.vstack([np.ones(items), counts])

    votes = human.sum(axis=1)
    agree = human[np.arange(items), judge]
    decisive_judge = judge != TIE
    decisive_votes = np.where(decisive_judge, human[:, 0] + human[:, 1], 0.0)
    agree_decisive = np.where(decisive_judge, agree, 0.0)

    def ratio(num, den):
        with np.errstate(divide="ignore", invalid="ignore"):
            return (weights @ num) / (weights @ den)

    result: dict = {"items": items, "votes": int(votes.sum())}
    acc = ratio(agree, votes)
    result["accuracy"] = _metric(acc[0], acc[1:], votes.sum())
    acc_d = ratio(agree_decisive, decisive_votes)
    result["accuracy_without_ties"] = _metric(acc_d[0], acc_d[1:], decisive_votes.sum())

    p_first = np.array([1.0, 0.0, 0.5])[judge]
    if swapped is not None:
        both = swapped != NONE
        p_first = np.where(both, (p_first + np.array([1.0, 0.0, 0.5, 0.0])[swapped]) / 2, p_first)
    brier_sum = human[:, 0] * (p_first - 1) ** 2 + human[:, 1] * p_first**2 + human[:, 2] * (p_first - 0.5) ** 2
    brier = ratio(brier_sum, votes)
    reference = ratio(0.25 * (human[:, 0] + human[:, 1]), votes)
    result["brier"] = _metric(brier[0], brier[1:], votes.sum(), always_half=round(float(reference[0]), 4))

    human_wins = _wins(a, b, human[:, 0] + human[:, 2] / 2, human[:, 1] + human[:, 2] / 2, n_models, weights)
    jf = np.array([1.0, 0.0, 0.5])[judge]
    judge_wins = _wins(a, b, jf, 1.0 - jf, n_models, weights)
    met = np.zeros((n_models, n_models), dtype=bool)
    met[a, b] = met[b, a] = True
    if n_models >= 3:
        theta_h, theta_j = _fit(human_wins), _fit(judge_wins)
        spearman = _pearson(_ranks(theta_h), _ranks(theta_j))
        kendall = _kendall(theta_h, theta_j)
        result["board_spearman"] = _metric(spearman[0], spearman[1:], n_models)
        result["board_kendall"] = _metric(kendall[0], kendall[1:], n_models)
        rows = _row_wise(human_wins, judge_wins, met)
        result["row_spearman"] = _metric(rows[0], rows[1:], int((met.sum(axis=1) >= 3).sum()))
        sep_j, sep_h = _separability(judge_wins, theta_j), _separability(human_wins, theta_h)
        result["separability"] = _metric(sep_j[0], sep_j[1:], n_models * (n_models - 1) // 2)
        result["separability_humans"] = _metric(sep_h[0], sep_h[1:], n_models * (n_models - 1) // 2)
    else:
        for name in ("board_spearman", "board_kendall", "row_spearman", "separability", "separability_humans"):
            result[name] = {"value": None, "ci": [None, None], "n": n_models, "reason": "fewer than three models"}

    if swapped is not None and (swapped != NONE).any():
        both = (swapped != NONE).astype(float)
        flips = ratio(both * (swapped != judge), both)
        result["swap_flip_rate"] = _metric(flips[0], flips[1:], both.sum())
    else:
        result["swap_flip_rate"] = {"value": None, "ci": [None, None], "n": 0,
                                    "reason": "the judge saw each pair in one order only"}  # fmt: skip

    own = None if data.own_family is None else np.asarray(data.own_family, dtype=bool)
    if own is not None and (own[a] ^ own[b]).any():
        mine = (own[a] ^ own[b]).astype(float)
        first_is_own = own[a]
        judge_share = np.where(first_is_own, jf, 1.0 - jf)
        with np.errstate(divide="ignore", invalid="ignore"):
            human_first = np.where(votes > 0, (human[:, 0] + human[:, 2] / 2) / votes, 0.5)
        human_share = np.where(first_is_own, human_first, 1.0 - human_first)
        gap = ratio(mine * (judge_share - human_share), mine)
        shares = {"judge_share": round(float(judge_share[mine > 0].mean()), 4),
                  "human_share": round(float(human_share[mine > 0].mean()), 4)}  # fmt: skip
        result["self_family_preference"] = _metric(gap[0], gap[1:], mine.sum(), **shares)
    else:
        reason = "no item sets the judge's own family against another"
        result["self_family_preference"] = {"value": None, "ci": [None, None], "n": 0, "reason": reason}
    return result
