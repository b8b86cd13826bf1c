"""Bidirectional control characters (embeddings, overrides, isolates, marks) in model names or replies could
reorder what a page shows ("Trojan Source"): a name could read as another's, a reply's words could swap. No text
on any page needs them, so every value a template writes, and every streamed piece of a live reply, drops them."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

BIDI_CONTROLS = dict.fromkeys(map(ord, "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def strip_bidi(text: str) -> str:
    return text.translate(BIDI_CONTROLS)


def finalize(value: Any) -> Any:
    """Jinja's `finalize`: runs on each `{{ ... }}` value before it is escaped."""
    if isinstance(value, Markup):
        return Markup(str(value).translate(BIDI_CONTROLS))
    if isinstance(value, str):
        return value.translate(BIDI_CONTROLS)
    return value
