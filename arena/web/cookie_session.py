"""Flask's signed-cookie session, with its serializer built once rather than on every request.

Flask's SecureCookieSessionInterface makes a new URLSafeTimedSerializer each time it opens or saves a session: a
visible share of a battle+vote cycle's CPU for an object that depends only on the secret keys. The cookie, its
signature and its checks stay exactly Flask's."""

from __future__ import annotations

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class CookieSessionInterface(SecureCookieSessionInterface):
    def __init__(self) -> None:
        self._serializer: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        # Keyed by the keys themselves: a changed secret (or fallbacks) builds a new one, as Flask would.
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        cached = self._serializer
        if cached is not None and cached[0] == keys:
            return cached[1]
        serializer = super().get_signing_serializer(app)
        self._serializer = (keys, serializer)
        return serializer
