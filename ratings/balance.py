"""Balance of a randomised assignment: is the arm a battle side was given independent of its model (or of the
message's category)? A contingency table of counts (rows: models or categories, columns: arms, control included)
and Pearson's chi-square test of independence, with its p-value from the chi-square distribution and, when some
expected count is below 5 (many models, a rare arm: where that value is rough), also by permutation (the arms
shuffled over the sides, which is exact in distribution however small the cells)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import chi2 as chi2_distribution


@dataclass(frozen=True)
class BalanceTest:
    chi2: float
    dof: int
    p_value: float
    # Share of permuted tables at least as unbalanced (with the observed one counted among them); None when every
    # expected count is 5 or more and the chi-square value needs no check.
    p_permutation: float | None
    # The smallest expected count: below 5 the asymptotic p-value is rough, and the permutation one is the guide.
    min_expected: float
    rounds: int


def contingency(rows: np.ndarray, columns: np.ndarray, n_rows: int, n_columns: int) -> np.ndarray:
    """Counts of each (row, column) pair of the integer labels."""
    return np.bincount(rows * n_columns + columns, minlength=n_rows * n_columns).reshape(n_rows, n_columns)


def _chi2(table: np.ndarray) -> tuple[float, np.ndarray]:
    total = table.sum()
    expected = np.outer(table.sum(axis=1), table.sum(axis=0)) / total
    return float(np.sum((table - expected) ** 2 / expected)), expected


def independence(
    rows: np.ndarray, columns: np.ndarray, rng: np.random.Generator, rounds: int = 2000
) -> BalanceTest | None:
    """Chi-square test that the column label (the arm) is independent of the row label (model or category), one
    observation per pair of labels; None when there is nothing to test (one row or column with observations)."""
    rows, columns = np.asarray(rows, dtype=np.int64), np.asarray(columns, dtype=np.int64)
    if len(rows) == 0:
        return None
    # Only labels that occur: an empty row or column carries no information and has no expected count.
    _, rows = np.unique(rows, return_inverse=True)
    _, columns = np.unique(columns, return_inverse=True)
    n_rows, n_columns = int(rows.max()) + 1, int(columns.max()) + 1
    if n_rows < 2 or n_columns < 2:
        return None
    observed, expected = _chi2(contingency(rows, columns, n_rows, n_columns))
    dof = (n_rows - 1) * (n_columns - 1)
    p_permutation = None
    if expected.min() < 5:
        at_least = 1  # the observed table itself
        for _ in range(rounds):
            permuted, _ = _chi2(contingency(rows, rng.permutation(columns), n_rows, n_columns))
            at_least += permuted >= observed - 1e-9
        p_permutation = at_least / (rounds + 1)
    return BalanceTest(
        chi2=observed,
        dof=dof,
        p_value=float(chi2_distribution.sf(observed, dof)),
        p_permutation=p_permutation,
        min_expected=float(expected.min()),
        rounds=rounds if p_permutation is not None else 0,
    )
