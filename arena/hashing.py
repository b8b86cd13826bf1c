"""Keyed hashes under the server secret: visitors' keys, rate-limit keys, and the voters of imported battles
(FastChat's `judge`), so one person hashes alike wherever they come from and no raw identifier is stored. Also
the (unkeyed) configuration hash of a model row: what a call of it actually sends."""

from __future__ import annotations

import hashlib
import hmac
import json
from functools import lru_cache
from typing import Any


# The same few keys are hashed again and again (a visitor's every request; a voter's every imported battle).
@lru_cache(maxsize=8192)
def keyed_hash(secret_key: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the server secret, separated by purpose so one hash never doubles as another."""
    digest = hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def judge_key(secret_key: str, voter: str) -> str:
    """The voter column of a battle: a site visitor's random id, or an imported file's raw `judge` value."""
    return keyed_hash(secret_key, "judge", voter)


# A public export's voter pseudonym: 24 hex digits, so it can never be mistaken for (or pass as) a 32-digit
# visitor key, which is what deletion asks for.
PSEUDONYM_CHARS = 24


def public_pseudonym(secret_key: str, voter_key: str) -> str:
    """The voter column of a public export: HMAC-SHA256 of the stored voter key under a key derived from the server
    secret for this purpose alone. One-way and keyed, so the public file reveals no visitor key (the deletion
    credential) and no one without the secret can link a key to its pseudonym; the same voter gets the same
    pseudonym in every export made under the same secret."""
    return hmac.new(_pseudonym_key(secret_key), voter_key.encode(), hashlib.sha256).hexdigest()[:PSEUDONYM_CHARS]


@lru_cache(maxsize=4)
def _pseudonym_key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"arena public export pseudonym", hashlib.sha256).digest()


def _normal(value: Any) -> Any:
    """JSON-ready and canonical: 1.0 and 1 are the same parameter value."""
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def canonical_config(litellm_model: str | None, meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """What a call of this model actually sends, beyond the person's message: the litellm model string, the
    completion parameters, the system prompt and how many samples per (message, model) the battles draw from. Not
    in it: where and how the call is made (api_base, the key's variable, fallbacks, prices). None when nothing
    here calls the model (an imported name, a demo persona). Migration 0012 keeps a frozen copy of this."""
    if not litellm_model or not litellm_model.strip():
        return None
    meta = meta or {}
    return {
        "litellm": litellm_model.strip(),
        "params": _normal(meta.get("params") or {}),
        "system_prompt": meta.get("system_prompt") or None,
        "samples": meta.get("samples"),
    }


def config_hash(litellm_model: str | None, meta: dict[str, Any] | None) -> str | None:
    """sha256 of the canonical configuration as sorted, compact JSON (None: a model nothing here calls)."""
    config = canonical_config(litellm_model, meta)
    if config is None:
        return None
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
