"""Connected components of the comparison graph: models linked by a chain of battles.

Two sets of models that never met, directly or through others, have no common scale. Fitting them together would
let the `alpha` virtual ties of the prior, the only link between them, pull one set's ratings toward the other's.
So each component is fitted on its own and centred on its own; adding a component leaves the others untouched,
and the leaderboard says which models cannot be compared.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from ratings.intervals import ClusteredOutcomes
from ratings.outcomes import PairOutcomes


def label(outcomes: PairOutcomes) -> np.ndarray:
    """Component number per model: 0 for the largest component (most models; ties by lowest model index), 1
    for the next... Every battle links its two models, whatever its outcome."""
    n = outcomes.n_models
    linked = outcomes.count > 0
    graph = csr_array((np.ones(linked.sum()), (outcomes.model_a[linked], outcomes.model_b[linked])), shape=(n, n))
    return of_graph(graph)


def of_graph(graph) -> np.ndarray:
    """Component number per node of an undirected sparse graph, numbered as `label` numbers models."""
    n = graph.shape[0]
    _, raw = connected_components(graph, directed=False)
    sizes = np.bincount(raw)
    first = np.full(len(sizes), n)
    np.minimum.at(first, raw, np.arange(n))
    order = np.lexsort((first, -sizes))
    renumber = np.empty(len(order), dtype=np.int64)
    renumber[order] = np.arange(len(order))
    return renumber[raw]


def members(labels: np.ndarray) -> list[np.ndarray]:
    """Model indices of each component, in component order."""
    return [np.flatnonzero(labels == c) for c in range(int(labels.max()) + 1)] if len(labels) else []


def restrict(outcomes: PairOutcomes, models: np.ndarray) -> tuple[PairOutcomes, np.ndarray]:
    """The cells among `models` (renumbered 0..len-1 in the given order), and which of the input cells they are."""
    position = np.full(outcomes.n_models, -1)
    position[models] = np.arange(len(models))
    keep = np.flatnonzero((position[outcomes.model_a] >= 0) & (position[outcomes.model_b] >= 0))
    sub = PairOutcomes(
        len(models),
        position[outcomes.model_a[keep]],
        position[outcomes.model_b[keep]],
        outcomes.outcome[keep],
        outcomes.count[keep],
    )
    return sub, keep


def never_compared(labels: np.ndarray) -> np.ndarray:
    """Boolean (n, n): True where two models are in different components (no chain of battles links them)."""
    return labels[:, None] != labels[None, :]


def restrict_clustered(clustered: ClusteredOutcomes, models: np.ndarray) -> ClusteredOutcomes:
    """The per-cluster counts among `models`; clusters with no battle among them are left out (renumbered)."""
    cells, keep = restrict(clustered.cells, models)
    new_cell = np.full(len(clustered.cells.count), -1)
    new_cell[keep] = np.arange(len(keep))
    rows = new_cell[clustered.cell] >= 0
    voters, cluster = np.unique(clustered.cluster[rows], return_inverse=True)
    singles = None if clustered.singles is None else clustered.singles[keep]
    return ClusteredOutcomes(
        cells, len(voters), cluster, new_cell[clustered.cell[rows]], clustered.count[rows], singles
    )  # fmt: skip
