"""The fast multinomial sampler draws the same distribution as numpy's."""

from __future__ import annotations

import numpy as np
import pytest

from ratings.resample import multinomial


@pytest.mark.parametrize("total", [50, 5000, 200_000])
def test_rows_keep_the_total_and_have_multinomial_moments(total):
    rng = np.random.default_rng(total)
    p = rng.dirichlet(np.full(40, 0.5))
    counts = multinomial(rng, total, p, 4000)
    assert np.all(counts.sum(axis=1) == total)
    mean, cov = counts.mean(axis=0), np.cov(counts.T)
    expected_cov = total * (np.diag(p) - np.outer(p, p))
    sd = np.sqrt(total * p * (1 - p))
    # Means and a covariance within 5 standard errors, variances within 10%.
    assert np.all(np.abs(mean - total * p) <= 5 * sd / np.sqrt(4000) + 1e-9)
    big = np.argsort(p)[-2:]
    assert np.allclose(np.diag(cov)[big], np.diag(expected_cov)[big], rtol=0.1)
    scale = np.sqrt(expected_cov[big[0], big[0]] * expected_cov[big[1], big[1]])
    assert abs(cov[big[0], big[1]] - expected_cov[big[0], big[1]]) < 5 * scale / np.sqrt(4000)


def test_same_seed_same_draws():
    p = np.array([0.5, 0.3, 0.2])
    first = multinomial(np.random.default_rng(7), 10_000, p, 20)
    assert np.array_equal(first, multinomial(np.random.default_rng(7), 10_000, p, 20))
