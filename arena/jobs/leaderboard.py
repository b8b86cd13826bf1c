"""Read the latest rating snapshot for a category, for the leaderboard page and its JSON twin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from arena.jobs.snapshots import OVERALL, latest_run, resolve_category, run_ratings
from arena.taxonomy import EMONET_GROUPS

# Fewer battles than this and a model's rating is shown as provisional.
PROVISIONAL_BATTLES = 30
TABS = (OVERALL, *EMONET_GROUPS)


@dataclass(frozen=True)
class BoardRow:
    slug: str
    name: str
    rating: float
    ci_low: float
    ci_high: float
    rank_ub: int
    battles: int
    win_rate: float | None
    provisional: bool


@dataclass(frozen=True)
class BoardSnapshot:
    run_id: int
    category: str
    computed_at: datetime
    n_votes: int
    ci_method: str
    rounds: int
    rows: list[BoardRow]
    # Pairwise matrices in the order of `matrix_slugs`.
    matrix_slugs: list[str]
    pair_battles: list[list[int]]
    pair_win_rate: list[list[float | None]]

    def as_json(self) -> dict:
        return {
            "run_id": self.run_id,
            "category": self.category,
            "computed_at": self.computed_at.isoformat(),
            "n_votes": self.n_votes,
            "ci": self.ci_method,
            "bootstrap_rounds": self.rounds,
            "provisional_below_battles": PROVISIONAL_BATTLES,
            "ratings": [
                {
                    "model": r.slug,
                    "display_name": r.name,
                    "rating": round(r.rating, 3),
                    "ci_low": round(r.ci_low, 3),
                    "ci_high": round(r.ci_high, 3),
                    "rank_ub": r.rank_ub,
                    "battles": r.battles,
                    "win_rate": r.win_rate,
                    "provisional": r.provisional,
                }
                for r in self.rows
            ],
        }


def snapshot(session: Session, category: str = OVERALL) -> BoardSnapshot | None:
    """The newest snapshot of `category` (raises RecomputeError for an unknown name), or None."""
    label, _ = resolve_category(category)
    run = latest_run(session, label)
    if run is None:
        return None
    ratings = run_ratings(session, run.id, label)
    slug_of = {model.id: model.slug for _, model in ratings}
    matrices = run.matrices.get(label, {})
    rows = [
        BoardRow(
            slug=model.slug,
            name=model.display_name,
            rating=r.rating,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            rank_ub=r.rank_ub,
            battles=r.battles,
            win_rate=r.win_rate,
            provisional=r.battles < PROVISIONAL_BATTLES,
        )
        for r, model in ratings
    ]
    return BoardSnapshot(
        run_id=run.id,
        category=label,
        computed_at=run.finished_at,
        # Every battle counts for two models.
        n_votes=sum(r.battles for r in rows) // 2,
        ci_method=run.params.get("ci", "bootstrap"),
        rounds=run.params.get("rounds", 0),
        rows=rows,
        matrix_slugs=[slug_of.get(m, str(m)) for m in matrices.get("model_ids", [])],
        pair_battles=matrices.get("battles", []),
        pair_win_rate=matrices.get("win_rate", []),
    )
