"""Rate limits per visitor and per network. Keys are keyed hashes: a raw IP or session id never reaches the
limiter's storage (Redis when ARENA_REDIS_URL is set, so limits hold across workers; memory otherwise)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from flask import current_app, request, session

from arena.voting.visitors import keyed_hash


@lru_cache(maxsize=8192)  # parsing an address costs more than the rest of a limit check
def network_of(address: str | None) -> str:
    """The address truncated to its network (/24 for IPv4, /48 for IPv6): enough to slow a flood, too coarse to
    name a person."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def visitor_limit_key() -> str:
    visitor = session.get("visitor")
    if not visitor:
        # No session yet (a first page, or a client that drops cookies): counted by its network instead.
        return network_limit_key()
    return "v:" + keyed_hash(current_app.config["SECRET_KEY"], "limit-visitor", visitor)


def network_limit_key() -> str:
    return "n:" + keyed_hash(current_app.config["SECRET_KEY"], "limit-network", network_of(request.remote_addr))
