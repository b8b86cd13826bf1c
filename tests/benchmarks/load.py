"""Load benchmark: visitors open a battle and vote, against gunicorn (gthread, 2 workers) on SQLite and PostgreSQL.

Run from the repository root (not part of the default test run; needs `wrk`, `apt-get install wrk`):

    python -m tests.benchmarks.load [--postgres postgresql://postgres@127.0.0.1:5432/DB] [--seconds 20]
                                    [--visitors 16] [--threads N] [--skip-sqlite]
                                    [--rate-limits off|memory|redis]

The PostgreSQL database given is wiped (its public schema dropped and recreated). Each backend: a fresh migrated
database with the demo bank, gunicorn on a free loopback port, then wrk for a fixed time,
first on a static file (the ceiling of this server on this machine) and then on the battle loop: every visitor
(one wrk thread, one connection, its own session cookie) loads GET / as htmx does, posts a vote with the page's
CSRF token and starts again. wrk runs on the same cores as the server, so the figures are for the whole machine.
Afterwards every vote that was acknowledged (200 reveal) is looked up by battle id in the database.

Rate limits are off by default: the visitors share one address and vote far faster than a person, so real limits
would refuse them. `--rate-limits memory|redis` checks limits set too high to be reached on every request, to
measure what the checks cost.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.gunicorn_server import GunicornServer, prepare_database, public_ids, stored_votes

SCRIPT = Path(__file__).with_name("load_visitor.lua")
REDIS_URL = os.environ.get("ARENA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WARM_UP_SECONDS = 3
TARGETS = {"sqlite": 400, "postgresql": 300}
# Threads per worker that served the most cycles here. SQLite works inside the worker process, so more threads
# only contend for the GIL and the single write lock (4 threads: about 400 cycles/s, 2: 500-580); PostgreSQL works
# in its own server, and a thread waiting on it lets another run (2 threads: about two thirds of 4's cycles).
THREADS = {"sqlite": 2, "postgresql": 4}
P99_TARGET_MS = 100


def run_wrk(url: str, mode: str, seconds: int, visitors: int, acked_dir: Path) -> dict:
    acked_dir.mkdir(parents=True, exist_ok=True)
    command = ["wrk", "-t", str(visitors), "-c", str(visitors), "-d", f"{seconds}s", "--timeout", "10s",
               "-s", str(SCRIPT), url, "--", mode, str(acked_dir)]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    lines = [line for line in result.stdout.splitlines() if line.startswith("ARENA_JSON ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    figures = json.loads(lines[-1].removeprefix("ARENA_JSON "))
    seconds_run = figures["duration_us"] / 1e6
    figures.update(
        seconds=seconds_run,
        requests_per_s=figures["requests"] / seconds_run,
        battles_per_s=figures["battles"] / seconds_run,
        votes_per_s=figures["votes"] / seconds_run,
        errors=figures["failed_responses"] + figures["socket_errors"] + figures["timeouts"],
    )
    return figures


def acked_paths(acked_dir: Path) -> list[str]:
    return [line for f in sorted(acked_dir.glob("acked-*.txt")) for line in f.read_text().split()]


# Limits far above what the visitors do: every request pays for its checks (as in production) and none is refused.
UNREACHED_LIMIT = "1000000 per minute"


def rate_limit_env(mode: str) -> dict[str, str]:
    """gunicorn's environment for --rate-limits: off, or checked on every request in memory or in Redis."""
    if mode == "off":
        return {}
    env = {"ARENA_RATE_LIMIT_ENABLED": "1", "ARENA_RATE_LIMIT_BATTLE": UNREACHED_LIMIT,
           "ARENA_RATE_LIMIT_VOTE": UNREACHED_LIMIT, "ARENA_RATE_LIMIT_NETWORK": UNREACHED_LIMIT}  # fmt: skip
    if mode == "redis":
        env["ARENA_REDIS_URL"] = REDIS_URL
    return env


def bench_backend(label: str, url: str, args, tmp: Path) -> dict:
    prepare_database(url)
    log = tmp / f"gunicorn-{label}.log"
    acked_dir = tmp / f"acked-{label}"
    threads = args.threads or THREADS[label]
    with GunicornServer(url, workers=2, threads=threads, log_path=log,
                        extra_env=rate_limit_env(args.rate_limits)) as server:  # fmt: skip
        run_wrk(server.url, "battle", WARM_UP_SECONDS, args.visitors, acked_dir / "warm-up")
        static = run_wrk(server.url, "static", args.seconds, args.visitors, acked_dir / "static")
        battle = run_wrk(server.url, "battle", args.seconds, args.visitors, acked_dir / "battle")
    acked = acked_paths(acked_dir / "warm-up") + acked_paths(acked_dir / "battle")
    ids = public_ids(acked)
    found, total = stored_votes(url, ids)
    tracebacks = log.read_text(errors="replace").count("Traceback")
    return {
        "backend": label,
        "threads": threads,
        "static": static,
        "battle": battle,
        "acked": len(acked),
        "acked_distinct": len(ids),
        "lost": len(ids - found),
        "stored": total,
        # A vote can be stored while wrk stops before reading its answer: at most one per visitor per run.
        "unacknowledged_stored": total - len(ids),
        "in_flight_bound": 2 * args.visitors,
        "tracebacks": tracebacks,
    }


