"""BT with covariates against plain BT, an independent dense reference, and the truth of synthetic votes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from ratings import bradley_terry as bt
from ratings.covariates import CovariateBattles, CovariateFit, fit_covariates
from ratings.intervals import sandwich_covariance
from ratings.outcomes import Outcome
from ratings.simulate import simulate, simulate_covariates, true_strengths

BETA = np.array([0.8, -0.5, 0.3])
NAMES = ("length_ratio", "headers", "questions")


def reference_fit(battles: CovariateBattles, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """theta (mean zero), beta and the robust covariance of (theta, beta), by a dense logistic regression with
    theta_0 pinned, solved by scipy; the covariance is the pinned one, then mean-centred."""
    n, k, rows = battles.n_models, battles.features.shape[1], len(battles.score)
    w = np.ones(rows) if battles.weight is None else battles.weight
    i, j = np.triu_indices(n, 1)
    a, b = np.concatenate([battles.model_a, i]), np.concatenate([battles.model_b, j])
    y = np.concatenate([battles.score, np.full(len(i), 0.5)])
    c = np.concatenate([w, np.full(len(i), alpha)])
    design = np.zeros((len(a), n + k))
    design[np.arange(len(a)), a] = 1.0
    design[np.arange(len(a)), b] = -1.0
    design[:rows, n:] = battles.features
    design = design[:, 1:]  # theta_0 pinned at 0 so the problem is strictly convex

    def objective(free):
        eta = design @ free
        nll = -np.sum(c * (y * log_expit(eta) + (1 - y) * log_expit(-eta)))
        return nll, design.T @ (c * (expit(eta) - y))

    def hessian(free):
        p = expit(design @ free)
        return design.T @ (design * (c * p * (1 - p))[:, None])

    result = minimize(objective, np.zeros(n + k - 1), jac=True, hess=hessian, method="trust-exact",
                      options={"gtol": 1e-10})  # fmt: skip
    assert np.max(np.abs(objective(result.x)[1])) < 1e-7 * max(1.0, c.sum()), result.message
    free = result.x
    p = expit(design[:rows] @ free)
    scores = design[:rows] * (w * (battles.score - p))[:, None]
    if battles.cluster is None:
        meat = design[:rows].T @ (design[:rows] * (w * (battles.score - p) ** 2)[:, None])
    else:
        voters = np.unique(battles.cluster)
        per_voter = np.stack([scores[battles.cluster == v].sum(axis=0) for v in voters])
        meat = per_voter.T @ per_voter
    bread = np.linalg.inv(hessian(free))
    pinned = np.zeros((n + k, n + k))
    pinned[1:, 1:] = bread @ meat @ bread
    centre = np.eye(n + k)
    centre[:n, :n] -= 1.0 / n
    theta = np.concatenate([[0.0], free[: n - 1]])
    return theta - theta.mean(), free[n - 1 :], centre @ pinned @ centre.T


def synthetic(seed: int, n_models: int = 12, n_battles: int = 4000, **kwargs):
    rng = np.random.default_rng(seed)
    return simulate_covariates(true_strengths(n_models, rng), BETA, n_battles, rng, names=NAMES, **kwargs), rng


def from_outcomes(synthetic_battles) -> CovariateBattles:
    """Plain battles (no covariates) as rows: a tie or both_bad scores 1/2."""
    o = synthetic_battles.outcome
    score = np.select([o == Outcome.A_WINS, o == Outcome.B_WINS], [1.0, 0.0], 0.5)
    rows = len(o)
    return CovariateBattles(
        synthetic_battles.n_models, synthetic_battles.model_a, synthetic_battles.model_b, score, np.zeros((rows, 0)), ()
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_without_covariates_it_is_plain_bradley_terry(seed):
    rng = np.random.default_rng(seed)
    battles = simulate(true_strengths(20, rng, spread=1.2), 8000, rng, tie_share=0.5)
    plain = bt.fit(battles.aggregate().win_matrix(), alpha=bt.DEFAULT_ALPHA)
    fit = fit_covariates(from_outcomes(battles))
    assert fit.beta.shape == (0,) and fit.coefficients() == []
    assert np.max(np.abs(fit.theta - plain)) < 1e-6
    assert fit.theta.sum() == pytest.approx(0.0, abs=1e-12)
    # The same battles aggregated into weighted cells give the same fit.
    cells = battles.aggregate()
    score = np.select([cells.outcome == Outcome.A_WINS, cells.outcome == Outcome.B_WINS], [1.0, 0.0], 0.5)
    weighted = CovariateBattles(
        cells.n_models, cells.model_a, cells.model_b, score, np.zeros((len(score), 0)), (), weight=cells.count
    )
    weighted_fit = fit_covariates(weighted)
    assert np.max(np.abs(weighted_fit.theta - plain)) < 1e-6
    assert weighted_fit.n_battles == 8000


def test_sandwich_without_covariates_matches_the_plain_sandwich():
    rng = np.random.default_rng(4)
    battles = simulate(true_strengths(8, rng), 3000, rng)
    fit = fit_covariates(from_outcomes(battles))
    plain = sandwich_covariance(battles.aggregate(), fit.theta)
    assert np.allclose(fit.covariance, plain, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("variant", ["plain", "weighted", "clustered"])
def test_matches_an_independent_dense_reference(variant):
    synth, rng = synthetic(7, n_models=10, n_battles=3000, feature_sd=[0.3, 1.0, 2.0])
    battles = synth.battles
    if variant == "weighted":
        battles = replace(battles, weight=rng.integers(1, 4, len(battles.score)))
    elif variant == "clustered":
        battles = replace(battles, cluster=rng.integers(0, 200, len(battles.score)))
    fit = fit_covariates(battles)
    theta, beta, covariance = reference_fit(battles, bt.DEFAULT_ALPHA)
    assert np.max(np.abs(bt.to_elo(fit.theta) - bt.to_elo(theta))) < 0.01
    assert np.max(np.abs(fit.beta - beta)) < 1e-4
    assert np.max(np.abs(fit.covariance - covariance)) < 1e-6 * np.max(np.abs(covariance))


def test_95_percent_intervals_cover_the_true_coefficients_and_strengths():
    beta_hits, theta_hits = [], []
    for seed in range(20):
        synth, _ = synthetic(seed, feature_sd=[0.5, 1.0, 1.5])
        fit = fit_covariates(synth.battles)
        beta_hits.extend(c.ci_low <= truth <= c.ci_high for c, truth in zip(fit.coefficients(), BETA, strict=True))
        rating, low, high = fit.controlled_ratings()
        truth = bt.to_elo(synth.theta)
        theta_hits.extend((low <= truth) & (truth <= high))
    assert len(beta_hits) == 60
    assert np.mean(beta_hits) >= 0.90
    assert np.mean(theta_hits) >= 0.90


def test_reported_figures_are_consistent():
    synth, _ = synthetic(3, feature_sd=[0.2, 1.0, 3.0])
    fit = fit_covariates(synth.battles)
    x = synth.battles.features
    assert np.allclose(fit.feature_sd, x.std(axis=0))
    for index, c in enumerate(fit.coefficients(level=0.9)):
        assert c.feature == NAMES[index]
        assert c.estimate == fit.beta[index]
        assert c.estimate_std == pytest.approx(c.estimate * fit.feature_sd[index])
        assert (c.std_ci_low, c.std_ci_high) == pytest.approx((c.ci_low * fit.feature_sd[index],
                                                              c.ci_high * fit.feature_sd[index]))  # fmt: skip
        assert c.odds_ratio == pytest.approx(np.exp(c.estimate))
        position = fit.n_models + index
        assert c.se == pytest.approx(np.sqrt(fit.covariance[position, position]))
        assert (c.ci_high - c.ci_low) == pytest.approx(2 * 1.6448536 * c.se)
    rating, low, high = fit.controlled_ratings()
    assert rating.mean() == pytest.approx(1000.0)
    assert np.all(low < rating) and np.all(rating < high)
    assert np.allclose(rating, bt.to_elo(fit.theta))
    pinned, pinned_low, pinned_high = fit.controlled_ratings(anchor=(4, 1200.0))
    assert pinned[4] == pytest.approx(1200.0) and np.allclose(np.diff(pinned), np.diff(rating))
    assert pinned_high[4] - pinned_low[4] == pytest.approx(0.0, abs=1e-6)
    assert fit.n_battles == 4000 and fit.iterations >= 2


def test_weighted_sd_uses_the_weights():
    synth, rng = synthetic(5, n_battles=500)
    weight = rng.integers(0, 5, 500).astype(float)
    fit = fit_covariates(replace(synth.battles, weight=weight))
    x = synth.battles.features
    mean = np.average(x, axis=0, weights=weight)
    assert np.allclose(fit.feature_sd, np.sqrt(np.average((x - mean) ** 2, axis=0, weights=weight)))


def test_swapping_sides_changes_nothing():
    synth, _ = synthetic(6, n_battles=2000)
    battles = synth.battles
    swapped = CovariateBattles(
        battles.n_models, battles.model_b, battles.model_a, 1 - battles.score, -battles.features, battles.names
    )
    first, second = fit_covariates(battles), fit_covariates(swapped)
    assert np.allclose(first.theta, second.theta, atol=1e-9) and np.allclose(first.beta, second.beta, atol=1e-9)
    assert np.allclose(first.covariance, second.covariance, atol=1e-12)


def test_style_confounding_inflates_plain_bt_but_not_the_controlled_rating():
    rng = np.random.default_rng(11)
    n = 8
    theta = true_strengths(n, rng)
    # Model 0 writes much longer replies, and voters like length: its battles carry a large length advantage.
    style = np.zeros((n, 1))
    style[0, 0] = 0.5
    synth = simulate_covariates(
        theta, np.array([1.5]), 20_000, rng, names=("length_ratio",), feature_sd=0.3, style=style
    )
    battles = synth.battles
    wins = np.zeros((n, n))
    np.add.at(wins, (battles.model_a, battles.model_b), battles.score)
    np.add.at(wins, (battles.model_b, battles.model_a), 1 - battles.score)
    truth = bt.to_elo(theta)
    plain = bt.to_elo(bt.fit(wins))
    fit = fit_covariates(battles)
    controlled, low, high = fit.controlled_ratings()
    assert plain[0] - truth[0] > 60  # plain BT credits the model with its style
    assert controlled[0] < plain[0] - 60  # control takes that credit away again
    assert low[0] <= truth[0] <= high[0]
    [length] = fit.coefficients()
    assert length.ci_low <= 1.5 <= length.ci_high


def test_clusters_widen_intervals_for_duplicated_votes():
    synth, _ = synthetic(8, n_battles=3000)
    battles = synth.battles
    single = fit_covariates(battles)
    rows = len(battles.score)
    copies = 5

    def repeated(cluster):
        return CovariateBattles(
            battles.n_models,
            np.repeat(battles.model_a, copies),
            np.repeat(battles.model_b, copies),
            np.repeat(battles.score, copies),
            np.repeat(battles.features, copies, axis=0),
            battles.names,
            cluster=cluster,
        )

    # Every vote cast five times by the same voter: without clusters that looks like five times the evidence.
    naive = fit_covariates(repeated(None))
    clustered = fit_covariates(repeated(np.repeat(np.arange(rows), copies)))
    width = {name: np.array([c.ci_high - c.ci_low for c in f.coefficients()])
             for name, f in [("single", single), ("naive", naive), ("clustered", clustered)]}  # fmt: skip
    assert np.all(width["clustered"] > 2 * width["naive"])
    # Clustering recovers the evidence of the 3,000 distinct votes; only the fixed alpha prior, now outweighed
    # five times more, keeps these from being exact.
    assert np.allclose(width["clustered"], width["single"], rtol=1e-3)
    assert np.allclose(width["naive"] * np.sqrt(copies), width["single"], rtol=1e-3)
    assert np.max(np.abs(clustered.beta - single.beta)) < 1e-3


def valid_rows() -> dict:
    return dict(
        n_models=3,
        model_a=np.array([0, 1, 2]),
        model_b=np.array([1, 2, 0]),
        score=np.array([1.0, 0.5, 0.0]),
        features=np.array([[0.1], [0.0], [-0.3]]),
        names=("length_ratio",),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"model_b": np.array([1, 2])}, "same length"),
        ({"features": np.array([[0.1], [0.0]])}, "one row per battle"),
        ({"features": np.array([0.1, 0.0, -0.3])}, "one row per battle"),
        ({"features": np.array([[0.1], [np.nan], [-0.3]])}, "finite"),
        ({"features": np.array([[0.1], [np.inf], [-0.3]])}, "finite"),
        ({"score": np.array([1.0, 1.5, 0.0])}, r"\[0, 1\]"),
        ({"score": np.array([1.0, -0.1, 0.0])}, r"\[0, 1\]"),
        ({"score": np.array([1.0, np.nan, 0.0])}, r"\[0, 1\]"),
        ({"score": np.array([1.0, 0.0])}, "one value per row"),
        ({"model_a": np.array([0, 1, 3])}, "out of range"),
        ({"model_a": np.array([0, 1, -1])}, "out of range"),
        ({"model_a": np.array([0.0, 1.0, 2.0])}, "integer"),
        ({"model_b": np.array([1, 1, 0])}, "itself"),
        ({"names": ("a", "b")}, "names"),
        ({"weight": np.array([1.0, -1.0, 1.0])}, "non-negative"),
        ({"weight": np.array([1.0, 1.0])}, "one value per row"),
        ({"cluster": np.array([1, 2])}, "one voter id per row"),
        ({"n_models": 1}, "two models"),
    ],
)
def test_bad_input_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        CovariateBattles(**{**valid_rows(), **change})


def test_unidentifiable_or_unconverged_fits_are_refused():
    synth, _ = synthetic(9, n_battles=500)
    b = synth.battles
    duplicate = np.column_stack([b.features, 2 * b.features[:, 0]])
    with pytest.raises(ValueError, match="collinear"):
        fit_covariates(CovariateBattles(b.n_models, b.model_a, b.model_b, b.score, duplicate, (*b.names, "twice")))
    zero = np.column_stack([b.features, np.zeros(len(b.score))])
    with pytest.raises(ValueError, match="zero in every battle"):
        fit_covariates(CovariateBattles(b.n_models, b.model_a, b.model_b, b.score, zero, (*b.names, "zero")))
    # A per-model constant is the strengths' job: no separate beta can be told apart from them.
    per_model = np.arange(b.n_models, dtype=float)
    habit = (per_model[b.model_a] - per_model[b.model_b])[:, None]
    with pytest.raises(ValueError, match="collinear"):
        fit_covariates(CovariateBattles(b.n_models, b.model_a, b.model_b, b.score, habit, ("habit",)))
    with pytest.raises(RuntimeError, match="converge"):
        fit_covariates(b, max_iter=1)
    # A feature that decides every vote has an infinite beta: no convergence, never a silent huge number.
    separating = (b.features[:, 0] > 0).astype(float)
    with pytest.raises(RuntimeError, match="separate"):
        fit_covariates(CovariateBattles(b.n_models, b.model_a, b.model_b, separating, b.features, b.names))
    with pytest.raises(ValueError, match="alpha"):
        fit_covariates(b, alpha=0.0)
    with pytest.raises(ValueError, match="level"):
        fit_covariates(b).coefficients(level=1.0)


def test_fit_is_a_plain_frozen_record():
    synth, _ = synthetic(10, n_battles=300)
    fit = fit_covariates(synth.battles)
    assert isinstance(fit, CovariateFit)
    assert fit.covariance.shape == (15, 15) and np.allclose(fit.covariance, fit.covariance.T)
    # The covariance is that of the mean-zero theta: a common shift of every strength has no variance.
    assert np.allclose(fit.covariance[:12].sum(axis=0), 0.0, atol=1e-12)


def test_a_weak_beta_prior_barely_moves_well_measured_effects():
    synth, _ = synthetic(11, n_battles=4000)
    plain, ridged = fit_covariates(synth.battles), fit_covariates(synth.battles, beta_prior=1.0)
    assert np.allclose(ridged.beta, plain.beta, atol=0.02)
    assert all(c.identified and c.reason is None for c in ridged.coefficients())
    assert np.all(ridged.data_share > 0.95)
    # Without a prior nothing is judged: the plain fit reports every coefficient as it always did.
    assert plain.data_share is None and all(c.identified for c in plain.coefficients())


def test_the_beta_prior_solves_the_penalised_score_equations():
    # Written out independently: at the optimum the data's score for beta equals the ridge's pull,
    # beta_prior * sd^2 * beta (sd per feature column), and the strengths' score equals the alpha prior's.
    synth, _ = synthetic(12, n_battles=600)
    b = synth.battles
    fit = fit_covariates(b, beta_prior=3.0)
    eta = fit.theta[b.model_a] - fit.theta[b.model_b] + b.features @ fit.beta
    residual = b.score - expit(eta)
    assert np.allclose(b.features.T @ residual, 3.0 * b.features.std(axis=0) ** 2 * fit.beta, atol=1e-7)


def test_with_a_prior_separation_and_collinearity_are_reported_not_fitted_to_infinity():
    synth, _ = synthetic(9, n_battles=500)
    b = synth.battles
    # A feature that decides every vote: finite, and flagged as resting on the prior.
    separating = (b.features[:, 0] > 0).astype(float)
    fit = fit_covariates(CovariateBattles(b.n_models, b.model_a, b.model_b, separating, b.features, b.names),
                         beta_prior=1.0)  # fmt: skip
    assert np.all(np.isfinite(fit.beta)) and np.max(np.abs(fit.beta * fit.feature_sd)) < 10
    first = fit.coefficients()[0]
    assert not first.identified and "decides every vote" in first.reason
    # A per-model habit is the strengths' job: finite, flagged.
    per_model = np.arange(b.n_models, dtype=float)
    habit = (per_model[b.model_a] - per_model[b.model_b])[:, None]
    fit = fit_covariates(CovariateBattles(b.n_models, b.model_a, b.model_b, b.score, habit, ("habit",)),
                         beta_prior=1.0)  # fmt: skip
    assert not fit.coefficients()[0].identified
    # A feature that differs in a handful of battles only.
    rare = np.zeros((len(b.score), 1))
    rare[:5, 0] = 1.0
    fit = fit_covariates(CovariateBattles(b.n_models, b.model_a, b.model_b, b.score, rare, ("rare",)),
                         beta_prior=1.0)  # fmt: skip
    (coefficient,) = fit.coefficients()
    assert not coefficient.identified and "only 5 battles" in coefficient.reason
    with pytest.raises(ValueError, match="beta_prior"):
        fit_covariates(b, beta_prior=-1.0)


def test_a_separated_feature_does_not_unidentify_the_constant_position_column():
    # 60 battles, side A wins two decisive votes in three; a feature present on side A only in battles A won
    # (separation) runs off under a weaker prior and drags the constant column with it. The constant is
    # identified by the design (sides at random): the separated feature is the one reported.
    rng = np.random.default_rng(2)
    n = 60
    a = rng.integers(0, 6, n)
    b = (a + rng.integers(1, 6, n)) % 6
    score = np.where(rng.random(n) < 0.67, 1.0, 0.0)
    separated = np.where((score == 1.0) & (rng.random(n) < 0.7), 1.0, 0.0)
    battles = CovariateBattles(6, a, b, score, np.column_stack([separated, np.ones(n)]), ("separated", "position"))
    fit = fit_covariates(battles, beta_prior=1.0)
    assert fit.prior_shift[1] > 0.5 * np.sqrt(fit.covariance[7, 7])  # position did move with the weaker prior
    reasons = dict(zip(fit.names, fit.identified(), strict=True))
    assert reasons["separated"] is not None and "follows the prior" in reasons["separated"]
    assert reasons["position"] is None
