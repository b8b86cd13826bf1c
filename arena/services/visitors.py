"""Visitor keys: a keyed hash of a random per-browser id, so no raw IP or session id is ever stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_visitor_id() -> str:
    return secrets.token_urlsafe(18)


def judge_key(secret_key: str, visitor_id: str) -> str:
    digest = hmac.new(secret_key.encode(), b"judge:" + visitor_id.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]
