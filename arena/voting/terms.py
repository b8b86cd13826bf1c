"""Terms acceptance: a visitor (by keyed hash) accepts a version of the terms once, before their first vote."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.models import TermsAcceptance, utcnow
from arena.voting.voting import VoteRejected


class TermsNotAccepted(VoteRejected):
    status = 403

    def __init__(self) -> None:
        super().__init__("Accept the terms first: one click, once, before your first vote.")


def has_accepted(session: Session, visitor_key: str, version: str) -> bool:
    """One lookup on the (visitor_key, version) unique index."""
    found = session.scalar(
        select(TermsAcceptance.id).where(TermsAcceptance.visitor_key == visitor_key, TermsAcceptance.version == version)
    )
    return found is not None


def has_accepted_any(session: Session, visitor_key: str) -> bool:
    """Whether this visitor accepted any version: a visitor known from before, not a new identity."""
    found = session.scalar(select(TermsAcceptance.id).where(TermsAcceptance.visitor_key == visitor_key).limit(1))
    return found is not None


def accept(session: Session, visitor_key: str, version: str, *, now: datetime | None = None) -> TermsAcceptance:
    """Record the acceptance in the caller's transaction. Idempotent: accepting again (even from two tabs at
    once) keeps the first record and its time."""
    existing = session.scalar(
        select(TermsAcceptance).where(TermsAcceptance.visitor_key == visitor_key, TermsAcceptance.version == version)
    )
    if existing is not None:
        return existing
    acceptance = TermsAcceptance(visitor_key=visitor_key, version=version, accepted_at=now or utcnow())
    try:
        # A savepoint, so losing the race to a concurrent accept leaves the caller's transaction usable.
        with session.begin_nested():
            session.add(acceptance)
    except IntegrityError:
        return session.scalars(
            select(TermsAcceptance).where(
                TermsAcceptance.visitor_key == visitor_key, TermsAcceptance.version == version
            )
        ).one()
    return acceptance
