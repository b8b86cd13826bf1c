"""Crisis screen for visitors' own messages: keyword and pattern rules for suicide, self-harm and abuse.

A message that trips it is not sent to two models for a contest: the visitor sees crisis resources instead,
and the message is flagged 'crisis' so public exports leave it out. The rules lean towards catching real
signals and let the everyday hyperbole of venting through ("this deadline is killing me", "I could die of
embarrassment"), which is exactly what the arena is for. A litellm moderation model, when configured, adds a
second opinion (arena.llm.live.moderation_flags).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CRISIS_FLAG = "crisis"

# Each rule: (category, pattern). Patterns are matched case-insensitively on text with curly apostrophes
# straightened and whitespace folded.
_RULES: tuple[tuple[str, str], ...] = (
    ("suicide", r"\bsuicid(?:e|al)\b"),
    ("suicide", r"\bkill(?:ing)? myself\b"),
    ("suicide", r"\b(?:end|ending|take|taking) (?:my|my own) life\b"),
    (
        "suicide",
        r"\b(?:want|wanted|wanna|planning|ready) (?:to )?(?:die|be dead)\b"
        r"(?! of (?:embarrassment|shame|boredom)| laughing)",
    ),
    ("suicide", r"\bwish (?:i was|i were|i'd never been|i had never been) (?:dead|born)\b"),
    ("suicide", r"\b(?:don't|do not|no longer) want to (?:be alive|live|exist|be here anymore|wake up)\b"),
    ("suicide", r"\b(?:everyone|they|people|world|family) (?:would be|is|are|'d be) better off without me\b"),
    ("suicide", r"\bbetter off dead\b"),
    ("suicide", r"\bno (?:reason|point) (?:to|in) (?:live|living|go on|going on)\b"),
    ("suicide", r"\b(?:can't|cannot) go on (?:anymore|like this|living)\b"),
    ("suicide", r"\bnot be (?:around|here) (?:much longer|anymore)\b"),
    ("self-harm", r"\bself[- ]?harm(?:ing)?\b"),
    ("self-harm", r"\b(?:cut|cutting|burn|burning|hurt|hurting|harm|harming|starve|starving) myself\b"),
    ("self-harm", r"\boverdos(?:e|ed|ing)\b"),
    ("self-harm", r"\b(?:took|swallowed|take) (?:a bottle of|all (?:my|the)|a whole bottle of) (?:pills|tablets)\b"),
    (
        "abuse",
        r"\b(?:he|she|they|my (?:husband|wife|partner|boyfriend|girlfriend|dad|father|mum|mom|mother|"
        r"stepdad|stepfather|uncle|brother|parents?)) (?:hits|hit|beats|beat|chokes|choked|strangled|punched|"
        r"kicks|kicked|slaps|raped|molested|touches|touched) me\b",
    ),
    ("abuse", r"\b(?:sexually|physically) (?:abused|assaulted)\b"),
    ("abuse", r"\b(?:being|was|been|get|got) (?:abused|raped|molested)\b"),
    ("abuse", r"\b(?:threatens|threatened) to (?:kill|hurt) me\b"),
    ("abuse", r"\b(?:afraid|scared|terrified) (?:he|she|they)(?:'ll| will| is going to| are going to) kill me\b"),
    ("abuse", r"\bnot safe (?:at home|in my (?:own )?home|with (?:him|her|them))\b"),
)
_COMPILED = tuple((category, re.compile(pattern, re.IGNORECASE)) for category, pattern in _RULES)


@dataclass(frozen=True)
class CrisisSignal:
    category: str
    phrase: str


def _normalise(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").replace("\u2018", "'").split())


def screen(text: str) -> list[CrisisSignal]:
    """Every rule the message trips (empty: no crisis signal)."""
    normalised = _normalise(text)
    signals = []
    for category, pattern in _COMPILED:
        match = pattern.search(normalised)
        if match:
            signals.append(CrisisSignal(category, match.group(0)))
    return signals
