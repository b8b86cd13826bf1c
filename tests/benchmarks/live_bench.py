"""Live-battle benchmark: start-up cost of the web app (litellm stays out of it) and the latency of ordinary
pages and votes while slow live streams are open.

    python -m tests.benchmarks.live_bench [--streams 4] [--requests 40]

1. `from arena import create_app; create_app()` in fresh interpreters (median of 5 wall times), with a check
   that litellm is not in sys.modules afterwards.
2. The app on a threaded server (as under gunicorn -k gthread) with the demo bank and two live models on the
   local OpenAI-compatible test server: GET / + POST vote latency (p50 / p95), first with no stream open, then
   with --streams live streams of the `slow` model running at the same time.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

from arena import create_app
from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank, read_demo_bank
from arena.migrate import upgrade
from arena.models import Model
from tests.conftest import CSRF_INPUT, make_settings, parse_battle_page
from tests.llm_server import LLMServer

IMPORT_SCRIPT = """
import sys, time
started = time.perf_counter()
from arena import create_app
from tests.conftest import make_settings
create_app(make_settings({url!r}))
print(time.perf_counter() - started, "litellm" in sys.modules)
"""


def startup_seconds(url: str, runs: int = 5) -> tuple[float, bool]:
    times, imported = [], False
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", IMPORT_SCRIPT.format(url=url)], capture_output=True, text=True,
                             check=True).stdout.split()  # fmt: skip
        times.append(float(out[0]))
        imported = imported or out[1] == "True"
    return statistics.median(times), imported


def vote_latencies(base: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        visitor = requests.Session()
        started = time.perf_counter()
        action, csrf = parse_battle_page(visitor.get(base + "/", timeout=30).text)
        visitor.post(base + action, data={"outcome": "tie", "csrf_token": csrf}, timeout=30).raise_for_status()
        times.append(time.perf_counter() - started)
    return times


def open_stream(base: str, done: list) -> None:
    visitor = requests.Session()
    csrf = CSRF_INPUT.search(visitor.get(base + "/live").text).group(1)
    page = visitor.post(base + "/live", data={"message": "I feel stuck at work.", "csrf_token": csrf}).text
    url = page.split('sse-connect="', 1)[1].split('"', 1)[0]
    body = visitor.get(base + url, timeout=120).text
    done.append("event: done" in body)


def summary(label: str, times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
    return f"{label:<34} p50 {statistics.median(times) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   (n={len(times)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ["ARENA_BENCH_LIVE_KEY"] = "test-key"
    with tempfile.TemporaryDirectory(prefix="arena-live-bench-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'arena.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        llm = LLMServer().start()
        llm.replies["slow"] = " ".join(f"word{i}" for i in range(100))  # about five seconds per stream
        with transaction(make_session_factory(engine)) as session:
            load_demo_bank(session, read_demo_bank())
            for name in ("slow", "steady"):
                session.add(Model(slug=f"bench-{name}", display_name=name, litellm_model="openai/slow",
                                  meta={"api_base": llm.url, "api_key_env": "ARENA_BENCH_LIVE_KEY"}))  # fmt: skip
        engine.dispose()

        startup, imported = startup_seconds(url)
        label = "import arena + create_app()"
        print(f"{label:<34} {startup * 1000:7.1f} ms (median of 5; litellm imported: {imported})")

        app = create_app(make_settings(url))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}"
        vote_latencies(base, 3)  # warm up
        print(summary("GET / + vote, no stream open", vote_latencies(base, args.requests)))
        done: list[bool] = []
        streams = [threading.Thread(target=open_stream, args=(base, done)) for _ in range(args.streams)]
        for stream in streams:
            stream.start()
        time.sleep(1.0)
        print(summary(f"GET / + vote, {args.streams} slow streams open", vote_latencies(base, args.requests)))
        for stream in streams:
            stream.join()
        print(f"{'live streams completed':<34} {sum(done)} of {args.streams}")
        server.shutdown()
        llm.stop()
        app.extensions["arena.engine"].dispose()


if __name__ == "__main__":
    main()
