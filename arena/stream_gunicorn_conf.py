"""gunicorn settings for the stream service of `arena serve --production` (arena/production.py): the same app
as the page workers, serving only what arena/dispatcher.py sends it (everything under /live), with litellm
imported by the master before it listens, so every worker starts with it. Its threads are mostly streams: one open live
battle holds one of them for as long as the models write.

    gunicorn -c python:arena.stream_gunicorn_conf --proxy-protocol v1 -b unix:/run/arena/streams.sock \\
        'arena:create_app()'"""

from __future__ import annotations

import os

from arena.gunicorn_conf import access_log_format, accesslog, errorlog, logger_class, loglevel  # noqa: F401

bind = "127.0.0.1:8001"
worker_class = "gthread"
workers = 2
# Each open stream holds a thread (and starts two short-lived ones for its two model calls); threads waiting on
# a model cost memory, not CPU.
threads = 128


# litellm spends about a millisecond of CPU on each streamed chunk, so enough open streams can fill every core.
# Run below the page workers' priority: when the cores are short, pages and votes go first and stream text
# arrives a little later, instead of the other way round.
NICENESS = int(os.environ.get("ARENA_STREAM_NICENESS", "10"))


def on_starting(server) -> None:
    from arena.llm.client import import_litellm

    os.nice(NICENESS)

    # Seconds of import paid once, in the master before it listens or forks: every worker starts with litellm
    # loaded (and shares its memory), so no visitor's stream pays for it, and the socket accepting means ready.
    # litellm starts no thread on import, so forking after it is safe.
    import_litellm()


def post_worker_init(worker) -> None:
    gate = getattr(worker.wsgi, "extensions", {}).get("arena.live_gate")
    if gate is not None:
        gate.fit_stream_service(worker.cfg.threads)
