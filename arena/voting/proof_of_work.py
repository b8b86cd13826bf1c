"""The proof-of-work a browser pays once, with the terms, before its votes count: ALTCHA challenges (the `altcha`
package, protocol v2), each signed by the server, bound to one visitor key and short-lived.

Why a cost and not a puzzle: a new identity is free, and every per-visitor defence resets with it. A challenge
makes each identity cost CPU time (about a second on a phone at the default difficulty, far more for a script
that wants thousands). Each attempt is a PBKDF2-SHA-256 derivation that browsers run natively in Web Crypto, so
a script on a native hasher gains little over an honest browser.

The challenge is solved in the browser by counting up from 0 until the derived key starts with the prefix the
server signed; the server chose the answer uniformly at random over [0, difficulty), so an honest browser pays
difficulty / 2 derivations on average. The whole range, not [difficulty / 2, difficulty): with a floor at half,
a script could start counting at the floor and pay a quarter of the difficulty on average instead of three
quarters, while browsers paid the full price. Verifying costs one HMAC: the challenge carries the derived key's
keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import altcha
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from arena.models import VisitorProof, utcnow
from arena.voting.moderation import reinclude_unverified

ALGORITHM = "PBKDF2/SHA-256"
# Iterations per attempt: enough that Web Crypto's per-call overhead is small beside the hashing itself.
ITERATIONS = 1000
# Long enough for a slow phone that starts solving while its visitor reads the terms.
CHALLENGE_TTL_SECONDS = 20 * 60


class ProofRejected(ValueError):
    """A solution that does not prove the work for this visitor; the message says why, for the visitor."""


@dataclass(frozen=True)
class Secrets:
    """Two keys derived from the app's secret: one signs challenges, one the expected derived key."""

    challenge: bytes
    derived_key: bytes

    @classmethod
    def from_secret(cls, secret_key: str) -> Secrets:
        def derive(label: bytes) -> bytes:
            return hmac.new(secret_key.encode(), label, hashlib.sha256).digest()

        return cls(derive(b"arena proof-of-work challenge"), derive(b"arena proof-of-work key"))


def _binding(visitor_key: str) -> str:
    # The key itself never goes to the browser (it is what exports are keyed by): a short hash of it does.
    return hashlib.sha256(b"arena pow " + visitor_key.encode()).hexdigest()[:32]


def new_challenge(keys: Secrets, visitor_key: str, difficulty: int, *, now: float | None = None) -> dict:
    """A signed challenge for this visitor, as the widget's JSON. The answer is a counter drawn uniformly from
    [0, difficulty): no part of the range is known to be empty, so a solver that skips any part of it only loses."""
    counter = secrets.randbelow(max(1, difficulty))
    challenge = altcha.create_challenge(
        ALGORITHM,
        ITERATIONS,
        counter=counter,
        expires_at=int((now or time.time()) + CHALLENGE_TTL_SECONDS),
        data={"visitor": _binding(visitor_key)},
        hmac_secret=keys.challenge,
        hmac_key_secret=keys.derived_key,
    )
    return challenge.to_dict()


def check_solution(keys: Secrets, visitor_key: str, payload: str) -> None:
    """Raise ProofRejected unless `payload` (the widget's base64 field) solves a challenge this server issued to
    this visitor, still unexpired."""
    if len(payload) > 4096:
        raise ProofRejected("the browser check's answer is malformed; reload the page to try again")
    result = altcha.verify_solution(payload, keys.challenge, hmac_key_secret=keys.derived_key)
    if result.expired:
        raise ProofRejected("the browser check expired; reload the page to take a new one")
    if not result.verified:
        raise ProofRejected("the browser check's answer is not valid; reload the page to try again")
    # Signed, so the data is ours; it must name this visitor, or one solution would pay for many identities.
    data = altcha.Payload.from_base64(payload).challenge.parameters.data or {}
    if data.get("visitor") != _binding(visitor_key):
        raise ProofRejected("this browser check was solved for another visitor; reload the page to take your own")


def record(session: Session, visitor_key: str) -> int:
    """Remember in the caller's transaction that this visitor paid (idempotent, also across racing tabs), and
    count the votes they cast before paying (moderation.reinclude_unverified): the same identity has now paid for
    them too. Returns how many of those were counted again."""
    if not has_proof(session, visitor_key):
        try:
            with session.begin_nested():
                session.add(VisitorProof(visitor_key=visitor_key, solved_at=utcnow()))
        except IntegrityError:
            pass  # another request recorded the same proof first
    # Also when the proof was already there: a vote cast in another tab while this one paid comes in unverified.
    return reinclude_unverified(session, visitor_key)


def has_proof(session: Session, visitor_key: str) -> bool:
    return session.scalar(select(VisitorProof.visitor_key).where(VisitorProof.visitor_key == visitor_key)) is not None
