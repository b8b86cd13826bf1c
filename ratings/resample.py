"""Multinomial resampling, fast for the large totals of a busy arena.

numpy draws a multinomial one binomial per cell per round, which at 300,000 battles in 5,000 cells and 1,000
rounds is most of a bootstrap's time. A Poisson vector conditioned on its sum s is multinomial(s, p), so
independent Poisson counts with a mean a little below the total, topped up by (total - s) single draws from p,
are exactly multinomial(total, p): (X | s) + multinomial(total - s, p) is multinomial(total, p) for every s. The
rare round whose Poisson sum overshoots the total is drawn the plain way; that choice depends on s alone, so it
does not change the distribution either.
"""

from __future__ import annotations

import numpy as np

# The Poisson mean stays this many standard deviations below the total: about 2% of rounds overshoot.
_MARGIN_SD = 2.0
# Below this total the plain sampler is as fast.
_MIN_TOTAL = 2000


def multinomial(rng: np.random.Generator, total: int, p: np.ndarray, size: int) -> np.ndarray:
    """(size, len(p)) float counts, each row multinomial(total, p)."""
    p = np.asarray(p, dtype=np.float64)
    if total < _MIN_TOTAL:
        return rng.multinomial(total, p, size=size).astype(np.float64)
    k = len(p)
    mean = (total - _MARGIN_SD * np.sqrt(total)) * p
    counts = rng.poisson(mean, size=(size, k)).astype(np.float64)
    short = total - counts.sum(axis=1).astype(np.int64)
    over = np.flatnonzero(short < 0)
    if len(over):
        counts[over] = rng.multinomial(total, p, size=len(over))
        short[over] = 0
    cdf = np.cumsum(p)
    cdf /= cdf[-1]
    # One uniform per missing battle, all rounds at once; each lands in the cell its cdf interval names.
    row = np.repeat(np.arange(size), short)
    cell = np.minimum(np.searchsorted(cdf, rng.random(len(row)), side="right"), k - 1)
    counts += np.bincount(row * k + cell, minlength=size * k).reshape(size, k)
    return counts
