"""The development server (`arena serve`, `arena demo`): werkzeug's, with a request log that names neither
the client's address nor the query string."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler


class PrivateRequestHandler(WSGIRequestHandler):
    def address_string(self) -> str:
        # Read by the log line, and by make_environ, which gets the real address back below.
        return "-"

    def make_environ(self):
        environ = super().make_environ()
        # The app still sees the client's address (rate limits truncate and hash it); only the log does not.
        environ["REMOTE_ADDR"] = super().address_string()
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", None)
        if path is None:
            # A request line too broken to parse: log its status only, never its raw text.
            self.log("info", '"-" %s %s', code, size)
            return
        self.log("info", '"%s %s %s" %s %s', self.command, path.split("?", 1)[0], self.request_version, code, size)
