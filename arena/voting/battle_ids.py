"""Opaque, signed battle ids: a random public id plus an HMAC, so forged or guessed ids never reach the DB."""

from __future__ import annotations

import secrets

from itsdangerous import BadSignature, Signer

_SALT = "arena.battle-id"


def new_public_id() -> str:
    return secrets.token_urlsafe(16)


class BattleIdSigner:
    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, salt=_SALT)

    def sign(self, public_id: str) -> str:
        return self._signer.sign(public_id).decode("ascii")

    def unsign(self, token: str) -> str | None:
        """The public id inside a token, or None when the token was not made by this server."""
        try:
            return self._signer.unsign(token).decode("ascii")
        except (BadSignature, UnicodeError):
            return None
