"""gunicorn settings for production: `gunicorn -c python:arena.gunicorn_conf 'arena:create_app()'`.

The access log names neither the client's address (%(h)s) nor the query string (%(q)s, or %(r)s, which holds
it), nor the referrer or user agent; the error log masks addresses that gunicorn itself writes (an invalid
request is logged with its client's IP)."""

from __future__ import annotations

from gunicorn.glogging import Logger

from arena.log_privacy import AddressMaskingFilter

# Defaults; gunicorn's own flags (-b, -w, --threads) override them.
bind = "127.0.0.1:8000"
# Threads, not sync workers: a long-lived stream must never block a vote (DESIGN §7).
worker_class = "gthread"
workers = 2
threads = 8
accesslog = "-"
errorlog = "-"
loglevel = "info"
# Time, method, path without its query, protocol, status, bytes, milliseconds.
access_log_format = '%(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


class PrivateLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(AddressMaskingFilter())


logger_class = PrivateLogger


def post_worker_init(worker) -> None:
    # An open live stream holds a thread: bound them by this worker's threads, so pages and votes keep some.
    gate = getattr(worker.wsgi, "extensions", {}).get("arena.live_gate")
    if gate is not None:
        gate.fit_threads(worker.cfg.threads)
