"""Many slow live streams at once against gunicorn gthread, while other visitors read pages and vote: what the
live gate (arena/web/live_gate.py) must keep fast. Used by tests/llm/test_live_streams_load.py (which asserts)
and `python -m tests.benchmarks.live_streams_bench` (which prints the figures)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

import requests

from arena.config import PROJECT_ROOT
from arena.db import make_engine, make_session_factory, transaction
from arena.models import Model

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
VOTE_ACTION = re.compile(r'action="(/battles/[^"/]+/vote)"')
STREAM_URL = re.compile(r'sse-connect="(/live/[^"]+/stream)"')
KEY_ENV = "ARENA_TEST_LIVE_KEY"
# How long the harness waits for every battle to be asked for, and to stream or be refused: on a loaded machine
# hundreds of battles take a while to open (the site is slow to open them, not broken).
WAIT_SECONDS = 300
MESSAGE = "My sister stopped talking to me after the wedding and I do not even know what I did wrong."


@contextmanager
def slow_llm_server(words: int, interval: float = 0.05) -> Iterator[str]:
    """tests/llm_server.py in a process of its own, its `slow` model writing `words` words, one every `interval`
    seconds (20 a second by default)."""
    command = [sys.executable, "-m", "tests.llm_server", "--slow-words", str(words), "--slow-interval", str(interval)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        yield process.stdout.readline().strip()
    finally:
        process.stdin.close()
        process.wait(timeout=30)


def add_slow_models(database_url: str, llm_url: str) -> None:
    """Two contestants that both answer as the server's `slow` model."""
    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as s:
        for side in ("one", "two"):
            s.add(Model(slug=f"slow-{side}", display_name=f"Slow {side}", provider="testlab",
                        litellm_model="openai/slow", meta={"api_base": llm_url, "api_key_env": KEY_ENV}))  # fmt: skip
    engine.dispose()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] if ordered else float("nan")


@dataclass
class LiveLoad:
    """The outcome of one run: how each live battle was answered and how long pages and votes took."""

    started: Counter[int] = field(default_factory=Counter)  # POST /live statuses
    streamed: Counter[int] = field(default_factory=Counter)  # stream request statuses
    endings: Counter[str] = field(default_factory=Counter)  # last event before 'close'
    busy_without_retry_after: int = 0
    most_open: int = 0
    opening_seconds: float = 0.0  # from the first request until every battle streamed or was refused
    open_when_measured: int = 0  # streams open when the voters began
    page_seconds: list[float] = field(default_factory=list)
    vote_seconds: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"live: start {dict(self.started)}, stream {dict(self.streamed)}, endings {dict(self.endings)}, "
                f"at most {self.most_open} open at once; pages {len(self.page_seconds)} p95 "
                f"{p95(self.page_seconds) * 1000:.0f} ms (max {max(self.page_seconds, default=0) * 1000:.0f}); "
                f"votes {len(self.vote_seconds)} p95 {p95(self.vote_seconds) * 1000:.0f} ms "
                f"(max {max(self.vote_seconds, default=0) * 1000:.0f}); errors {len(self.errors)}")  # fmt: skip


