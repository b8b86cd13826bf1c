"""Bradley-Terry with covariates ("style control"): model strengths with per-battle features held equal.

Battle i between models a_i and b_i carries a vector x_i of feature differences, A minus B, that the caller
computes from the two replies (length ratio, markdown, questions asked, a reply-level EQ score...). The model:

    P(A wins battle i) = sigmoid(theta[a_i] - theta[b_i] + beta . x_i)

so beta says how much each feature moves the vote, and theta is what is left of a model's strength once its
replies' features are accounted for. Scores are soft (win 1, tie 1/2, loss 0) and the `alpha` virtual ties per
pair of models are the same penalised quasi-likelihood as `ratings.bradley_terry`, so with no covariates this
fit and `bradley_terry.fit` agree. By default only theta is penalised and beta is a plain maximum-likelihood
estimate; `beta_prior` > 0 adds a weak ridge on beta per standard deviation of each feature (a normal prior of
variance 1 / beta_prior on the per-SD log-odds, like arena-rank's ridge on style coefficients), so a feature the
battles cannot pin down (separation, too few battles where it differs) stays finite, and the fit reports how
much of each coefficient's information came from the data rather than the prior (`CovariateFit.data_share`).

Unlike the plain BT fit, covariates vary per battle, so the fit works on rows, not on an aggregated win matrix.
A row may stand for several identical battles through its weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse
from scipy.special import expit, log_expit
from scipy.stats import norm

from ratings import bradley_terry as bt
from ratings.outcomes import Outcome, PairOutcomes
from ratings.ties import wilson

# An accepted step may raise the objective by rounding noise only: summing a million log-likelihood terms is
# exact to about 1e-15 relative, a real overshoot is many orders larger.
_OBJECTIVE_SLACK = 1e-12
_MIN_STEP_FRACTION = 2.0**-30
# Below this smallest eigenvalue of the profiled, unit-diagonal beta curvature, beta is not identified (the
# smallest is 1 for a feature independent of everything else, 0 for an exact combination).
_MIN_RCOND = 1e-9
# A column whose weighted SD is below this is constant (rounding aside).
_CONSTANT_SD = 1e-9


@dataclass(frozen=True)
class CovariateBattles:
    """One row per battle (or per group of identical battles, through `weight`); models are 0..n_models-1."""

    n_models: int
    model_a: np.ndarray
    model_b: np.ndarray
    score: np.ndarray
    features: np.ndarray
    names: tuple[str, ...]
    weight: np.ndarray | None = None
    cluster: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Normalise in place (the dataclass is frozen) so the fit can rely on dtypes and C order.
        def store(field: str, value) -> None:
            object.__setattr__(self, field, value)

        if int(self.n_models) != self.n_models or self.n_models < 2:
            raise ValueError("need at least two models")
        a, b = np.asarray(self.model_a), np.asarray(self.model_b)
        if a.ndim != 1 or b.ndim != 1:
            raise ValueError("model_a and model_b must be one-dimensional")
        n_rows = len(a)
        if len(b) != n_rows:
            raise ValueError("model_a and model_b must have the same length")
        for side in (a, b):
            if n_rows and not np.issubdtype(side.dtype, np.integer):
                raise ValueError("model_a and model_b must be integer model indices")
        a, b = a.astype(np.int64, copy=False), b.astype(np.int64, copy=False)
        if n_rows and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= self.n_models):
            raise ValueError("model index out of range")
        if np.any(a == b):
            raise ValueError("a model cannot battle itself")
        store("model_a", a)
        store("model_b", b)

        score = np.asarray(self.score, dtype=np.float64)
        if score.shape != (n_rows,):
            raise ValueError("score must have one value per row")
        if not np.all(np.isfinite(score)) or np.any((score < 0) | (score > 1)):
            raise ValueError("scores must lie in [0, 1] (1 A wins, 0.5 tie, 0 B wins)")
        store("score", score)

        features = np.ascontiguousarray(self.features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] != n_rows:
            raise ValueError("features must be a (rows, k) array with one row per battle")
        if not np.all(np.isfinite(features)):
            raise ValueError("features must be finite")
        store("features", features)

        names = tuple(self.names)
        if len(names) != features.shape[1]:
            raise ValueError(f"{features.shape[1]} feature columns but {len(names)} names")
        if len(set(names)) != len(names) or not all(isinstance(name, str) for name in names):
            raise ValueError("feature names must be distinct strings")
        store("names", names)

        if self.weight is not None:
            weight = np.asarray(self.weight, dtype=np.float64)
            if weight.shape != (n_rows,):
                raise ValueError("weight must have one value per row")
            if not np.all(np.isfinite(weight)) or np.any(weight < 0):
                raise ValueError("weights must be finite and non-negative")
            store("weight", weight)
        if self.cluster is not None:
            cluster = np.asarray(self.cluster)
            if cluster.shape != (n_rows,):
                raise ValueError("cluster must have one voter id per row")
            if n_rows and not np.issubdtype(cluster.dtype, np.integer):
                raise ValueError("cluster ids must be integers")
            store("cluster", cluster.astype(np.int64, copy=False))

    @property
    def n_rows(self) -> int:
        return len(self.score)

    @property
    def k(self) -> int:
        return self.features.shape[1]

    def weights(self) -> np.ndarray:
        return np.ones(self.n_rows) if self.weight is None else self.weight


@dataclass(frozen=True)
class Coefficient:
    feature: str
    # Log-odds of A winning per unit of the feature difference, as the caller gave it.
    estimate: float
    ci_low: float
    ci_high: float
    # The same per one (weighted) standard deviation of the feature column, to compare features on any scale.
    estimate_std: float
    std_ci_low: float
    std_ci_high: float
    odds_ratio: float
    se: float
    # False when the battles cannot pin this coefficient down (see `CovariateFit.identified`); then the numbers
    # above are the prior's as much as the data's and should not be reported.
    identified: bool = True
    reason: str | None = None


def _z(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    return float(norm.ppf(0.5 + level / 2))


@dataclass(frozen=True)
class CovariateFit:
    theta: np.ndarray
    beta: np.ndarray
    # Robust (sandwich) covariance of (theta, beta), theta mean-centred; cluster-robust if clusters were given.
    covariance: np.ndarray
    feature_sd: np.ndarray
    names: tuple[str, ...]
    n_battles: float
    iterations: int
    # With a beta prior: per coefficient, the share of its precision that comes from the battles (1 - posterior
    # variance / prior variance, per SD); None without one. And the battles in which each feature differs.
    data_share: np.ndarray | None = None
    varying_battles: np.ndarray | None = None
    # With a beta prior: how far each beta moves (per unit) when the prior is made ten times weaker.
    prior_shift: np.ndarray | None = None

    @property
    def n_models(self) -> int:
        return len(self.theta)

    def identified(
        self, min_data_share: float = 0.5, min_varying: int = 20, max_shift_se: float = 0.5
    ) -> list[str | None]:
        """Per coefficient, None if the battles pin it down, else the reason they do not: the feature differs in
        too few battles; the estimate follows the prior (it moves by more than `max_shift_se` standard errors
        when the prior is made ten times weaker: separation, where the feature alone predicts the outcomes it
        touches); or the prior supplies most of its information (it moves with the models' strengths or with
        other features)."""
        n = self.n_models
        reasons: list[str | None] = []
        for index in range(len(self.names)):
            se = float(np.sqrt(max(self.covariance[n + index, n + index], 0.0)))
            if self.varying_battles is not None and self.varying_battles[index] < min_varying:
                varying = float(self.varying_battles[index])
                reasons.append(f"the replies differ in this in only {varying:.0f} battles (needs {min_varying})")
            # A constant column (the side shown first) is identified by the design, sides drawn at random, not by
            # the prior: when it moves under a weaker prior, another feature is running off (separation) and
            # dragging it, and that feature is the one reported as following the prior.
            elif (
                self.prior_shift is not None
                and self.feature_sd[index] > _CONSTANT_SD
                and self.prior_shift[index] > max_shift_se * se
            ):
                reasons.append(
                    "the battles cannot pin it down yet (it goes with particular models, or decides every vote it "
                    "touches): the estimate follows the prior"
                )
            elif self.data_share is not None and self.data_share[index] < min_data_share:
                reasons.append(
                    "the battles cannot separate this effect from the models' strengths or the other features "
                    f"(the data carry {self.data_share[index]:.0%} of its information)"
                )
            else:
                reasons.append(None)
        return reasons

    def coefficients(self, level: float = 0.95) -> list[Coefficient]:
        z, n = _z(level), self.n_models
        reasons = self.identified()
        result = []
        for index, name in enumerate(self.names):
            estimate, sd = float(self.beta[index]), float(self.feature_sd[index])
            se = float(np.sqrt(max(self.covariance[n + index, n + index], 0.0)))
            low, high = estimate - z * se, estimate + z * se
            result.append(
                Coefficient(
                    feature=name,
                    estimate=estimate,
                    ci_low=low,
                    ci_high=high,
                    estimate_std=estimate * sd,
                    std_ci_low=low * sd,
                    std_ci_high=high * sd,
                    odds_ratio=float(np.exp(estimate)),
                    se=se,
                    identified=reasons[index] is None,
                    reason=reasons[index],
                )
            )
        return result

    def controlled_ratings(
        self, level: float = 0.95, anchor: tuple[int, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rating, ci_low, ci_high) on the Elo scale of ratings.bradley_terry.to_elo (1000 + 400/ln10 * theta,
        mean-centred, or model anchor[0] pinned at anchor[1])."""
        z, n = _z(level), self.n_models
        cov = self.covariance[:n, :n]
        rating = bt.to_elo(self.theta, anchor)
        if anchor is not None:
            # Pinning model k measures everyone relative to k: Var(theta_i - theta_k).
            k = anchor[0]
            variance = np.diag(cov) + cov[k, k] - 2 * cov[:, k]
        else:
            variance = np.diag(cov)
        half = z * bt.ELO_SCALE * np.sqrt(np.maximum(variance, 0.0))
        return rating, rating - half, rating + half


