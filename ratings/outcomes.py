"""Aggregated battle outcomes: the one input every rating method takes.

A battle between models a and b ends in one of four outcomes. The recompute job counts them in SQL
(GROUP BY model_a, model_b, outcome) and hands the counts here as `PairOutcomes`; nothing in `ratings/` ever
sees an individual vote.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class Outcome(IntEnum):
    A_WINS = 0
    B_WINS = 1
    TIE = 2
    BOTH_BAD = 3


OUTCOME_CODES = {"model_a": Outcome.A_WINS, "model_b": Outcome.B_WINS, "tie": Outcome.TIE, "both_bad": Outcome.BOTH_BAD}


@dataclass(frozen=True)
class PairOutcomes:
    """Counts per (model_a, model_b, outcome) cell; models are indices 0..n_models-1."""

    n_models: int
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    count: np.ndarray

    @classmethod
    def from_rows(cls, n_models: int, rows) -> PairOutcomes:
        """From (model_a_index, model_b_index, outcome, count) rows; outcome as Outcome or its name."""
        rows = list(rows)
        a = np.array([r[0] for r in rows], dtype=np.int64)
        b = np.array([r[1] for r in rows], dtype=np.int64)
        o = np.array([OUTCOME_CODES[r[2]] if isinstance(r[2], str) else int(r[2]) for r in rows], dtype=np.int64)
        c = np.array([r[3] for r in rows], dtype=np.float64)
        return cls(n_models, a, b, o, c)

    def __post_init__(self) -> None:
        n = len(self.count)
        if not (len(self.model_a) == len(self.model_b) == len(self.outcome) == n):
            raise ValueError("model_a, model_b, outcome and count must have the same length")
        if n and (self.model_a.min() < 0 or max(self.model_a.max(), self.model_b.max()) >= self.n_models):
            raise ValueError("model index out of range")
        if n and np.any(self.model_a == self.model_b):
            raise ValueError("a model cannot battle itself")
        if n and np.any(self.count < 0):
            raise ValueError("counts must be non-negative")

    @property
    def total(self) -> float:
        return float(self.count.sum())

    def win_matrix(self, both_bad: str = "tie") -> np.ndarray:
        """W[i, j]: wins of i over j. A tie is half a win each way (never a whole win each way, which would
        double its weight); both_bad counts as a tie, or is left out with both_bad="drop"."""
        if both_bad not in ("tie", "drop"):
            raise ValueError("both_bad must be 'tie' or 'drop'")
        n, a, b, o, c = self.n_models, self.model_a, self.model_b, self.outcome, self.count
        tie = (o == Outcome.TIE) | ((o == Outcome.BOTH_BAD) & (both_bad == "tie"))
        w = np.zeros((n, n))
        np.add.at(w, (a, b), c * np.where(o == Outcome.A_WINS, 1.0, np.where(tie, 0.5, 0.0)))
        np.add.at(w, (b, a), c * np.where(o == Outcome.B_WINS, 1.0, np.where(tie, 0.5, 0.0)))
        return w

    def battle_matrix(self, both_bad: str = "tie") -> np.ndarray:
        """B[i, j] = B[j, i]: battles between i and j that enter the fit."""
        w = self.win_matrix(both_bad)
        return w + w.T
