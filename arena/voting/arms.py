"""Randomised presentation arms: the operator declares arms with a probability each (ARENA_ARMS), and every side
of a freshly drawn single-reply battle is given one arm, or none, at random with those probabilities, each side
independently of the other, of the models and of the message. The battle stores each side's arm and the
probability it was given with; the page shows the side's text as the arm makes it (arena/voting/arm_transforms.py),
and `shown_texts` rebuilds that text from the stored replies at any later time.

Because the arm is drawn at random, its indicator in the Bradley-Terry fit (arena/jobs/analysis.py) measures what
the presentation itself does to the vote. A battle with any arm applied is left out of the model board unless the
operator sets ARENA_ARMS_ON_BOARD (arena/jobs/arm_policy.py)."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace

from arena.voting.arm_transforms import TRANSFORMS_VERSION, flatten_markdown, match_lengths, strip_helplines

NO_HELPLINE = "no_helpline"
PLAIN_TEXT = "plain_text"
LENGTH_MATCHED = "length_matched"
# What each arm does, in words (README, the analysis page).
ARM_DOCS = {
    NO_HELPLINE: "helpline boilerplate stripped (crisis-line and 'reach out to a professional' sentences)",
    PLAIN_TEXT: "markdown flattened to plain text",
    LENGTH_MATCHED: "trimmed at a sentence end to the other reply's length, when it is the longer one",
}
KNOWN_ARMS = tuple(ARM_DOCS)
# Battle.meta key of an armed battle: the transforms' version and a digest of each side's shown text.
SHOWN = "arms"


class ArmDeclarationError(ValueError):
    """ARENA_ARMS cannot be read; the message says what is wrong and what is accepted."""


@dataclass(frozen=True)
class Arm:
    name: str
    probability: float


@dataclass(frozen=True)
class Arms:
    """The declared arms; each side gets arm k with its probability, and none with the rest (`control`)."""

    arms: tuple[Arm, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.arms)

    @property
    def control(self) -> float:
        return 1.0 - math.fsum(arm.probability for arm in self.arms)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(arm.name for arm in self.arms)

    def draw(self, rng: random.Random) -> tuple[str | None, float]:
        """One side's arm (None: shown as stored) and the probability it was drawn with."""
        u = rng.random()
        for arm in self.arms:
            if u < arm.probability:
                return arm.name, arm.probability
            u -= arm.probability
        return None, self.control

    def as_setting(self) -> str:
        return ",".join(f"{arm.name}:{arm.probability:g}" for arm in self.arms)


NO_ARMS = Arms()


def parse_arms(text: str | None) -> Arms:
    """ARENA_ARMS: comma-separated `name:probability` pairs, e.g. "plain_text:0.1,no_helpline:0.1,length_matched:0.1";
    empty for none. Each name once, from KNOWN_ARMS; each probability above 0; together below 1, so some sides are
    always shown as stored (the comparison every arm's effect is measured against)."""
    text = (text or "").strip()
    if not text:
        return NO_ARMS
    arms: list[Arm] = []
    for item in text.split(","):
        name, sep, value = item.strip().partition(":")
        name = name.strip()
        if not sep or not name or not value.strip():
            raise ArmDeclarationError(f"ARENA_ARMS takes name:probability pairs separated by commas, got {item!r}")
        if name not in KNOWN_ARMS:
            raise ArmDeclarationError(f"ARENA_ARMS: unknown arm {name!r} (known: {', '.join(KNOWN_ARMS)})")
        if name in (arm.name for arm in arms):
            raise ArmDeclarationError(f"ARENA_ARMS: arm {name!r} is declared twice")
        try:
            probability = float(value)
        except ValueError:
            raise ArmDeclarationError(
                f"ARENA_ARMS: {name!r} needs a number for its probability, got {value!r}"
            ) from None
        if not 0 < probability < 1:
            raise ArmDeclarationError(f"ARENA_ARMS: the probability of {name!r} must be between 0 and 1, got {value!r}")
        arms.append(Arm(name, probability))
    declared = Arms(tuple(arms))
    if declared.control <= 0:
        raise ArmDeclarationError(
            "ARENA_ARMS: the probabilities add up to 1 or more; they must leave some sides shown as stored "
            "(every arm is measured against them)"
        )
    return declared


def _content(text: str, arm: str | None) -> str:
    if arm == NO_HELPLINE:
        return strip_helplines(text)
    if arm == PLAIN_TEXT:
        return flatten_markdown(text)
    return text


def shown_texts(reply_a: str, reply_b: str, arm_a: str | None, arm_b: str | None) -> tuple[str, str]:
    """The two texts a battle showed, from its stored replies and arms. Length matching compares the texts as the
    other arms leave them; with both sides length-matched the longer is trimmed and the shorter left alone."""
    a, b = _content(reply_a, arm_a), _content(reply_b, arm_b)
    shown_a = match_lengths(a, b) if arm_a == LENGTH_MATCHED else a
    shown_b = match_lengths(b, a) if arm_b == LENGTH_MATCHED else b
    return shown_a, shown_b


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class Assignment:
    arm_a: str | None
    arm_b: str | None
    prob_a: float
    prob_b: float
    shown_a: str
    shown_b: str

    @property
    def applied(self) -> bool:
        return self.arm_a is not None or self.arm_b is not None

    def meta(self) -> dict:
        """What the battle keeps to check a rebuilt text against: the transforms' version and the shown digests."""
        return {"version": TRANSFORMS_VERSION, "a": digest(self.shown_a), "b": digest(self.shown_b)}


def assign(arms: Arms, reply_a: str, reply_b: str, rng: random.Random) -> Assignment:
    """Both sides' arms, drawn independently, and the texts they show."""
    arm_a, prob_a = arms.draw(rng)
    arm_b, prob_b = arms.draw(rng)
    shown_a, shown_b = shown_texts(reply_a, reply_b, arm_a, arm_b)
    return Assignment(arm_a, arm_b, prob_a, prob_b, shown_a, shown_b)


def assign_draw(draw, arms: Arms, rng: random.Random):
    """The draw (arena.voting.pairing.Draw) with its sides' arms and shown texts; unchanged without arms, and for
    battles arms never touch: transcripts (whole conversations) and repeats (which show a voted pair again)."""
    if not arms or draw.conversation is not None or draw.repeat_of is not None:
        return draw
    chosen = assign(arms, draw.reply_a_text, draw.reply_b_text, rng)
    return replace(draw, reply_a_text=chosen.shown_a, reply_b_text=chosen.shown_b, arms=chosen)
