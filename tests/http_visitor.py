"""One browser for the load benchmarks and the several-hosts test: a keep-alive connection (plain or TLS) and the
session cookie the site last set, on `http.client`. A load generator shares the machine's cores with the site it
measures; `requests` spends about four times the CPU per request, which the site would then be charged for."""

from __future__ import annotations

import http.client
import re
import ssl
from urllib.parse import urlencode, urlsplit

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
VOTE_ACTION = re.compile(r'action="(/battles/[^"/]+/vote)"')
BATTLE_INPUT = re.compile(r'name="battle" value="([^"]+)"')

# A connection the far side closed (an idle keep-alive timed out, a host killed behind the proxy).
CONNECTION_LOST = (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected)


class Visitor:
    """`base_url` is http://host:port or https://host:port; `cafile` names the certificate an https site is
    checked against. Responses: (status, text, headers)."""

    def __init__(self, base_url: str, *, cafile: str | None = None, timeout: float = 30) -> None:
        parts = urlsplit(base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        if parts.scheme == "https":
            context = ssl.create_default_context(cafile=cafile)
            self.connection = http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=timeout,
                                                          context=context)  # fmt: skip
        else:
            self.connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        self.cookie: str | None = None

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None,
                retry_lost: bool = True) -> tuple[int, str, http.client.HTTPMessage]:  # fmt: skip
        # As a browser does: flask-wtf checks the Referer of a form posted over HTTPS.
        headers = {"Referer": f"{self.origin}/", **(headers or {})}
        if self.cookie:
            headers["Cookie"] = self.cookie
        body = None
        if form is not None:
            body = urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except CONNECTION_LOST:
            self.connection.close()
            if not retry_lost:
                raise
            # The server closed the idle keep-alive connection: as a browser, again on a new one.
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        for value in response.msg.get_all("Set-Cookie") or []:
            if value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return response.status, text, response.msg

    def close(self) -> None:
        self.connection.close()