def report(results: list[dict], args) -> bool:
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"\nload: {wrk_version.split(' [')[0]}, {args.visitors} visitors (one wrk thread and one keep-alive "
          f"connection each) on the same {os.cpu_count()} cores as gunicorn -k gthread -w 2 (rate limits "
          f"{args.rate_limits}); {args.seconds} s per figure after a {WARM_UP_SECONDS} s "
          "warm-up")  # fmt: skip
    print(f"{'figure':<40}" + "".join(f"{r['backend']:>14}" for r in results) + "   target")
    rows = [
        ("gunicorn threads per worker", lambda r: f"{r['threads']}", ""),
        ("static file: requests/s (ceiling)", lambda r: f"{r['static']['requests_per_s']:,.0f}", ""),
        (
            "static file: p50 / p99 (ms)",
            lambda r: f"{r['static']['p50_us'] / 1e3:.1f} / {r['static']['p99_us'] / 1e3:.1f}",
            "",
        ),  # noqa: E501
        ("static file: errors", lambda r: f"{r['static']['errors']}", "0"),
        ("battle loop: requests/s", lambda r: f"{r['battle']['requests_per_s']:,.0f}", ""),
        (
            "  as a share of the static ceiling",
            lambda r: f"{r['battle']['requests_per_s'] / r['static']['requests_per_s']:.0%}",
            "",
        ),
        ("battles/s (GET / shown)", lambda r: f"{r['battle']['battles_per_s']:,.0f}", ""),
        ("votes/s = battle-and-vote cycles/s", lambda r: f"{r['battle']['votes_per_s']:,.0f}", ">= 400 sqlite, 300 pg"),
        (
            "per request p50 / p99 (ms)",
            lambda r: f"{r['battle']['p50_us'] / 1e3:.1f} / {r['battle']['p99_us'] / 1e3:.1f}",  # noqa: E501
            f"p99 < {P99_TARGET_MS}",
        ),
        ("per request max (ms)", lambda r: f"{r['battle']['max_us'] / 1e3:.0f}", ""),
        ("errors (bad status, socket, timeout)", lambda r: f"{r['battle']['errors']}", "0"),
        ("votes acknowledged (incl. warm-up)", lambda r: f"{r['acked']:,}", ""),
        ("acknowledged votes missing from DB", lambda r: f"{r['lost']}", "0"),
        ("votes stored, never acknowledged", lambda r: f"{r['unacknowledged_stored']}", "<= 2 x visitors"),
        ("tracebacks in the server log", lambda r: f"{r['tracebacks']}", "0"),
    ]
    for title, cell, target in rows:
        print(f"{title:<40}" + "".join(f"{cell(r):>14}" for r in results) + f"   {target}")
    ok = True
    for r in results:
        b = r["battle"]
        checks = {
            "cycles/s": b["votes_per_s"] >= TARGETS[r["backend"]],
            "p99": b["p99_us"] / 1e3 < P99_TARGET_MS,
            "errors": b["errors"] == 0 and r["static"]["errors"] == 0 and r["tracebacks"] == 0,
            "lost votes": r["lost"] == 0,
            "vote count": 0 <= r["unacknowledged_stored"] <= r["in_flight_bound"],
        }
        missed = [name for name, passed in checks.items() if not passed]
        print(f"{r['backend']}: " + ("all targets met" if not missed else "MISSED " + ", ".join(missed)))
        ok = ok and not missed
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="URL of a PostgreSQL database to wipe and use")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--visitors", type=int, default=16)
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker (default: sqlite 2, postgresql 4)")
    parser.add_argument(
        "--rate-limits",
        choices=["off", "memory", "redis"],
        default="off",
        help="check (never reached) rate limits on every request, in memory or in Redis",
    )
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed to generate the load: apt-get install wrk")
    if not 1 <= args.seconds <= 600 or not 1 <= args.visitors <= 256:
        raise SystemExit("--seconds must be 1..600 and --visitors 1..256")

    results = []
    with tempfile.TemporaryDirectory(prefix="arena-load-") as tmp:
        tmp = Path(tmp)
        if not args.skip_sqlite:
            results.append(bench_backend("sqlite", f"sqlite:///{tmp / 'load.sqlite3'}", args, tmp))
        if args.postgres:
            results.append(bench_backend("postgresql", args.postgres, args, tmp))
        else:
            print("PostgreSQL skipped: pass --postgres URL")
        if not results:
            raise SystemExit("nothing to run")
        ok = report(results, args)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
