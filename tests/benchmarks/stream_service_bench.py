"""The stream service under load: `arena serve --production` (page workers and the stream service behind the
dispatcher) with many slow live streams open at once, against the local OpenAI-compatible server.

    python -m tests.benchmarks.stream_service_bench [--streams 200] [--words 90] [--interval 1.0]
        [--visitors 4] [--postgres URL] [--stream-threads 256] [--no-compare]

Prints, in this order:
1. the first stream after a start: the home page's median before it and its slowest while it began and ran
   (read every 50 ms), for the production set-up and (unless --no-compare) for the single gunicorn of
   `arena.gunicorn_conf`, where litellm loads inside a page worker at that moment;
2. pages (GET /, GET /leaderboard) and votes by --visitors closed-loop visitors, p95 and max: with no stream
   open, then with --streams live battles streaming at once (each `--words` words a side, one every
   `--interval` seconds);
3. whether litellm is loaded in each page worker and each stream worker (read from /proc/<pid>/maps).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from tests.gunicorn_server import GunicornServer, prepare_database
from tests.live_load import KEY_ENV, add_slow_models, failure_kinds, p95, run_live_load, slow_llm_server
from tests.production_site import ProductionSite, first_stream_stall, litellm_loaded


def _stall_line(label: str, figures: tuple[float, float, bool]) -> str:
    baseline, slowest, done = figures
    return (f"{label:<44} pages median {baseline * 1000:6.0f} ms before, slowest {slowest * 1000:6.0f} ms after "
            f"(stall {max(0.0, slowest - baseline) * 1000:.0f} ms); stream {'done' if done else 'FAILED'}")  # fmt: skip


def _load_line(label: str, result) -> str:
    return (f"{label:<44} pages p95 {p95(result.page_seconds) * 1000:5.0f} ms (max "
            f"{max(result.page_seconds, default=0) * 1000:5.0f}, n={len(result.page_seconds)}), votes p95 "
            f"{p95(result.vote_seconds) * 1000:5.0f} ms (max {max(result.vote_seconds, default=0) * 1000:5.0f}, "
            f"n={len(result.vote_seconds)}), errors {len(result.errors)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--words", type=int, default=90)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--visitors", type=int, default=4)
    parser.add_argument("--postgres")
    parser.add_argument("--stream-threads", type=int, default=256)
    parser.add_argument("--no-compare", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault(KEY_ENV, "test-key")
    for name, value in {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true"}.items():
        os.environ.setdefault(name, value)
    seconds = args.words * args.interval
    env = {"ARENA_LIVE_MAX_CONCURRENT": str(args.streams + 50),
           "ARENA_LIVE_TIMEOUT_SECONDS": str(int(seconds * 3 + 60))}  # fmt: skip
    print(f"{args.streams} streams of {args.words} words a side, one every {args.interval} s (about {seconds:.0f} s "
          f"each); load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="arena-stream-bench-") as tmp:
        url = args.postgres or f"sqlite:///{Path(tmp) / 'arena.sqlite3'}"
        prepare_database(url)
        with slow_llm_server(args.words, args.interval) as llm_url:
            add_slow_models(url, llm_url)
            if not args.no_compare:
                with GunicornServer(url, workers=2, threads=8, extra_env=env, production_config=True,
                                    log_path=Path(tmp) / "gunicorn.log") as single:  # fmt: skip
                    print(_stall_line("first stream, one gunicorn (before)", first_stream_stall(single.url)))
            site_args = ("--stream-threads", str(args.stream_threads))
            with ProductionSite(url, args=site_args, extra_env=env, log_path=Path(tmp) / "site.log") as site:
                print(_stall_line("first stream, arena serve --production", first_stream_stall(site.url)))
                print(_load_line("no stream open", run_live_load(site.url, streams=0, visitors=args.visitors,
                                                                 min_seconds=10)))  # fmt: skip
                result = run_live_load(site.url, streams=args.streams, visitors=args.visitors)
                print(_load_line(f"{args.streams} streams open", result))
                print(f"{'':<44} {result.summary().split(';')[0]}; {result.open_when_measured} open when the "
                      f"voters began, {result.opening_seconds:.0f} s after the first was asked for")  # fmt: skip
                print(f"{'':<44} load average after: {os.getloadavg()[0]:.1f}")
                pages = {pid: litellm_loaded(pid) for pid in site.workers("web")}
                streams = {pid: litellm_loaded(pid) for pid in site.workers("streams")}
        failures = failure_kinds(url)
    print(f"{'litellm loaded':<44} page workers {pages}; stream workers {streams}")
    if failures:
        print(f"  failed live battles by kind: {dict(failures)}")
    for error in result.errors[:5]:
        print("  ", error)


if __name__ == "__main__":
    main()
