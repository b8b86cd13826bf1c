"""Vote-quality tests per cohort (a network, or the young identities of a network): pure statistics on counts.

Per-voter tests need a voter's own history; an identity made for the purpose has none. These tests judge a group
as a whole, with the same discipline as ratings/voter_quality.py: one-sided, distribution-free tail bounds under
Bonferroni, plus a large effect, so a group of honest people (a school, an office behind one address) is not
flagged for sharing a taste.

- Favouring: a network's votes as one voter, through voter_quality.one_sided_by_model (a model that wins at
  least 95% of the network's battles with it, improbable even for a strong shared liking).
- Selective voting: a cohort that votes when a model is on screen and leaves the other battles. Under "whether a
  battle gets a vote does not depend on its models", the cohort's voted battles are a uniform sample (without
  replacement) of the battles it was shown, so the count featuring the model obeys Hoeffding's bound around the
  shown share (Hoeffding 1963 holds for sampling without replacement). Flagged only when that bound is below
  alpha / tests and the cohort voted at least `min_ratio` times as often when the model was on screen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings.voter_quality import DEFAULT_ALPHA, DEFAULT_MIN_VOTES, chernoff_tail

# A cohort is flagged only if it voted at least this many times as often when the model was on screen as when not.
DEFAULT_MIN_RATIO = 4.0


@dataclass(frozen=True)
class SelectiveFlags:
    """Per (cohort, model): the verdict and the figures it was decided on."""

    flagged: np.ndarray  # (cohorts, models)
    tested: np.ndarray
    p_bound: np.ndarray
    share_voted: np.ndarray  # of the cohort's votes, the share in battles with the model
    share_shown: np.ndarray  # of the battles it was shown, the share with the model
    ratio: np.ndarray  # vote rate with the model on screen over the rate without
    threshold: float

    @property
    def n_tests(self) -> int:
        return int(self.tested.sum())


def selective_voting(
    voted: np.ndarray, voted_with: np.ndarray, shown: np.ndarray, shown_with: np.ndarray, *,
    min_votes: int = DEFAULT_MIN_VOTES, alpha: float = DEFAULT_ALPHA, min_ratio: float = DEFAULT_MIN_RATIO,
) -> SelectiveFlags:  # fmt: skip
    """`voted` and `shown` per cohort (votes cast, battles shown, voted ones included); `voted_with` and
    `shown_with` per cohort and model (those featuring the model). A cohort with fewer than `min_votes` votes is
    not tested."""
    voted = np.asarray(voted, dtype=np.float64)[:, None]
    shown = np.maximum(np.asarray(shown, dtype=np.float64)[:, None], voted)
    k = np.asarray(voted_with, dtype=np.float64)
    big_k = np.maximum(np.asarray(shown_with, dtype=np.float64), k)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_voted = np.where(voted > 0, k / voted, 0.0)
        share_shown = np.where(shown > 0, big_k / shown, 0.0)
        rate_with = np.where(big_k > 0, k / big_k, 0.0)
        rate_without = np.where(shown - big_k > 0, (voted - k) / (shown - big_k), 0.0)
        ratio = np.where(rate_without > 0, rate_with / rate_without, np.where(rate_with > 0, np.inf, 0.0))
    votes = np.broadcast_to(voted, k.shape)
    tested = (votes >= min_votes) & (big_k > 0) & (big_k < np.broadcast_to(shown, k.shape))
    p_bound = np.where(tested, chernoff_tail(votes, share_voted, share_shown), 1.0)
    threshold = alpha / max(int(tested.sum()), 1)
    flagged = tested & (p_bound < threshold) & (ratio >= min_ratio)
    return SelectiveFlags(flagged, tested, p_bound, share_voted, share_shown, ratio, threshold)
