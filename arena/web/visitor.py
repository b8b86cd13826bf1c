"""The visitor behind a request: a random id in the signed session cookie, stored only as its keyed hash."""

from __future__ import annotations

import contextlib

from flask import current_app, session

from arena.voting import proof_of_work, retired_keys, terms
from arena.voting.visitors import judge_key, new_visitor_id
from arena.web import db_session
from arena.web.limits import NewVisitorsCapped, refuse_new_visitor, take_new_visitor_slot

# The terms version this session is known to have accepted (already in the database): saves the lookup.
TERMS_ACCEPTED = "terms"
# The visitor id whose proof-of-work is known to be stored: saves the lookup, and goes stale with a new id.
PROOF_PAID = "pow"


def visitor_key() -> str:
    """The visitor's key, giving the browser a visitor id first if it has none (429 when its network has made
    too many new identities this hour)."""
    visitor = session.get("visitor")
    if not visitor:
        try:
            visitor = _new_identity()
        except NewVisitorsCapped:
            refuse_new_visitor()
    return judge_key(current_app.config["SECRET_KEY"], visitor)


def _new_identity() -> str:
    """Every identity is minted here: one slot of the network's hourly cap each."""
    take_new_visitor_slot()
    visitor = new_visitor_id()
    session["visitor"] = visitor
    session.permanent = True
    return visitor


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


def accept_terms(proof: str | None = None) -> None:
    """Store the acceptance of the current version (idempotent) and, when the browser sent one, its solved
    proof-of-work, and remember both in the session; a browser still carrying a key deleted under privacy accepts
    under a new identity. Raises ProofRejected (storing nothing) for a solution that does not hold."""
    version = terms_version()
    db = db_session()
    key = visitor_key()
    if retired_keys.is_retired(db, key):
        forget_visitor()
        key = visitor_key()
    if proof:
        proof_of_work.check_solution(proof_secrets(), key, proof)
        proof_of_work.record(db, key)
    terms.accept(db, key, version)
    db.commit()
    session[TERMS_ACCEPTED] = version
    if proof:
        session[PROOF_PAID] = session["visitor"]


def proof_secrets() -> proof_of_work.Secrets:
    return proof_of_work.Secrets.from_secret(current_app.config["SECRET_KEY"])


def proof_paid() -> bool:
    """Whether this visitor solved the proof-of-work (their votes count by the other rules)."""
    visitor = session.get("visitor")
    if not visitor:
        return False
    if session.get(PROOF_PAID) == visitor:
        return True
    if not proof_of_work.has_proof(db_session(), judge_key(current_app.config["SECRET_KEY"], visitor)):
        return False
    session[PROOF_PAID] = visitor
    return True


def forget_visitor() -> None:
    """After a deletion (or on meeting a deleted key): a fresh visitor id, so nothing new links back to the deleted
    key, and the terms asked anew. Minted like any other identity; if the network is over its cap, the browser
    has none until it may get one."""
    session.pop(TERMS_ACCEPTED, None)
    session.pop(PROOF_PAID, None)
    session.pop("visitor", None)
    with contextlib.suppress(NewVisitorsCapped):
        _new_identity()
