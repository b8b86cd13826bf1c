"""Identity leaks: a reply that names its own model ("As an AI developed by OpenAI", "I'm Claude") breaks the
anonymity a vote relies on. Such a battle is flagged and its vote kept but not counted."""

from __future__ import annotations

import re
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
    """The first phrase of `text` that reveals a model's identity, or None."""
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            return match.group(0).strip()
    for name in names:
        match = re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", text, re.IGNORECASE)
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


@lru_cache(maxsize=4096)
def cached_battle_leak(reply_a: str, reply_b: str, names: tuple[str, ...]) -> IdentityLeak | None:
    """`battle_leak`, remembered by the texts and names themselves: the same pair of replies is shown again and
    again, and the patterns need not run each time."""
    return battle_leak(reply_a, reply_b, names)
