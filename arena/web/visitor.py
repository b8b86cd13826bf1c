"""The visitor behind a request: a random id in the signed session cookie, stored only as its keyed hash."""

from __future__ import annotations

from flask import current_app, session

from arena.voting import proof_of_work, retired_keys, terms
from arena.voting.visitors import judge_key, new_visitor_id
from arena.web import db_session
from arena.web.limits import NewVisitorsCapped, refuse_new_visitor, take_new_visitor_slot

# The terms version this session is known to have accepted (already in the database): saves the lookup.
TERMS_ACCEPTED = "terms"
# The visitor id whose proof-of-work is known to be stored: saves the lookup, and goes stale with a new id.
PROOF_PAID = "pow"
# The visitor id that has spent its slot of the network's hourly cap on new identities (or was known before).
COUNTED = "counted"


def visitor_key() -> str:
    """The visitor's key, giving the browser a visitor id first if it has none. Minting is free: an identity
    spends its network's hourly budget only when it first commits to voting (commit_identity)."""
    visitor = session.get("visitor") or _new_identity()
    return judge_key(current_app.config["SECRET_KEY"], visitor)


def _new_identity() -> str:
    """Every identity is minted here. It costs nothing yet: a browser that only looks (or a client that drops its
    cookie on every request) must not use up its network's budget of new voters."""
    visitor = new_visitor_id()
    session["visitor"] = visitor
    session.permanent = True
    return visitor


def commit_identity() -> None:
    """Spend one slot of the network's hourly cap on new identities (ARENA_NEW_VISITORS_PER_NETWORK_HOUR) the
    first time this identity commits to voting: it accepts the terms (or votes, where no terms are asked) or
    starts a live battle. Once per identity (remembered in the session); a visitor who accepted terms before
    spends nothing. Aborts with 429 when the network is over its cap. Every identity that can vote has been
    through here, so the cap still bounds the identities a network can vote with."""
    visitor = session.get("visitor") or _new_identity()
    if session.get(COUNTED) == visitor or not _settings().rate_limit_enabled:
        return
    if not terms.has_accepted_any(db_session(), judge_key(current_app.config["SECRET_KEY"], visitor)):
        try:
            take_new_visitor_slot()
        except NewVisitorsCapped:
            refuse_new_visitor()
    session[COUNTED] = visitor


def existing_visitor_key() -> str | None:
    """The key of a visitor who already has an id; never creates one (reading a page stores nothing)."""
    visitor = session.get("visitor")
    return judge_key(current_app.config["SECRET_KEY"], visitor) if visitor else None


def _settings():
    return current_app.extensions["arena.settings"]


def terms_version() -> str:
    return _settings().terms_version


def terms_accepted() -> bool:
    """Whether this visitor may vote: terms not required, or the current version accepted."""
    settings = _settings()
    if not settings.require_terms or session.get(TERMS_ACCEPTED) == settings.terms_version:
        return True
    key = existing_visitor_key()
    if key is None or not terms.has_accepted(db_session(), key, settings.terms_version):
        return False
    session[TERMS_ACCEPTED] = settings.terms_version
    return True


def accept_terms(proof: str | None = None) -> int:
    """Store the acceptance of the current version (idempotent) and, when the browser sent one, its solved
    proof-of-work, and remember both in the session; a browser still carrying a key deleted under privacy accepts
    under a new identity. Returns how many of the visitor's earlier `unverified` votes the proof made count.
    Raises ProofRejected (storing nothing) for a solution that does not hold."""
    version = terms_version()
    db = db_session()
    key = visitor_key()
    if retired_keys.is_retired(db, key):
        forget_visitor()
        key = visitor_key()
    commit_identity()
    counted = 0
    if proof:
        proof_of_work.check_solution(proof_secrets(), key, proof)
        counted = proof_of_work.record(db, key)
    terms.accept(db, key, version)
    db.commit()
    session[TERMS_ACCEPTED] = version
    if proof:
        session[PROOF_PAID] = session["visitor"]
    return counted


def proof_secrets() -> proof_of_work.Secrets:
    return proof_of_work.Secrets.from_secret(current_app.config["SECRET_KEY"])


def proof_paid(db=None) -> bool:
    """Whether this visitor solved the proof-of-work (their votes count by the other rules); `db`: the session to
    look in (default the request's writing one; a page that only reads passes its read session)."""
    visitor = session.get("visitor")
    if not visitor:
        return False
    if session.get(PROOF_PAID) == visitor:
        return True
    if not proof_of_work.has_proof(db or db_session(), judge_key(current_app.config["SECRET_KEY"], visitor)):
        return False
    session[PROOF_PAID] = visitor
    return True


def forget_visitor() -> None:
    """After a deletion (or on meeting a deleted key): a fresh visitor id, so nothing new links back to the deleted
    key, and the terms asked anew. Minted like any other identity: it spends its network's budget of new voters
    when it commits to voting again."""
    session.pop(TERMS_ACCEPTED, None)
    session.pop(PROOF_PAID, None)
    session.pop(COUNTED, None)
    session.pop("visitor", None)
    _new_identity()
