"""Keyed hashes under the server secret: visitors' keys, rate-limit keys, and the voters of imported battles
(FastChat's `judge`), so one person hashes alike wherever they come from and no raw identifier is stored."""

from __future__ import annotations

import hashlib
import hmac
from functools import lru_cache


# The same few keys are hashed again and again (a visitor's every request; a voter's every imported battle).
@lru_cache(maxsize=8192)
def keyed_hash(secret_key: str, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` under the server secret, separated by purpose so one hash never doubles as another."""
    digest = hmac.new(secret_key.encode(), f"{purpose}:{value}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def judge_key(secret_key: str, voter: str) -> str:
    """The voter column of a battle: a site visitor's random id, or an imported file's raw `judge` value."""
    return keyed_hash(secret_key, "judge", voter)
