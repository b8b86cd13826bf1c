"""FastChat's own rating method, as GenAI-Arena and Chatbot Arena publish it (`compute_elo_mle_with_tie` in
their `elo_analysis.py`), written again for the tests: every battle is doubled, a tie is one win each way,
and scikit-learn's LogisticRegression (no intercept, L2 penalty with C = 1, X = +/- ln 10) is fitted; the score
is 400 * coefficient + 1000. `report_elo_analysis_results(anony_only=True)` first keeps the battles whose `anony`
is true: the published "anony" column. Solved here with scipy on the aggregated counts (the same objective)."""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize

TIES = ("tie", "tie (bothbad)")


def fastchat_ratings(records: list[dict], anony_only: bool = True) -> dict[str, float]:
    """Model name -> FastChat's published BT score for `records` (model_a, model_b, winner[, anony])."""
    kept = [r for r in records if r.get("anony") or not anony_only]
    names = sorted({r["model_a"] for r in kept} | {r["model_b"] for r in kept})
    index = {m: k for k, m in enumerate(names)}
    rows: dict[tuple[int, int], list[float]] = {}
    for r in kept:
        a, b = index[r["model_a"]], index[r["model_b"]]
        y = rows.setdefault((a, b), [0.0, 0.0])  # (label 1 rows, label 0 rows) of the doubled data
        if r["winner"] == "model_a":
            y[0] += 2
        elif r["winner"] in TIES:
            y[0] += 1
            y[1] += 1
        else:
            y[1] += 2
    pairs = np.array(list(rows), dtype=np.int64).reshape(-1, 2)
    ones, zeros = np.array(list(rows.values())).reshape(-1, 2).T
    ln10 = math.log(10)

    def objective(w):
        z = ln10 * (w[pairs[:, 0]] - w[pairs[:, 1]])
        p = 1 / (1 + np.exp(-z))
        loss = 0.5 * w @ w + np.sum(ones * np.logaddexp(0, -z) + zeros * np.logaddexp(0, z))
        g = w.copy()
        resid = ln10 * ((ones + zeros) * p - ones)
        np.add.at(g, pairs[:, 0], resid)
        np.add.at(g, pairs[:, 1], -resid)
        return loss, g

    w = minimize(objective, np.zeros(len(names)), jac=True, method="L-BFGS-B", options={"gtol": 1e-10}).x
    return {m: 400 * w[k] + 1000 for m, k in index.items()}


def centred(scores: dict[str, float], among) -> dict[str, float]:
    """The scores of `among`, minus their mean: boards on different scales compared."""
    mean = np.mean([scores[m] for m in among])
    return {m: scores[m] - mean for m in among}
