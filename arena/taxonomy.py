"""LAION EmoNet's 40 emotion categories in 7 groups.

Source: LAION-AI/emonet-face (guide.json, commit f4d4dabc) for the names, and LAION's EmoNet announcement for
the grouping; restated here as facts (MIT / CC BY 4.0).
"""

from __future__ import annotations

EMONET_GROUPS: dict[str, tuple[str, ...]] = {
    "Positive, high energy": (
        "Amusement",
        "Elation",
        "Pleasure/Ecstasy",
        "Hope/Enthusiasm/Optimism",
        "Triumph",
        "Interest",
        "Awe",
        "Astonishment/Surprise",
        "Teasing",
    ),
    "Positive, low energy": (
        "Contentment",
        "Thankfulness/Gratitude",
        "Affection",
        "Relief",
        "Contemplation",
        "Pride",
    ),
    "Negative, high energy": (
        "Fear",
        "Anger",
        "Malevolence/Malice",
        "Disgust",
        "Impatience and Irritability",
        "Distress",
    ),
    "Negative, low energy": (
        "Sadness",
        "Bitterness",
        "Contempt",
        "Disappointment",
        "Shame",
        "Emotional Numbness",
        "Doubt",
        "Jealousy & Envy",
        "Embarrassment",
        "Helplessness",
    ),
    "Cognitive states": ("Concentration", "Confusion"),
    "Physical and exhaustive": (
        "Pain",
        "Fatigue/Exhaustion",
        "Intoxication/Altered States of Consciousness",
        "Sourness",
    ),
    "Longing and lust": ("Longing", "Sexual Lust", "Infatuation"),
}

EMONET_CATEGORIES: tuple[str, ...] = tuple(c for group in EMONET_GROUPS.values() for c in group)
GROUP_OF: dict[str, str] = {c: g for g, cats in EMONET_GROUPS.items() for c in cats}
_BY_FOLDED_NAME = {c.casefold(): c for c in EMONET_CATEGORIES}


def canonical_category(name: str) -> str | None:
    """The EmoNet spelling of a category name given in any letter case, or None if it is not one."""
    return _BY_FOLDED_NAME.get(name.strip().casefold())
