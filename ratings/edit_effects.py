"""The effect of an edit on preference: from votes between a reply and its edit (sides at random), the edit's
chance of winning a decisive vote, with a 95% Wilson interval, and the same in points away from an even chance.

Ties and "both bad" say neither reply was preferred: they are counted and reported, and left out of the win
chance (as the leaderboard's decisive win rates do), so the effect reads "of the people who preferred one reply,
how many more preferred the edit". Sides are randomised per battle, so position needs no adjustment."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ratings.ties import wilson


@dataclass(frozen=True)
class EditEffect:
    edit_wins: int
    original_wins: int
    ties: int
    both_bad: int
    # The edit's share of the decisive votes and its 95% Wilson interval (None without a decisive vote).
    win_chance: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def decisive(self) -> int:
        return self.edit_wins + self.original_wins

    def points(self) -> tuple[float | None, float | None, float | None]:
        """The effect in points of win chance: 100 * (win chance - 1/2), and its interval."""
        if self.win_chance is None:
            return None, None, None
        return tuple(100.0 * (v - 0.5) for v in (self.win_chance, self.ci_low, self.ci_high))

    def as_dict(self) -> dict:
        effect, low, high = self.points()
        return {**asdict(self), "decisive": self.decisive, "effect_points": effect, "effect_ci_low": low,
                "effect_ci_high": high}  # fmt: skip


def edit_effect(edit_wins: int, original_wins: int, ties: int = 0, both_bad: int = 0) -> EditEffect:
    decisive = edit_wins + original_wins
    if decisive == 0:
        return EditEffect(edit_wins, original_wins, ties, both_bad, None, None, None)
    share, low, high = wilson(np.array([edit_wins]), np.array([decisive]))
    return EditEffect(edit_wins, original_wins, ties, both_bad, float(share[0]), float(low[0]), float(high[0]))
