"""Identity leaks: a reply that names its own model ("As an AI developed by OpenAI", "I'm Claude") breaks the
anonymity a vote relies on. Such a battle is flagged and its vote kept but not counted."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

IDENTITY_LEAK = "identity_leak"

_MAKERS = (
    r"OpenAI|Anthropic|Google(?: DeepMind)?|DeepMind|Meta(?: AI)?|Mistral(?: AI)?|Microsoft|xAI|Alibaba(?: Cloud)?|"
    r"DeepSeek|Moonshot(?: AI)?|Zhipu(?: AI)?|Cohere|Amazon|Nvidia|NVIDIA|IBM|Baidu|Tencent|ByteDance|01\.AI|"
    r"Inflection(?: AI)?|Perplexity|AI21(?: Labs)?"
)
_MODELS = (
    r"ChatGPT|GPT-?\d[\w.-]*|Claude|Gemini|Bard|Gemma|Llama|LLaMA|Mistral|Mixtral|Grok|Qwen|DeepSeek|Copilot|Kimi|"
    r"GLM|Command R|Phi|Pi|Ernie|Yi"
)
# Names no everyday word shares: matched in any case ("i'm CLAUDE", "As chatgpt, ...").
_DISTINCT_MODELS = r"ChatGPT|GPT-?\d[\w.-]*|Claude|Gemini|Gemma|Llama|Mistral|Mixtral|Grok|Qwen|DeepSeek|Copilot"

# Characters that hide a name from a plain match without changing what a reader sees: zero-width and
# bidirectional controls, the soft hyphen, and letters of other scripts drawn like Latin ones.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
                                    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))  # fmt: skip
_LOOKALIKES = str.maketrans(
    "\u0430\u0435\u043e\u0440\u0441\u0443\u0445\u0456\u0458\u0455\u04bb\u0501\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420"
    "\u0421\u0422\u0425\u0406\u0408\u0405\u0391\u0392\u0395\u0396\u0397\u0399\u039a\u039c\u039d\u039f\u03a1\u03a4\u03a5\u03a7"
    "\u03bf\u03b1\u03b9\u03ba\u03bd\u03c1",
    "aeopcyxijshdABEKMHOPCTXIJSABEZHIKMNOPTYXoaikvp",
)


# Four or more single letters in a row, each followed by one separator a reader skips: "C l a u d e", "G.r.o.k".
_SPACED_LETTERS = re.compile(r"(?<![\w'\u2019])(?:[^\W\d_][ .\-_*\u00b7]){3,}[^\W\d_](?![^\W\d_])")
_SEPARATORS = re.compile(r"[ .\-_*\u00b7]")


def _strip_marks(text: str) -> str:
    # Decomposed, so an accent typed as a combining mark ("Clau\u0301de") or precomposed ("Claúde") comes apart
    # from its letter; the marks are dropped and the rest composed again with compatibility forms unified.
    decomposed = unicodedata.normalize("NFKD", text)
    return unicodedata.normalize("NFKC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def fold(text: str) -> str:
    """Text as a reader sees it: compatibility forms unified (fullwidth, mathematical letters), accents and other
    combining marks dropped, invisible characters dropped, look-alike letters made Latin, and letters spaced out
    one by one ("C l a u d e") read as the word they spell. Used only to match, never to show."""
    text = _strip_marks(text.translate(_INVISIBLE)).translate(_INVISIBLE).translate(_LOOKALIKES)
    return _SPACED_LETTERS.sub(lambda m: _SEPARATORS.sub("", m.group(0)), text)


_PATTERNS = (
    # "As an AI (language model) developed by X", "As a large language model trained by X"
    re.compile(
        r"\bas an? (?:AI|artificial intelligence|large language model|language model|LLM|chatbot|assistant)"
        r"(?: (?:language )?model| assistant| chatbot)?,? (?:developed|created|trained|built|made|designed)"
        r" by [\w.][\w .&-]{1,40}",
        re.IGNORECASE,
    ),
    # "I'm Claude", "I am ChatGPT, ..." (the model list is case-sensitive: "I'm pi..." in prose is not Pi)
    re.compile(r"\bI(?:'m| am|\u2019m) (?:" + _MODELS + r")\b"),
    re.compile(r"\bI(?:'m| am|\u2019m) (?:" + _DISTINCT_MODELS + r")\b", re.IGNORECASE),
    # "This is Llama speaking", "it's Grok here"; "I, Grok, think", "I (Claude) would"
    re.compile(
        r"\b(?:this is|it's|it is|it\u2019s) (?:" + _DISTINCT_MODELS + r"),? (?:speaking|here)\b", re.IGNORECASE
    ),
    re.compile(r"\bI(?:, | \()(?:" + _DISTINCT_MODELS + r")(?:,|\))", re.IGNORECASE),
    # "As ChatGPT, I ...", "Claude here"
    re.compile(r"\bAs (?:" + _DISTINCT_MODELS + r")\s*,", re.IGNORECASE),
    # ... only opening a sentence: "the llama here" in prose names no one.
    re.compile(r"(?:^|(?<=[.!?]\s)|(?<=\n))(?:" + _DISTINCT_MODELS + r") here\b", re.IGNORECASE),
    # "I was trained by Anthropic", "I'm made by Google", "my creators at OpenAI"
    re.compile(
        r"\b(?:I (?:was|am|'m|\u2019m)|I've been|I have been) (?:developed|created|trained|built|made|designed)"
        r" by (?:" + _MAKERS + r")\b",
        re.IGNORECASE,
    ),
    re.compile(r"\bmy (?:creators|developers|makers|training team) at (?:" + _MAKERS + r")\b", re.IGNORECASE),
)

# A battle's own names are matched only when they are distinctive: a persona called "Brief" must not flag every
# reply that says "in brief".
_MIN_NAME_LENGTH = 4


@dataclass(frozen=True)
class IdentityLeak:
    side: str  # 'a' or 'b'
    phrase: str

    def as_meta(self) -> dict[str, str]:
        return {"side": self.side, "phrase": self.phrase}


def own_names(*names: str | None) -> list[str]:
    """The distinctive names a model goes by: slug, display name, provider, and the last part of its litellm
    model string ("openai/gpt-4.1" -> "gpt-4.1")."""
    found: set[str] = set()
    for name in names:
        if not name:
            continue
        for candidate in (name, name.rsplit("/", 1)[-1]):
            candidate = candidate.strip()
            if len(candidate) >= _MIN_NAME_LENGTH and re.search(r"[A-Za-z]", candidate):
                found.add(candidate)
    return sorted(found)


def find_leak(text: str, names: Iterable[str] = ()) -> str | None:
    """The first phrase of `text` that reveals a model's identity, or None (matched as a reader sees it: `fold`)."""
    text = fold(text)
    return pattern_leak(text) or name_leak(text, names)


