"""Several app hosts, sustained: visitors open a battle and vote through HAProxy at a fixed rate for minutes, on
two hosts (network namespaces) sharing PostgreSQL through PgBouncer (transaction mode) and Redis, optionally with
one host killed partway. Prints cycles/s, page and vote p95, errors and lost votes; exits 1 when a target is missed.

    python -m tests.benchmarks.multi_host_bench --database-url postgresql://postgres@127.0.0.1:5432/DB
        [--seconds 300] [--rate 100] [--visitors 24] [--hosts 2] [--workers 1] [--threads 4] [--kill-at S]

Needs root, `ip`, `haproxy` and `pgbouncer` (tests/multi_host.py). The database is wiped and migrated. Everything
runs on this machine's cores: the proxy, PgBouncer, PostgreSQL, Redis, the hosts and the visitors.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from tests.gunicorn_server import public_ids, stored_votes
from tests.multi_host import Topology, missing_tools, storm

P95_TARGET_MS = 300


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("ARENA_TEST_DATABASE_URL"), required=False)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=100, help="battle+vote cycles a second, all visitors")
    parser.add_argument("--visitors", type=int, default=24)
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1, help="gunicorn workers per host")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument("--kill-at", type=float, default=None, help="SIGKILL host 1 this many seconds in")
    args = parser.parse_args(argv)
    if missing := missing_tools():
        print(f"needs {', '.join(missing)}", file=sys.stderr)
        return 2
    if not args.database_url:
        print("pass --database-url or set ARENA_TEST_DATABASE_URL", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="eqa-hosts-"))
    env = {"ARENA_RATE_LIMIT_ENABLED": "0"}
    with Topology(args.database_url, workdir, hosts=args.hosts, workers=args.workers, threads=args.threads,
                  env=env) as topology:  # fmt: skip
        during = [(args.kill_at, topology.servers[0].kill)] if args.kill_at is not None else []
        result = storm(topology.url, visitors=args.visitors, seconds=args.seconds, rate=args.rate,
                       verify=str(topology.certificate), during=during)  # fmt: skip
    ids = public_ids(result.acked)
    found, stored = stored_votes(args.database_url, ids)
    lost = len(ids - found)
    rate = result.cycles / result.seconds
    killed = f", host 1 killed at {args.kill_at:g} s" if during else ""
    print(f"{args.hosts} hosts x gunicorn -w {args.workers} --threads {args.threads} behind HAProxy (TLS), "
          f"PgBouncer transaction mode, Redis; {args.visitors} visitors aiming at {args.rate:g} cycles/s for "
          f"{args.seconds:g} s on {os.cpu_count()} cores{killed}")
    print(result.summary())
    print(f"acknowledged votes {len(ids)}, lost {lost}, stored {stored}; logs in {workdir}")
    page_p95, vote_p95 = result.p95(result.page_ms), result.p95(result.vote_ms)
    ok = lost == 0 and rate >= 0.95 * args.rate and page_p95 < P95_TARGET_MS and vote_p95 < P95_TARGET_MS
    print("targets (>= 95% of the rate, page and vote p95 < 300 ms, no vote lost):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
