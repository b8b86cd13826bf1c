"""Rate limits per visitor and per network. Keys are keyed hashes: a raw IP or session id never reaches the
limiter's storage (Redis when ARENA_REDIS_URL is set, so limits hold across workers; memory otherwise)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from flask import abort, current_app, request, session
from limits import parse

from arena.voting.visitors import keyed_hash


@lru_cache(maxsize=8192)  # parsing an address costs more than the rest of a limit check
def network_of(address: str | None) -> str:
    """The address truncated to its network (/24 for IPv4, /48 for IPv6): enough to slow a flood, too coarse to
    name a person."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return "unknown"
    if ip.version == 6 and ip.ipv4_mapped is not None:
        # A server bound to [::] sees IPv4 clients as ::ffff:a.b.c.d: judged as their IPv4 /24, not as one /48
        # that would hold all of IPv4.
        ip = ip.ipv4_mapped
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


def network_hash() -> str:
    """The keyed hash of the request's network that a vote row keeps, for the filters that judge networks (its
    own purpose, so it never matches a limiter key)."""
    return keyed_hash(current_app.config["SECRET_KEY"], "network", network_of(request.remote_addr))


class NewVisitorsCapped(Exception):
    """This network made as many new identities this hour as ARENA_NEW_VISITORS_PER_NETWORK_HOUR allows."""


@lru_cache(maxsize=16)
def _per_hour(cap: int):
    return parse(f"{cap} per hour")


def take_new_visitor_slot() -> None:
    """Count one new identity against the request's network, in the limiter's store (Redis when configured, so
    the cap holds across workers and hosts). Raises NewVisitorsCapped when the network is over its cap. Every
    route where an identity commits to voting goes through here (arena.web.visitor.commit_identity), so none is a
    way around it; merely minting an identity (a page view) does not."""
    settings = current_app.extensions["arena.settings"]
    if not settings.rate_limit_enabled:
        return
    limiter = current_app.extensions["arena.limiter"]
    try:
        allowed = limiter.limiter.hit(_per_hour(settings.new_visitors_per_network_hour), "new-visitor",
                                      network_limit_key())  # fmt: skip
    except Exception as error:  # noqa: BLE001 - a store that is down must not take the site down (as the limiter)
        current_app.logger.warning("new-visitor cap not checked, the rate-limit store failed: %s", error)
        return
    if not allowed:
        raise NewVisitorsCapped


def refuse_new_visitor():
    abort(
        429,
        description="Too many new visitors from your network started voting in the last hour, so this browser "
        "cannot start yet. If you voted here before, use the browser you voted with; otherwise try again later.",
    )
