"""Bidirectional control characters (embeddings, overrides, isolates, marks) in model names or replies could
reorder what a page shows ("Trojan Source"): a name could read as another's, a reply's words could swap. No text
on any page needs them, so every value a template writes, and every streamed piece of a live reply, drops them."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
BIDI_CONTROLS = dict.fromkeys(map(ord, _CONTROLS))
# Almost no value holds one: a search (in C, no copy) lets those values through as they are, where translate with a
# dict would look up every character in Python's mapping protocol and build a new string, whole replies included.
_ANY_CONTROL = re.compile(f"[{_CONTROLS}]")


def strip_bidi(text: str) -> str:
    # Only a plain str comes back as it is: a subclass still goes through its own translate, as it always did.
    if type(text) is str and _ANY_CONTROL.search(text) is None:
        return text
    return text.translate(BIDI_CONTROLS)


def finalize(value: Any) -> Any:
    """Jinja's `finalize`: runs on each `{{ ... }}` value before it is escaped."""
    if isinstance(value, Markup):
        if _ANY_CONTROL.search(value) is None:
            return value
        return Markup(str(value).translate(BIDI_CONTROLS))
    if isinstance(value, str):
        if type(value) is str and _ANY_CONTROL.search(value) is None:
            return value
        return value.translate(BIDI_CONTROLS)
    return value
