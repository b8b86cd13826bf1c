"""`arena serve --production`: the one-host production set-up in one command. Two gunicorn services on Unix
sockets in a private runtime folder, and arena/dispatcher.py in front of them on the public port:

    dispatcher (host:port) --/live/...--> stream service  (arena.stream_gunicorn_conf: litellm loaded at start)
                           --the rest---> page workers    (arena.gunicorn_conf: never import litellm)

Both services run the same app with the same settings (database, secret, Redis), so a visitor's session, the
rate limits and the live gate's counters are one whichever service answers. The command runs until it is
interrupted (SIGINT or SIGTERM), then stops both services."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from arena.dispatcher import Dispatcher

APP = "arena:create_app()"
START_TIMEOUT_SECONDS = 120


class StartError(RuntimeError):
    """A service did not come up (its gunicorn exited or never listened), or went away while serving."""


@dataclass
class Service:
    name: str
    config: str
    workers: int
    threads: int
    socket: str = ""
    process: subprocess.Popen | None = field(default=None, repr=False)

    def command(self, app: str) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "-c", f"python:{self.config}", "-w", str(self.workers),
                "--threads", str(self.threads), "--proxy-protocol", "v1", "--no-control-socket", "-b",
                f"unix:{self.socket}", app]  # fmt: skip

    def listening(self) -> bool:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(self.socket)
            except OSError:
                return False
        return True


@dataclass
class ProductionSite:
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 8
    stream_workers: int = 2
    stream_threads: int = 128
    env: dict[str, str] | None = None
    services: dict[str, Service] = field(default_factory=dict)
    runtime: Path | None = None

    def start(self) -> ProductionSite:
        self.runtime = Path(tempfile.mkdtemp(prefix="arena-production-"))
        self.services = {
            "web": Service("web", "arena.gunicorn_conf", self.workers, self.threads),
            "streams": Service("streams", "arena.stream_gunicorn_conf", self.stream_workers, self.stream_threads),
        }
        env = {**os.environ, **(self.env or {})}
        try:
            for service in self.services.values():
                service.socket = str(self.runtime / f"{service.name}.sock")
                # Its own process group: Ctrl+C reaches the command, which stops each service in turn.
                service.process = subprocess.Popen(service.command(APP), env=env, start_new_session=True)
            self._wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        waiting = dict(self.services)
        while waiting:
            for name, service in list(waiting.items()):
                if service.process.poll() is not None:
                    raise StartError(f"the {name} service (gunicorn) exited with {service.process.returncode}")
                if service.listening():
                    del waiting[name]
            if time.monotonic() > deadline:
                raise StartError(f"the {', '.join(waiting)} service did not listen within {START_TIMEOUT_SECONDS} s")
            time.sleep(0.1)

    def serve(self) -> None:
        """Run the dispatcher in this process until SIGINT or SIGTERM; the services stop with it."""
        dispatcher = Dispatcher({name: service.socket for name, service in self.services.items()})

        async def main() -> None:
            loop = asyncio.get_running_loop()
            stopping = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stopping.set)
            serving = asyncio.ensure_future(dispatcher.serve(self.host, self.port))
            stopped = asyncio.ensure_future(stopping.wait())
            watching = asyncio.ensure_future(self._watch())
            await asyncio.wait({serving, stopped, watching}, return_when=asyncio.FIRST_COMPLETED)
            for task in (serving, stopped, watching):
                task.cancel()
            if serving.done() and not serving.cancelled() and serving.exception() is not None:
                raise serving.exception()
            if watching.done() and not watching.cancelled():
                raise StartError(watching.result())

        try:
            asyncio.run(main())
        finally:
            self.stop()

    async def _watch(self) -> str:
        """Returns when a service has exited: half a site must not go on looking whole (a supervisor such as
        systemd restarts the command)."""
        while True:
            for name, service in self.services.items():
                if service.process.poll() is not None:
                    return f"the {name} service (gunicorn) exited with {service.process.returncode}"
            await asyncio.sleep(1)

    def stop(self) -> None:
        for service in self.services.values():
            process = service.process
            if process is None or process.poll() is not None:
                continue
            # gunicorn's graceful stop: workers finish what they serve (streams up to graceful_timeout).
            os.killpg(process.pid, signal.SIGTERM)
        for service in self.services.values():
            process = service.process
            if process is None:
                continue
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        if self.runtime is not None:
            shutil.rmtree(self.runtime, ignore_errors=True)
