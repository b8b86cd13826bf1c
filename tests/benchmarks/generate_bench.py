"""Generation benchmark: what `arena generate` itself costs per call, against the local test server (whose replies
are instant), so the figure is our overhead plus litellm's, not a provider's latency.

    python -m tests.benchmarks.generate_bench [--prompts 200] [--models 4] [--concurrency 1,8,32] [--postgres URL]

For each concurrency: a fresh database, N prompts x M models, one timed `generate` run (streamed calls, each
reply committed on its own); prints calls per second and milliseconds per call. litellm's import is paid before
the clock starts.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select, text

from arena.db import make_engine, make_session_factory
from arena.llm import client as llm
from arena.llm.generation import GenerationOptions, generate
from arena.llm.retry import RetryPolicy
from arena.migrate import upgrade
from arena.models import Base, Reply
from tests.llm.llm_models import add_model, add_prompts, served
from tests.llm_server import LLMServer


def fresh(url: str | None, folder: Path, label: str) -> str:
    if url is None:
        url = f"sqlite:///{folder / f'{label}.sqlite3'}"
        upgrade(make_engine(url))
        return url
    engine = make_engine(url)
    upgrade(engine)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    return url


def bench(url: str, server: LLMServer, prompts: int, models: int, concurrency: int) -> dict:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    add_prompts(factory, [f"Message {i}: I feel overwhelmed by everything this week." for i in range(prompts)])
    for m in range(models):
        add_model(factory, **served(server, f"bench-{m}", input_cost_per_token=1e-6, output_cost_per_token=1e-6))
    started = time.perf_counter()
    summary = generate(factory, GenerationOptions(concurrency=concurrency, retry=RetryPolicy(attempts=1, timeout=30)))
    elapsed = time.perf_counter() - started
    with factory() as session:
        stored = session.scalar(select(func.count()).select_from(Reply))
    engine.dispose()
    calls = prompts * models
    assert stored == calls == summary.generated, (stored, calls, summary.as_dict())
    return {"calls": calls, "seconds": elapsed, "calls_per_s": calls / elapsed, "ms_per_call": 1000 * elapsed / calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--models", type=int, default=4)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--postgres", help="a PostgreSQL URL to measure there instead of SQLite (it is emptied)")
    args = parser.parse_args()
    llm.import_litellm()
    server = LLMServer().start()
    backend = "postgresql" if args.postgres else "sqlite"
    try:
        with tempfile.TemporaryDirectory() as folder:
            for concurrency in (int(c) for c in args.concurrency.split(",")):
                url = fresh(args.postgres, Path(folder), f"c{concurrency}")
                r = bench(url, server, args.prompts, args.models, concurrency)
                print(f"{backend:<10} concurrency {concurrency:>3}: {r['calls']} calls in {r['seconds']:.1f} s = "
                      f"{r['calls_per_s']:.1f} calls/s, {r['ms_per_call']:.1f} ms a call")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":
    main()