class _Problem:
    """The rows, laid out once for the many passes Newton's method makes over them.

    Each row's design vector is z_i = (e_a - e_b, x_i): two non-zeros among the n strengths plus k dense
    covariates. Sums of c_i z_i z_i^T are built from a bincount over (a, b) pairs for the strength block and a
    sparse n x rows difference matrix for the cross block, never from a dense rows x n design."""

    def __init__(self, battles: CovariateBattles, alpha: float, beta_prior: float = 0.0) -> None:
        if not alpha > 0:
            raise ValueError("alpha must be positive so that every model has a finite rating")
        if not (beta_prior >= 0 and np.isfinite(beta_prior)):
            raise ValueError("beta_prior must be a finite number >= 0")
        self.n, self.k, self.alpha = battles.n_models, battles.k, float(alpha)
        self.a, self.b = battles.model_a, battles.model_b
        self.y, self.w, self.x = battles.score, battles.weights(), battles.features
        self.pair = self.a * self.n + self.b
        rows = battles.n_rows
        # Column i holds +1 at a_i and -1 at b_i: already in CSC order, so no sort is needed to build it.
        self.diff = sparse.csc_array(
            (np.tile([1.0, -1.0], rows), np.column_stack([self.a, self.b]).ravel(), np.arange(0, 2 * rows + 1, 2)),
            shape=(self.n, rows),
        )
        # The ridge on beta, per unit of each feature: beta_prior per SD, i.e. beta_prior * sd^2 per unit. A
        # feature with no spread gets the plain prior (the identification check refuses it anyway).
        sd = _weighted_sd(self.x, self.w)
        self.beta_precision = float(beta_prior) * np.where(sd > 0, sd, 1.0) ** 2
        # The null direction of the likelihood: shifting every theta by the same amount changes nothing.
        self.null = np.concatenate([np.full(self.n, 1.0 / np.sqrt(self.n)), np.zeros(self.k)])

    def split(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return params[: self.n], params[self.n :]

    def linear(self, params: np.ndarray) -> np.ndarray:
        theta, beta = self.split(params)
        eta = theta[self.a] - theta[self.b]
        if self.k:
            eta += self.x @ beta
        return eta

    def objective(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """Penalised negative log-likelihood, and the linear predictor it was computed from (reused by the next
        gradient). -[y log p + (1-y) log(1-p)] = -log sigmoid(eta) + (1-y) eta."""
        eta = self.linear(params)
        data = float(np.dot(self.w, (1.0 - self.y) * eta - log_expit(eta)))
        theta = params[: self.n]
        gaps = theta[:, None] - theta[None, :]
        # Each unordered pair: alpha ties, i.e. alpha/2 * (-log sigmoid(d) - log sigmoid(-d)); the diagonal is
        # a constant, dropped.
        prior = -0.5 * self.alpha * (log_expit(gaps).sum() - self.n * log_expit(0.0))
        beta = params[self.n :]
        ridge = 0.5 * float(np.dot(self.beta_precision, beta**2))
        return data + prior + ridge, eta

    def gram(self, c: np.ndarray) -> np.ndarray:
        """sum_i c_i z_i z_i^T over the rows, (n + k) square."""
        n, k = self.n, self.k
        m = np.bincount(self.pair, c, n * n).reshape(n, n)
        m += m.T
        out = np.empty((n + k, n + k))
        out[:n, :n] = np.diag(m.sum(axis=1)) - m
        if k:
            cx = self.x * c[:, None]
            cross = self.diff @ cx
            out[:n, n:] = cross
            out[n:, :n] = cross.T
            out[n:, n:] = self.x.T @ cx
        return out

    def prior_derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = expit(theta[:, None] - theta[None, :])
        gradient = self.alpha * (p - 0.5).sum(axis=1)
        curvature = self.alpha * p * (1 - p)
        np.fill_diagonal(curvature, 0.0)
        return gradient, np.diag(curvature.sum(axis=1)) - curvature

    def derivatives(self, params: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Gradient, Hessian and fitted probabilities at params (eta = self.linear(params))."""
        n = self.n
        p = expit(eta)
        residual = self.w * (p - self.y)
        gradient = np.empty(n + self.k)
        gradient[:n] = np.bincount(self.a, residual, n) - np.bincount(self.b, residual, n)
        gradient[n:] = self.x.T @ residual
        hessian = self.gram(self.w * p * (1 - p))
        prior_gradient, prior_hessian = self.prior_derivatives(params[:n])
        gradient[:n] += prior_gradient
        hessian[:n, :n] += prior_hessian
        gradient[n:] += self.beta_precision * params[n:]
        hessian[n:, n:] += np.diag(self.beta_precision)
        return gradient, hessian, p

    def factor(self, hessian: np.ndarray):
        """Cholesky factor of H + c u u^T, u the unit null direction. H is singular along u only, and the
        gradient and every score are orthogonal to u, so solving with this matrix gives H's minimum-norm
        (sum-zero) solutions, and its inverse is pinv(H) + u u^T / c."""
        scale = float(np.mean(np.diag(hessian)[: self.n]))
        return linalg.cho_factor(hessian + scale * np.outer(self.null, self.null))

    def meat(self, p: np.ndarray, cluster: np.ndarray | None) -> np.ndarray:
        """J: the sum of outer products of the score contributions, per row or per cluster."""
        if cluster is None:
            # A row of weight w is w independent battles with the same outcome: w times its squared score.
            return self.gram(self.w * (self.y - p) ** 2)
        # A voter's battles may be correlated: sum their scores first (a weighted row counts w times).
        groups, group = np.unique(cluster, return_inverse=True)
        r = self.w * (self.y - p)
        g, n = len(groups), self.n
        per_theta = sparse.csr_array(
            (np.concatenate([r, -r]), (np.concatenate([group, group]), np.concatenate([self.a, self.b]))),
            shape=(g, n),
        )
        out = np.empty((n + self.k, n + self.k))
        out[:n, :n] = (per_theta.T @ per_theta).toarray()
        if self.k:
            per_beta = np.stack([np.bincount(group, r * column, g) for column in self.x.T], axis=1)
            cross = per_theta.T @ per_beta
            out[:n, n:] = cross
            out[n:, :n] = cross.T
            out[n:, n:] = per_beta.T @ per_beta
        return out


def _check_identified(hessian: np.ndarray, problem: _Problem, theta: np.ndarray) -> None:
    """Refuse a feature whose beta the battles cannot pin down: all zero, a combination of the other features,
    or a per-model constant (then it is indistinguishable from the strengths, and only the alpha prior on theta
    would pick a value). Judged on the data's own curvature, prior left out: the beta block once the strengths
    are profiled out (a Schur complement), scaled to unit diagonal so the features' units do not matter."""
    n, k = problem.n, problem.k
    if k == 0:
        return
    data = hessian.copy()
    data[:n, :n] -= problem.prior_derivatives(theta)[1]
    data[n:, n:] -= np.diag(problem.beta_precision)
    beta_block = data[n:, n:]
    scale = np.sqrt(np.diag(beta_block))
    if np.any(scale <= 0):
        raise ValueError("a covariate is zero in every battle that counts")
    cross = data[:n, n:]
    profiled = beta_block - cross.T @ np.linalg.pinv(data[:n, :n], hermitian=True) @ cross
    if np.linalg.eigvalsh(profiled / np.outer(scale, scale))[0] < _MIN_RCOND:
        raise ValueError("the covariates are collinear (with each other or with the models' strengths)")


def _weighted_sd(features: np.ndarray, w: np.ndarray) -> np.ndarray:
    total = w.sum()
    if features.shape[1] == 0 or total <= 0:
        return np.zeros(features.shape[1])
    mean = (w @ features) / total
    return np.sqrt(np.maximum((w @ features**2) / total - mean**2, 0.0))


def _data_share(hessian: np.ndarray, problem: _Problem) -> np.ndarray:
    """Per coefficient, 1 - posterior variance / prior variance: near 1 when the battles determine it, near 0
    when the ridge does. From the penalised curvature at the fit (where separation shows as flat likelihood)."""
    n = problem.n
    if problem.k == 0:
        return np.zeros(0)
    inverse = linalg.cho_solve(problem.factor(hessian), np.eye(n + problem.k))
    posterior = np.diag(inverse)[n:]
    return np.clip(1.0 - posterior * problem.beta_precision, 0.0, 1.0)


def _newton(problem: _Problem, tol: float, max_iter: int, check: bool) -> tuple[np.ndarray, int]:
    n, k = problem.n, problem.k
    params = np.zeros(n + k)
    value, eta = problem.objective(params)
    for iteration in range(1, max_iter + 1):
        gradient, hessian, _ = problem.derivatives(params, eta)
        if iteration == 1 and check:
            _check_identified(hessian, problem, params[:n])
        try:
            step = -linalg.cho_solve(problem.factor(hessian), gradient)
        except linalg.LinAlgError as error:
            raise RuntimeError("Newton's method broke down: the Hessian is no longer positive definite") from error
        if np.max(np.abs(step), initial=0.0) < tol:
            params = params + step
            break
        fraction = 1.0
        while True:
            candidate = params + fraction * step
            candidate_value, candidate_eta = problem.objective(candidate)
            if candidate_value <= value + _OBJECTIVE_SLACK * max(1.0, abs(value)):
                break
            fraction /= 2
            if fraction < _MIN_STEP_FRACTION:
                raise RuntimeError("step halving failed to decrease the objective")
        params, value, eta = candidate, candidate_value, candidate_eta
    else:
        raise RuntimeError(
            f"fit_covariates did not converge in {max_iter} iterations (does a feature separate wins from losses?)"
        )
    params[:n] -= params[:n].mean()
    return params, iteration


def fit_covariates(
    battles: CovariateBattles,
    alpha: float = bt.DEFAULT_ALPHA,
    tol: float = 1e-10,
    max_iter: int = 100,
    beta_prior: float = 0.0,
) -> CovariateFit:
    """Newton's method with the exact Hessian and step halving; converged when no parameter moves by more than
    `tol`. Without a beta prior, raises ValueError for covariates the battles cannot identify and RuntimeError
    if convergence takes more than `max_iter` steps (e.g. a feature that separates wins from losses, whose beta
    runs off to infinity). With one, the fit stays finite and `data_share` says which betas the data pinned."""
    problem = _Problem(battles, alpha, beta_prior)
    n, k = problem.n, problem.k
    params, iteration = _newton(problem, tol, max_iter, check=not beta_prior)
    prior_shift = None
    if beta_prior and k:
        # Refit with a ten times weaker prior: a beta the battles pin down hardly moves; one that separation or
        # confounding leaves to the prior runs off (by about ln 10 in log-odds under separation).
        weaker, _ = _newton(_Problem(battles, alpha, beta_prior / 10), tol, max_iter, check=False)
        prior_shift = np.abs(weaker[n:] - params[n:])
    _, hessian, p = problem.derivatives(params, problem.linear(params))
    inverse = linalg.cho_solve(problem.factor(hessian), np.eye(n + k))
    # inverse = pinv(H) + u u^T / c, and J u = 0, so this is pinv(H) J pinv(H): the covariance of the sum-zero
    # theta (the same as pinning a model and centring afterwards).
    covariance = inverse @ problem.meat(p, battles.cluster) @ inverse
    covariance = (covariance + covariance.T) / 2
    return CovariateFit(
        theta=params[:n].copy(),
        beta=params[n:].copy(),
        covariance=covariance,
        feature_sd=_weighted_sd(battles.features, problem.w),
        names=battles.names,
        n_battles=float(problem.w.sum()),
        iterations=iteration,
        data_share=_data_share(hessian, problem) if beta_prior else None,
        prior_shift=prior_shift,
        varying_battles=(problem.w @ (battles.features != 0)) if beta_prior else None,
    )


POSITION = "position_a"


def position_rows(outcomes: PairOutcomes, both_bad: str = "tie") -> CovariateBattles:
    """The aggregated cells as covariate rows (weight = count) with one feature, `position_a` = 1 in every
    battle: its beta is the log-odds edge of the reply shown first (side A) over equal strengths. It is identified
    because sides are drawn at random, so each pair is seen both ways round. Cells the fit ignores (both_bad with
    both_bad="drop") are left out."""
    keep = outcomes.count > 0
    if both_bad == "drop":
        keep &= outcomes.outcome != Outcome.BOTH_BAD
    o = outcomes.outcome[keep]
    score = np.where(o == Outcome.A_WINS, 1.0, np.where(o == Outcome.B_WINS, 0.0, 0.5))
    return CovariateBattles(
        outcomes.n_models, outcomes.model_a[keep], outcomes.model_b[keep], score,
        np.ones((int(keep.sum()), 1)), (POSITION,), weight=outcomes.count[keep],
    )  # fmt: skip


def a_side_wins(outcomes: PairOutcomes) -> tuple[float, float, float, float]:
    """Side A's share of the decisive votes (A or B better), with its 95% Wilson interval, and their number."""
    o, c = outcomes.outcome, outcomes.count
    a_wins, decisive = c[o == Outcome.A_WINS].sum(), c[(o == Outcome.A_WINS) | (o == Outcome.B_WINS)].sum()
    share, low, high = wilson(np.array([a_wins]), np.array([decisive]))
    return float(share[0]), float(low[0]), float(high[0]), float(decisive)