def pattern_leak(folded: str) -> str | None:
    """`find_leak`'s self-descriptions ("As an AI developed by ..."), on text already `fold`ed."""
    for pattern in _PATTERNS:
        match = pattern.search(folded)
        if match:
            return match.group(0).strip()
    return None


def name_leak(folded: str, names: Iterable[str]) -> str | None:
    """`find_leak`'s own-name check, on text already `fold`ed."""
    for name in names:
        match = re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", folded, re.IGNORECASE)
        if match:
            return match.group(0)
    return None


def battle_leak(reply_a: str | None, reply_b: str | None, names: Iterable[str]) -> IdentityLeak | None:
    """A leak in either reply of a battle; `names` are both models' own names (a reply naming its rival's model
    gives the pair away as surely as naming its own)."""
    names = list(names)
    for side, text in (("a", reply_a), ("b", reply_b)):
        phrase = find_leak(text, names) if text else None
        if phrase:
            return IdentityLeak(side, phrase)
    return None


def model_names(slug: str, display_name: str | None, provider: str | None, litellm_model: str | None) -> list[str]:
    """`own_names` of a model row; the demo personas have everyday names ("Brief", "Cheerleader") and no
    identity to leak."""
    from arena.ingest.demo import DEMO_PROVIDER

    if provider == DEMO_PROVIDER:
        return []
    return own_names(slug, display_name, provider, litellm_model)


def cached_battle_leak(reply_a: str, reply_b: str, names: tuple[str, ...]) -> IdentityLeak | None:
    """`battle_leak`, remembered per reply: a reply is checked once for each pair of models it is shown between,
    whichever side it is on and whatever reply it meets (a cache per pair of replies missed on most draws of a
    bank with many replies)."""
    for side, text in (("a", reply_a), ("b", reply_b)):
        phrase = _reply_leak(text, names) if text else None
        if phrase:
            return IdentityLeak(side, phrase)
    return None


@lru_cache(maxsize=8192)
def _reply_leak(text: str, names: tuple[str, ...]) -> str | None:
    return find_leak(text, names)
