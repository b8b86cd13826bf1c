"""The analysis said in plain words: each covariate's effect as a change in the chance of winning, a sentence per
effect, and the plain name of each covariate. Pure Python over a stored analysis result (no numpy on the web)."""

from __future__ import annotations

import math
from dataclasses import dataclass

# What each covariate measures, in words (the formulas stay in the technical table): the subject of its sentence
# and what a difference in it means; SHORT names it on the chart.
PLAIN = {
    "length_ratio": ("Longer replies", "how much longer one reply is than the other"),
    "headers": ("Replies with more headings", "how many more headings one reply has"),
    "list_items": ("Replies with more bullet points", "how many more list items one reply has"),
    "bold": ("Replies with more bold text", "how many more bold phrases one reply has"),
    "questions": ("Replies that ask more questions back", "how many more questions one reply asks"),
    "validation": (
        "Replies that say more often that the feelings make sense",
        "how many more phrases such as 'no wonder' or 'that makes sense' one reply uses",
    ),
    "apology": ("Replies with more 'I'm sorry'", "how many more apologies or condolences one reply offers"),
    "advice": ("Replies that give more advice", "how many more sentences of advice one reply gives"),
    "referral": (
        "Replies that point more to professional help",
        "how many more mentions of a therapist, doctor or helpline one reply makes",
    ),
    "sycophancy": ("More flattering replies", "how many more flattering phrases one reply uses"),
    "eq_overall": (
        "Replies a judge scored higher for emotional intelligence",
        "how much higher a judge model scored one reply for emotional intelligence",
    ),
    "position_a": (
        "Replies shown first",
        "whether the reply was shown first (on the left, or on top on a phone) rather than second",
    ),
    # Randomised presentation arms (arena/voting/arms.py): the same reply shown differently, at random.
    "arm_plain_text": (
        "Replies shown as plain text (markdown flattened)",
        "whether the reply was shown with its formatting removed (drawn at random), against as written",
    ),
    "arm_no_helpline": (
        "Replies shown without their helpline boilerplate",
        "whether crisis-line and 'reach out to a professional' sentences were removed (drawn at random)",
    ),
    "arm_length_matched": (
        "Replies trimmed to the other reply's length",
        "whether the reply, when the longer one, was cut at a sentence end to the other's length (drawn at random)",
    ),
    # Conversation length enters through what differs between the sides; each says how an effect changes with
    # every exchange the voter saw beyond the first.
    "turns_position": (
        "Replies shown first (extra edge per further exchange of the conversation)",
        "how many exchanges beyond the first the voter had seen, for the reply shown first",
    ),
    "eq_overall_x_turns": (
        "Replies a judge scored higher for emotional intelligence (extra effect per further exchange)",
        "how the edge of the reply judged more emotionally intelligent changes with each further exchange",
    ),
    "length_ratio_x_turns": (
        "Longer replies (extra effect per further exchange)",
        "how the edge of the longer reply changes with each further exchange",
    ),
}


SHORT = {
    "length_ratio": "Length",
    "headers": "Headings",
    "list_items": "Bullet points",
    "bold": "Bold text",
    "questions": "Questions back",
    "validation": "Validating phrases",
    "apology": "Apologies",
    "advice": "Advice",
    "referral": "Pointing to help",
    "sycophancy": "Flattery",
    "eq_overall": "Judged EQ",
    "position_a": "Shown first",
    "turns_position": "Shown first x exchanges",
    "eq_overall_x_turns": "Judged EQ x exchanges",
    "length_ratio_x_turns": "Length x exchanges",
    "arm_plain_text": "Shown as plain text",
    "arm_no_helpline": "Helpline removed",
    "arm_length_matched": "Length-matched",
}


# Stated per unit (with it against without it), not per typical difference: yes-or-no properties of a side, whose
# "typical difference" is meaningless (the reply shown first is first in every battle: its SD is 0), and the count
# of further exchanges. Results stored before they said their scale carry no "scale" field.
PER_UNIT = frozenset({"position_a", "turns_position"})
ARM_PREFIX = "arm_"


def plain_label(feature: str) -> tuple[str, str, str]:
    """(subject of its sentence, what it measures, short name) of a covariate; a presentation arm (arm_<name>)
    or a covariate added later without words of its own still reads as words, never as a column name."""
    if feature in PLAIN:
        subject, meaning = PLAIN[feature]
        return subject, meaning, SHORT.get(feature, subject)
    words = feature.removeprefix(ARM_PREFIX).replace("_", " ").strip() or "unnamed"
    if feature.startswith(ARM_PREFIX):
        return (f"Replies shown in the '{words}' presentation", f"whether the reply was shown {words}",
                f"Presentation: {words}")  # fmt: skip
    return f"Replies with more {words}", f"how much more {words} one reply has", words.capitalize()


def is_per_unit(c: dict) -> bool:
    scale = c.get("scale")
    return scale == "unit" if scale else (c["feature"] in PER_UNIT or c["feature"].startswith(ARM_PREFIX))


@dataclass(frozen=True)
class Effect:
    feature: str
    subject: str
    meaning: str
    short: str
    # Percentage points of winning gained, in an otherwise even battle, by the reply with a typical amount more
    # (one standard deviation of the difference across battles); None when the battles cannot pin it down.
    points: float | None
    low: float | None
    high: float | None
    reason: str | None
    # True when the points are for the property against its absence (or one unit), not a typical difference.
    per_unit: bool = False

    @property
    def clear(self) -> bool:
        """The 95% interval excludes no effect at all."""
        return self.points is not None and (self.low > 0 or self.high < 0)

    @property
    def sentence(self) -> str:
        if self.points is None:
            return f"{self.subject}: not enough battles yet to say whether they win more or less often."
        direction = "more" if self.points >= 0 else "less"
        size = abs(round(self.points))
        interval = f"95% interval {fmt_points(self.low)} to {fmt_points(self.high)}"
        if size == 0:
            return f"{self.subject} win about as often as the others, all else equal ({interval})."
        said = f"{self.subject} win {size} point{'s' if size != 1 else ''} {direction} often, all else equal"
        if self.clear:
            return f"{said} ({interval})."
        return f"{said}, but this could be chance: the {interval} includes no effect."


def fmt_points(value: float) -> str:
    rounded = round(value)
    return f"{rounded:+d}" if rounded else "0"


def win_points(log_odds: float) -> float:
    """Change in the chance of winning, in percentage points, from even odds."""
    return 100.0 * (1.0 / (1.0 + math.exp(-log_odds)) - 0.5)


def _scale_keys(c: dict) -> tuple[str, str, str]:
    return ("estimate", "ci_low", "ci_high") if is_per_unit(c) else ("estimate_std", "std_ci_low", "std_ci_high")


def _identified(c: dict) -> bool:
    numbers = [c.get(key) for key in _scale_keys(c)]
    return c.get("identified", True) is not False and all(v is not None and math.isfinite(v) for v in numbers)


def effects(result: dict) -> list[Effect]:
    """Clear effects first (largest first), then uncertain ones, then those without enough battles."""
    out = []
    for c in result.get("coefficients", []):
        subject, meaning, short = plain_label(c["feature"])
        unit = is_per_unit(c)
        if _identified(c):
            points = [win_points(c[key]) for key in _scale_keys(c)]
            out.append(Effect(c["feature"], subject, meaning, short, *points, None, unit))
        else:
            reason = c.get("reason") or "too few battles to pin it down"
            out.append(Effect(c["feature"], subject, meaning, short, None, None, None, reason, unit))
    return sorted(out, key=lambda e: (e.points is None, not e.clear, -abs(e.points or 0.0)))
