"""What a rating run stores besides its own row: per board the ratings of the models with battles on it and the
chart matrices, and the active-sampling pair weights; written as plain rows in bulk.

A run of 60 models over 48 boards writes about 2,900 ratings; as ORM objects, building and flushing them one by
one cost more than the fit of every board. Rows are built column-wise from the board's arrays (one `tolist` per
column rather than a numpy scalar per cell) and inserted with one executemany per table through the Core."""

from __future__ import annotations

from math import isfinite

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from arena.models import BoardMatrices, PairWeight, Rating


def finite(value: float | None) -> float | None:
    return None if value is None or not isfinite(value) else round(float(value), 6)


def present(result) -> np.ndarray:
    """The models a board lists: those with battles on it (a pooled board also rates the others, from the prior)."""
    return np.flatnonzero(result.board.battles > 0)


def matrices(result) -> dict:
    """The board's chart matrices over the models it lists, and per model the votes whose removal would swap it
    with the model listed above it (`votes_to_flip_above`, ratings.flip; null for the top and where none would)."""
    board, on = result.board, present(result)
    win_rate = board.pair_win_rate[np.ix_(on, on)].tolist()
    out = {
        "model_ids": [result.model_ids[k] for k in on],
        "battles": np.rint(board.pair_battles[np.ix_(on, on)]).astype(int).tolist(),
        "win_rate": [[round(v, 6) if isfinite(v) else None for v in row] for row in win_rate],
    }
    accepted = getattr(result, "acceptable", None)
    if accepted is not None:
        out["acceptable"] = [[finite(v) for v in row] for row in np.asarray(accepted, float)[on].tolist()]
    if board.rank_low is not None:
        # Each model's 95% rank interval within its component, from the draws of the intervals.
        out["rank_low"] = board.rank_low[on].astype(int).tolist()
        out["rank_high"] = board.rank_high[on].astype(int).tolist()
    flips = getattr(result, "flip_above", None)
    if flips is not None:
        out["votes_to_flip_above"] = [int(v) if isfinite(v) else None for v in np.asarray(flips, float)[on].tolist()]
    return out


def _optional(values: np.ndarray | None, on: np.ndarray, n: int) -> list:
    return [None] * n if values is None else [finite(v) for v in np.asarray(values, dtype=float)[on].tolist()]


def rating_rows(run_id: int, result) -> list[dict]:
    """One row per model with battles on the board, as `rating` columns."""
    b, bad, on = result.board, result.both_bad, present(result)
    n = len(on)
    columns = {
        "model_id": [result.model_ids[k] for k in on.tolist()],
        "rating": b.rating[on].astype(float).tolist(),
        "ci_low": b.ci_low[on].astype(float).tolist(),
        "ci_high": b.ci_high[on].astype(float).tolist(),
        "rank_ub": b.rank_ub[on].astype(int).tolist(),
        # Rounded, not truncated: weighted counts can fall a hair short of the whole number.
        "battles": np.rint(b.battles[on]).astype(int).tolist(),
        "wins": b.wins[on].astype(float).tolist(),
        "ties": b.ties[on].astype(float).tolist(),
        "win_rate": _optional(b.win_rate, on, n),
        "component": [None] * n if b.component is None else b.component[on].astype(int).tolist(),
        "borrowed": _optional(result.borrowed, on, n),
        "both_bad_share": _optional(None if bad is None else bad.share, on, n),
        "both_bad_low": _optional(None if bad is None else bad.ci_low, on, n),
        "both_bad_high": _optional(None if bad is None else bad.ci_high, on, n),
    }
    fixed = {"run_id": run_id, "category": result.category}
    return [dict(fixed, **dict(zip(columns, values, strict=True))) for values in zip(*columns.values(), strict=True)]


def insert_rows(session: Session, run_id: int, results, weights) -> None:
    """The run's ratings and matrices (every board) and pair weights ((low id, high id, probability) triples)."""
    ratings = [row for result in results for row in rating_rows(run_id, result)]
    if ratings:
        session.execute(insert(Rating.__table__), ratings)
    boards = [{"run_id": run_id, "category": result.category, "matrices": matrices(result)} for result in results]
    if boards:
        session.execute(insert(BoardMatrices.__table__), boards)
    pairs = [{"run_id": run_id, "model_low_id": low, "model_high_id": high, "probability": p}
             for low, high, p in weights]  # fmt: skip
    if pairs:
        session.execute(insert(PairWeight.__table__), pairs)
