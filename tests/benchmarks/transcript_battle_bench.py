"""What a transcript battle costs on the page-view path, on SQLite with the 56 shared EQ-Bench 4 transcripts imported
whole (28 models x 2 scenarios, so every battle is a transcript battle): the draw (pair, both transcripts' turns,
the identity-leak check over every message), the whole `GET /` (draw, store, render eight exchanges a side) and,
for comparison, `GET /` of a single-turn battle on the demo bank. Prints milliseconds (median and 95th percentile;
the first `--warm` requests are left out, as the leak check and the markdown are remembered per text).

    python -m tests.benchmarks.transcript_battle_bench [--requests 300] [--warm 300]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path


def spread(times: list[float]) -> str:
    ordered = sorted(times)
    return f"median {statistics.median(ordered):.2f} ms, p95 {ordered[int(len(ordered) * 0.95)]:.2f} ms"


def timed(work, n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return times


def arena(folder: Path, name: str, load) -> str:
    from arena.db import make_engine, make_session_factory
    from arena.migrate import upgrade

    url = f"sqlite:///{folder / name}"
    engine = make_engine(url)
    upgrade(engine)
    load(make_session_factory(engine))
    engine.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warm", type=int, default=300)
    args = parser.parse_args()

    from arena import create_app
    from arena.db import make_engine, make_session_factory, transaction
    from arena.ingest.demo import load_demo_bank, read_demo_bank
    from arena.voting.pairing import PairingPool
    from tests.conftest import make_settings
    from tests.transcripts_data import load_transcripts

    def demo(factory) -> None:
        with transaction(factory) as session:
            load_demo_bank(session, read_demo_bank())

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        transcripts = arena(folder, "transcripts.sqlite3", load_transcripts)
        single = arena(folder, "demo.sqlite3", demo)

        engine = make_engine(transcripts)
        pool, rng = PairingPool(), random.Random(1)
        with make_session_factory(engine)() as session:
            timed(lambda: pool.draw(session, rng), args.warm)
            print(f"transcript draw: {spread(timed(lambda: pool.draw(session, rng), args.requests))}")
        engine.dispose()

        for label, url in (("GET / transcript battle", transcripts), ("GET / single-turn battle", single)):
            app = create_app(make_settings(url))
            page = app.test_client().get
            timed(lambda page=page: page("/"), args.warm)
            print(f"{label}: {spread(timed(lambda page=page: page('/'), args.requests))}")
            app.extensions["arena.engine"].dispose()


if __name__ == "__main__":
    main()
