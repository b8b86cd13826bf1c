"""Visitor keys: a keyed hash of a random per-browser id, so no raw IP or session id is ever stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import lru_cache


def new_visitor_id() -> str:
    return secrets.token_urlsafe(18)


# The same few keys are hashed on every request of a visitor (their judge key, their rate-limit keys).
@lru_cache(maxsize=8192)
def keyed_hash(secret_key: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the server secret, separated by purpose so one hash never doubles as another."""
    digest = hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def judge_key(secret_key: str, visitor_id: str) -> str:
    return keyed_hash(secret_key, "judge", visitor_id)
