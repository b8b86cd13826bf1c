"""How much of an effect runs through a mediator: the difference in coefficients, with a bootstrap interval.

The exposure (say the EQ difference of the two replies) has a total effect, its coefficient in a Bradley-Terry fit
with covariates (ratings.covariates), and a direct effect, its coefficient once the mediator's difference (say
whether the voter said each reply made them feel heard, A minus B) is added to the same fit on the same battles.
The share mediated is 1 - direct / total: the part of the exposure's effect that goes with the mediator.

This is the simple "difference method" (Baron and Kenny; Judd and Kenny). It is documented, not causal proof: it
assumes no unmeasured cause of both the mediator and the vote, and a logistic model's coefficients grow when a
strong predictor is added (non-collapsibility), so the share it gives leans low. Both fits are plain maximum
likelihood (no prior on the effects), and the interval is a percentile bootstrap that redraws whole clusters
(voters) when given, else battles, refitting both models each round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings.covariates import CovariateBattles, fit_covariates


@dataclass(frozen=True)
class Mediation:
    exposure: str
    mediator: str
    n_battles: int
    # Log-odds per unit of the exposure, without and with the mediator; indirect = total - direct.
    total: float
    direct: float
    indirect: float
    share: float
    # 95% percentile bootstrap intervals.
    total_ci: tuple[float, float]
    direct_ci: tuple[float, float]
    indirect_ci: tuple[float, float]
    share_ci: tuple[float, float]
    mediator_effect: float
    rounds: int
    # Bootstrap rounds whose refit failed (separation, a model with no battles) and were left out.
    failed_rounds: int

    def as_dict(self) -> dict:
        def r(x: float) -> float | None:
            return round(float(x), 6) if np.isfinite(x) else None

        out = {"exposure": self.exposure, "mediator": self.mediator, "n_battles": self.n_battles,
               "mediator_effect": r(self.mediator_effect), "rounds": self.rounds,
               "failed_rounds": self.failed_rounds}  # fmt: skip
        for name in ("total", "direct", "indirect", "share"):
            low, high = getattr(self, f"{name}_ci")
            out[name] = {"estimate": r(getattr(self, name)), "ci_low": r(low), "ci_high": r(high)}
        return out


def _pair(battles: CovariateBattles, mediator: np.ndarray, name: str, weight, exposure_at: int):
    """(total, direct, mediator effect) on the battles under `weight`."""
    base = CovariateBattles(battles.n_models, battles.model_a, battles.model_b, battles.score, battles.features,
                            battles.names, weight=weight)  # fmt: skip
    with_mediator = CovariateBattles(
        battles.n_models, battles.model_a, battles.model_b, battles.score,
        np.column_stack([battles.features, mediator]), (*battles.names, name), weight=weight,
    )  # fmt: skip
    total = fit_covariates(base).beta[exposure_at]
    fitted = fit_covariates(with_mediator)
    return float(total), float(fitted.beta[exposure_at]), float(fitted.beta[-1])


def difference_mediation(
    battles: CovariateBattles,
    exposure: str,
    mediator: np.ndarray,
    mediator_name: str,
    *,
    cluster: np.ndarray | None = None,
    rounds: int = 200,
    rng: np.random.Generator | None = None,
) -> Mediation:
    """The share of `exposure`'s effect that runs through `mediator` (one value per battle row, A minus B). Raises
    ValueError or RuntimeError when the point fits cannot be made (the caller reports why)."""
    rng = rng or np.random.default_rng(0)
    at = battles.names.index(exposure)
    mediator = np.asarray(mediator, dtype=np.float64)
    total, direct, effect = _pair(battles, mediator, mediator_name, battles.weight, at)
    groups = np.unique(cluster, return_inverse=True)[1] if cluster is not None else np.arange(battles.n_rows)
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    base = battles.weights()
    draws, failed = [], 0
    for _ in range(rounds):
        counts = rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups))
        try:
            draws.append(_pair(battles, mediator, mediator_name, base * counts[groups], at)[:2])
        except (ValueError, RuntimeError, np.linalg.LinAlgError):
            failed += 1
    draws = np.array(draws).reshape(-1, 2)
    t, d = draws[:, 0], draws[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = 1.0 - d / t

    def interval(values: np.ndarray) -> tuple[float, float]:
        values = values[np.isfinite(values)]
        if not len(values):
            return (np.nan, np.nan)
        low, high = np.quantile(values, [0.025, 0.975])
        return (float(low), float(high))

    return Mediation(
        exposure=exposure, mediator=mediator_name, n_battles=int(battles.n_rows), total=total, direct=direct,
        indirect=total - direct, share=1.0 - direct / total if total else np.nan, total_ci=interval(t),
        direct_ci=interval(d), indirect_ci=interval(t - d), share_ci=interval(share), mediator_effect=effect,
        rounds=len(draws), failed_rounds=failed,
    )  # fmt: skip
