"""Selective voting per cohort: honest cohorts (whose votes are any subset of what they were shown, blind to the
models) are not flagged; a cohort that votes when a model is on screen is."""

from __future__ import annotations

import numpy as np

from ratings.cohort_quality import selective_voting

N_MODELS = 6


def cohorts(rng, n_cohorts: int, shown: int, vote_share: float, *, picky_for: int | None = None):
    """Per cohort: battles shown (two distinct models each), of which a share gets a vote; a picky cohort votes
    only on battles with `picky_for`."""
    voted, voted_with = np.zeros(n_cohorts), np.zeros((n_cohorts, N_MODELS))
    shown_total, shown_with = np.full(n_cohorts, float(shown)), np.zeros((n_cohorts, N_MODELS))
    for c in range(n_cohorts):
        for _ in range(shown):
            pair = rng.choice(N_MODELS, 2, replace=False)
            shown_with[c, pair] += 1
            on_screen = picky_for is None or picky_for in pair
            if on_screen and rng.random() < vote_share:
                voted[c] += 1
                voted_with[c, pair] += 1
    return voted, voted_with, shown_total, shown_with


def test_honest_cohorts_are_never_flagged_whatever_their_size():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        flags = selective_voting(*cohorts(rng, 50, int(rng.integers(40, 400)), float(rng.uniform(0.3, 1.0))))
        assert flags.n_tests > 0 and not flags.flagged.any()


def test_a_cohort_that_votes_only_when_a_model_is_on_screen_is_flagged_for_that_model():
    rng = np.random.default_rng(1)
    honest = cohorts(rng, 30, 120, 0.9)
    picky = cohorts(rng, 1, 150, 0.9, picky_for=4)
    flags = selective_voting(*(np.concatenate([h, p]) for h, p in zip(honest, picky, strict=True)))
    assert np.argwhere(flags.flagged).tolist() == [[30, 4]]
    assert flags.share_voted[30, 4] == 1.0 and flags.ratio[30, 4] == np.inf
    assert flags.p_bound[30, 4] < flags.threshold


def test_small_cohorts_and_models_always_on_screen_are_not_tested():
    rng = np.random.default_rng(2)
    voted, voted_with, shown, shown_with = cohorts(rng, 1, 20, 1.0, picky_for=0)
    assert not selective_voting(voted, voted_with, shown, shown_with).tested.any()  # under 30 votes
    # Two models only: each is in every battle, so voting "when it is on screen" is voting.
    flags = selective_voting(np.array([50.0]), np.array([[50.0, 50.0]]), np.array([60.0]), np.array([[60.0, 60.0]]))
    assert not flags.tested.any()
