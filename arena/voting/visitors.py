"""Visitor keys: a keyed hash of a random per-browser id, so no raw IP or session id is ever stored."""

from __future__ import annotations

import secrets

from arena.hashing import judge_key, keyed_hash

__all__ = ["judge_key", "keyed_hash", "new_visitor_id"]


def new_visitor_id() -> str:
    return secrets.token_urlsafe(18)
