"""Agreement between two raters over the same items (e.g. an LLM judge and human votes): accuracy (share of
items with the same label) and Cohen's kappa (agreement beyond what the two raters' label frequencies give by
chance), each with a percentile bootstrap interval over items. Pure numpy."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CHUNK_CELLS = 2_000_000


@dataclass(frozen=True)
class AgreementStats:
    n: int
    accuracy: float | None
    accuracy_ci: tuple[float | None, float | None]
    kappa: float | None  # None when undefined: both raters always gave one and the same label
    kappa_ci: tuple[float | None, float | None]


def confusion(a: np.ndarray, b: np.ndarray, categories: int) -> np.ndarray:
    """counts[i, j] = items rater a labelled i and rater b labelled j (labels are 0..categories-1)."""
    return np.bincount(a * categories + b, minlength=categories * categories).reshape(categories, categories)


def cohen_kappa(a: np.ndarray, b: np.ndarray, categories: int) -> float:
    """(p_o - p_e) / (1 - p_e); NaN when chance agreement is certain (p_e = 1) or there are no items."""
    if len(a) == 0:
        return float("nan")
    table = confusion(np.asarray(a), np.asarray(b), categories) / len(a)
    observed = np.trace(table)
    expected = float(table.sum(axis=1) @ table.sum(axis=0))
    if np.isclose(expected, 1.0):
        return float("nan")
    return float((observed - expected) / (1.0 - expected))


def _kappas(a: np.ndarray, b: np.ndarray, idx: np.ndarray, categories: int) -> np.ndarray:
    """Kappa of each bootstrap resample (rows of idx), vectorised through per-resample confusion tables."""
    rounds, n = idx.shape
    cells = a[idx] * categories + b[idx] + (np.arange(rounds)[:, None] * categories * categories)
    tables = np.bincount(cells.ravel(), minlength=rounds * categories * categories)
    tables = tables.reshape(rounds, categories, categories) / n
    observed = np.trace(tables, axis1=1, axis2=2)
    expected = np.einsum("ri,ri->r", tables.sum(axis=2), tables.sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = (observed - expected) / (1.0 - expected)
    kappa[np.isclose(expected, 1.0)] = np.nan
    return kappa


def _interval(values: np.ndarray) -> tuple[float | None, float | None]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None, None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def agreement(
    a: np.ndarray, b: np.ndarray, *, categories: int, rounds: int = 2000, rng: np.random.Generator | None = None
) -> AgreementStats:
    """Accuracy and Cohen's kappa of labels `a` against `b`, with 95% percentile bootstrap intervals (items
    resampled with replacement, `rounds` times). Empty input gives n = 0 and no estimates."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("the two label arrays must be one-dimensional and of the same length")
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= categories):
        raise ValueError(f"labels must lie in 0..{categories - 1}")
    n = len(a)
    if n == 0:
        return AgreementStats(0, None, (None, None), None, (None, None))
    rng = rng if rng is not None else np.random.default_rng(0)
    same = a == b
    accuracies, kappas = [], []
    # Resample in blocks so memory stays near CHUNK_CELLS index cells however many items there are.
    block = max(1, CHUNK_CELLS // n)
    for start in range(0, rounds, block):
        idx = rng.integers(0, n, size=(min(block, rounds - start), n))
        accuracies.append(same[idx].mean(axis=1))
        kappas.append(_kappas(a, b, idx, categories))
    kappa = cohen_kappa(a, b, categories)
    return AgreementStats(
        n=n,
        accuracy=float(same.mean()),
        accuracy_ci=_interval(np.concatenate(accuracies)),
        kappa=None if np.isnan(kappa) else kappa,
        kappa_ci=_interval(np.concatenate(kappas)),
    )
