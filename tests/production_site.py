"""`arena serve --production` in a child process on a free loopback port, as an operator starts it, with what
stream-service tests and benchmarks look at from outside: which processes are page workers and which stream
workers, and whether litellm is loaded in one (read from /proc, so no hook in the app). Used by
tests/llm/test_stream_service.py and tests/benchmarks/stream_service_bench.py."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from arena.config import PROJECT_ROOT
from tests.gunicorn_server import child_pids, free_port, load_env
from tests.live_load import CSRF_INPUT, MESSAGE, STREAM_URL

CONFIGS = {"web": "arena.gunicorn_conf", "streams": "arena.stream_gunicorn_conf"}


def litellm_loaded(pid: int) -> bool:
    """Whether litellm is imported in process `pid`: its native module (litellm/rust_bridge) is mapped from the
    moment `import litellm` runs, and is never mapped otherwise."""
    return "/litellm/" in Path(f"/proc/{pid}/maps").read_text()


class ProductionSite:
    def __init__(self, database_url: str, *, args: tuple[str, ...] = (), extra_env: dict[str, str] | None = None,
                 log_path: Path | None = None) -> None:  # fmt: skip
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.extra_env = extra_env or {}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def start(self, timeout: float = 90) -> ProductionSite:
        command = [sys.executable, "-m", "arena.cli", "serve", "--production", "--port", str(self.port),
                   "--database-url", self.database_url, *self.args]  # fmt: skip
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=load_env(self.database_url, self.extra_env),
                                        stdout=log, stderr=log, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"arena serve --production exited with {self.process.returncode}")
            if self._responds() and all(self.workers(name) for name in CONFIGS):
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"arena serve --production did not come up within {timeout} s")

    def _responds(self) -> bool:
        try:
            return requests.get(f"{self.url}/static/css/arena.css", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def master(self, service: str) -> int | None:
        """The gunicorn master of 'web' (the page workers) or 'streams' (the stream service)."""
        for pid in child_pids(self.process.pid):
            try:
                if f"python:{CONFIGS[service]}" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0"):
                    return pid
            except OSError:
                continue
        return None

    def workers(self, service: str) -> list[int]:
        """The worker pids of 'web' or 'streams'."""
        master = self.master(service)
        return [] if master is None else child_pids(master)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> ProductionSite:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def first_stream_stall(base: str, *, before: float = 3.0, after: float = 6.0) -> tuple[float, float, bool]:
    """Read the home page every 50 ms for `before` seconds, then open the site's first live stream and go on for
    `after` seconds: (the pages' median before, their slowest while the stream started and ran, whether the
    stream ended 'done')."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def probe() -> None:
        # A new connection each time, as many visitors make: gunicorn hands each to whichever worker takes it, so
        # the probe reaches every worker, including one busy starting a stream.
        while not stop.is_set():
            started = time.monotonic()
            requests.get(f"{base}/", headers={"Connection": "close"}, timeout=30).raise_for_status()
            samples.append((started, time.monotonic() - started))
            time.sleep(0.05)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    time.sleep(before)
    opened = time.monotonic()
    with requests.Session() as http:
        csrf = CSRF_INPUT.search(http.get(f"{base}/live", timeout=30).text).group(1)
        page = http.post(f"{base}/live", data={"message": MESSAGE, "csrf_token": csrf}, timeout=30)
        stream = http.get(base + STREAM_URL.search(page.text).group(1), timeout=120).text
    time.sleep(max(0.0, opened + after - time.monotonic()))
    stop.set()
    prober.join(timeout=30)
    baseline = statistics.median(seconds for at, seconds in samples if at < opened)
    slowest = max(seconds for at, seconds in samples if at >= opened)
    return baseline, slowest, "event: done" in stream