def run_live_load(base: str, *, streams: int = 50, visitors: int = 4, min_seconds: float = 0.0) -> LiveLoad:
    """Open `streams` live battles at once, then have `visitors` read pages and vote until every admitted stream
    has ended (and for at least `min_seconds`; with no streams, that is a baseline)."""
    result = LiveLoad()
    lock = threading.Lock()
    open_now = [0]
    all_answered = threading.Barrier(streams + 1)
    gate = threading.Barrier(max(1, streams))

    def live_visitor() -> None:
        answered = False
        try:
            with requests.Session() as http:
                csrf = CSRF_INPUT.search(http.get(f"{base}/live", timeout=30).text).group(1)
                gate.wait(timeout=WAIT_SECONDS)  # every battle is asked for at the same moment
                page = http.post(f"{base}/live", data={"message": MESSAGE, "csrf_token": csrf}, timeout=WAIT_SECONDS)
                with lock:
                    result.started[page.status_code] += 1
                    if page.status_code == 503 and "Retry-After" not in page.headers:
                        result.busy_without_retry_after += 1
                if page.status_code != 200:
                    return
                stream = http.get(base + STREAM_URL.search(page.text).group(1), stream=True, timeout=WAIT_SECONDS)
                with lock:
                    result.streamed[stream.status_code] += 1
                    if stream.status_code == 503 and "Retry-After" not in stream.headers:
                        result.busy_without_retry_after += 1
                if stream.status_code != 200:
                    return
                with lock:
                    open_now[0] += 1
                    result.most_open = max(result.most_open, open_now[0])
                answered = True
                all_answered.wait(timeout=WAIT_SECONDS)
                # Read as it comes, parsed at the end: the client's own CPU must not slow what it measures.
                body = b"".join(stream.iter_content(chunk_size=None))
                events = [line for line in body.split(b"\n") if line.startswith(b"event: ")]
                with lock:
                    open_now[0] -= 1
                    result.endings[events[-2].decode().removeprefix("event: ") if len(events) > 1 else "none"] += 1
        except Exception as error:  # noqa: BLE001 - every failure is a finding of the run
            with lock:
                result.errors.append(f"live: {type(error).__name__}: {error}")
        finally:
            if not answered:
                with suppress(threading.BrokenBarrierError):
                    all_answered.wait(timeout=WAIT_SECONDS)

    stop = threading.Event()

    def timed(kind: list[float], method, url: str, **kwargs):
        started = time.monotonic()
        response = method(url, timeout=30, **kwargs)
        elapsed = time.monotonic() - started
        with lock:
            kind.append(elapsed)
            if response.status_code != 200:
                result.errors.append(f"{response.request.method} {response.request.path_url}: {response.status_code}")
        return response

    def voter() -> None:
        try:
            with requests.Session() as http:
                while not stop.is_set():
                    page = timed(result.page_seconds, http.get, f"{base}/")
                    action, csrf = VOTE_ACTION.search(page.text).group(1), CSRF_INPUT.search(page.text).group(1)
                    if 'action="/terms/accept"' in page.text:
                        http.post(f"{base}/terms/accept", data={"csrf_token": csrf}, timeout=30)
                        continue
                    timed(result.vote_seconds, http.post, base + action, data={"outcome": "tie", "csrf_token": csrf})
                    timed(result.page_seconds, http.get, f"{base}/leaderboard")
        except Exception as error:  # noqa: BLE001
            with lock:
                result.errors.append(f"voter: {type(error).__name__}: {error}")

    live_threads = [threading.Thread(target=live_visitor, daemon=True) for _ in range(streams)]
    opening = time.monotonic()
    for thread in live_threads:
        thread.start()
    all_answered.wait(timeout=WAIT_SECONDS * 2)  # every battle is streaming or was refused: now measure
    result.opening_seconds = time.monotonic() - opening
    result.open_when_measured = open_now[0]
    voters = [threading.Thread(target=voter, daemon=True) for _ in range(visitors)]
    for thread in voters:
        thread.start()
    measuring = time.monotonic()
    for thread in live_threads:
        thread.join(timeout=WAIT_SECONDS * 2)
    time.sleep(max(0.0, measuring + min_seconds - time.monotonic()))
    stop.set()
    for thread in voters:
        thread.join(timeout=60)
    return result


def failure_kinds(database_url: str) -> Counter[str]:
    """Why live battles failed, as stored on them (meta['error'])."""
    from sqlalchemy import select

    from arena.models import Battle

    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        metas = s.scalars(select(Battle.meta).where(Battle.source == "live")).all()
    engine.dispose()
    return Counter(m["error"] for m in metas if m.get("error"))


def main() -> None:
    """`python -m tests.live_load [--postgres URL] [--threads N] [--streams-per-worker N] [--words N]`"""
    import argparse
    import tempfile
    from pathlib import Path

    from tests.gunicorn_server import GunicornServer, prepare_database

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--postgres")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--streams-per-worker", type=int, default=0)
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--words", type=int, default=160)
    args = parser.parse_args()
    os.environ.setdefault(KEY_ENV, "test-key")
    for name, value in {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'arena.sqlite3'}"
        prepare_database(url)
        with slow_llm_server(args.words) as llm_url:
            add_slow_models(url, llm_url)
            env = {"ARENA_LIVE_STREAMS_PER_WORKER": str(args.streams_per_worker), "ARENA_LIVE_MAX_CONCURRENT": "100"}
            with GunicornServer(url, workers=2, threads=args.threads, extra_env=env, production_config=True,
                                log_path=Path(tmp) / "gunicorn.log") as server:  # fmt: skip
                result = run_live_load(server.url, streams=args.streams)
        failures = failure_kinds(url)
    print(f"gunicorn -w 2 --threads {args.threads}, {args.streams} live battles at once, {args.words} words each "
          f"at 20/s: {result.summary()}")  # fmt: skip
    if failures:
        print(f"  failed live battles by kind: {dict(failures)}")
    for error in result.errors[:5]:
        print("  ", error)


if __name__ == "__main__":
    main()
