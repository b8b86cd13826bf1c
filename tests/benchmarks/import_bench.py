"""Import benchmark: 1,000,000 synthetic battles over 100 models into SQLite and PostgreSQL (import rate and peak
memory per backend and per file shape), then one recompute, the SQL aggregate and the fit against the reference.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.import_bench [--battles 1000000] [--models 100] [--rounds 1000]
                                            [--postgres postgresql://postgres@127.0.0.1:5432/test]
                                            [--shapes] [--shapes-only]

--shapes also imports the same battles into fresh SQLite databases from each published file shape (JSON lines,
a JSON array like FastChat's clean_battle_*.json, CSV, Parquet) and prints battles/s and peak memory per shape;
--shapes-only does just that.

Import and recompute run as the `arena` commands an operator would type, in child processes, so their wall
time and peak memory are what a cron job sees. The fit alone and the reference fit are timed in-process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy.engine import make_url

from arena.db import make_engine, make_session_factory
from arena.jobs.recompute import aggregate
from arena.migrate import upgrade
from ratings import bradley_terry as bt
from ratings.simulate import simulate, true_strengths
from tests.ratings.reference import reference_theta
from tests.votes_files import battle_records, write_csv, write_jsonl, write_parquet


def measured_child(args: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and stdout of a child process, measured by a small wrapper process
    (its RUSAGE_CHILDREN is exactly that one child)."""
    wrapper = (
        "import resource, subprocess, sys, time, json;"
        "t = time.perf_counter(); p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "w = time.perf_counter() - t; r = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
        "sys.stderr.write(p.stderr); print(json.dumps({'wall': w, 'peak_mb': r, 'rc': p.returncode, 'out': p.stdout}))"
    )
    result = subprocess.run([sys.executable, "-c", wrapper, *args], capture_output=True, text=True)
    data = json.loads(result.stdout)
    if data["rc"] != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{result.stderr}")
    return data["wall"], data["peak_mb"], data["out"]


def fresh_postgres(admin_url: str, name: str = "arena_bench") -> str:
    import psycopg

    url = make_url(admin_url)
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


def timed(fn, repeat: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


ARENA = [sys.executable, "-m", "arena.cli"]


def timed_import(url: str, votes_file: Path, *flags: str) -> tuple[float, float]:
    """Wall seconds and peak MB of `arena import votes` into a freshly migrated database."""
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    wall, peak, _ = measured_child([*ARENA, "import", "votes", str(votes_file), "--database-url", url, *flags])
    return wall, peak


def bench_backend(label: str, url: str, votes_file: Path, battles: int, rounds: int, default_rate: float) -> dict:
    """Import with --exclusive (on SQLite the same as the default), then recompute, aggregate and fit."""
    import_wall, import_peak = timed_import(url, votes_file, "--exclusive")
    engine = make_engine(url)
    recompute_wall, recompute_peak, out = measured_child(
        [*ARENA, "ratings", "recompute", "--bootstrap", str(rounds), "--json", "--database-url", url]
    )
    board = json.loads(out)
    assert board["n_votes"] == battles, board["n_votes"]

    reader = make_session_factory(engine, read_only=True)
    aggregate_times = []
    for _ in range(3):
        with reader() as session:
            start = time.perf_counter()
            _, outcomes = aggregate(session, None)
            aggregate_times.append(time.perf_counter() - start)
    engine.dispose()
    wins = outcomes.win_matrix()
    fit_time = timed(lambda: bt.fit(wins), repeat=20)
    start = time.perf_counter()
    reference = reference_theta(outcomes, alpha=bt.DEFAULT_ALPHA)
    reference_time = time.perf_counter() - start
    agreement = float(np.max(np.abs(bt.to_elo(bt.fit(wins)) - bt.to_elo(reference))))
    return {
        "backend": label,
        "default_import_rate": default_rate or battles / import_wall,
        "import_rate": battles / import_wall,
        "import_s": import_wall,
        "import_peak_mb": import_peak,
        "recompute_s": recompute_wall,
        "recompute_peak_mb": recompute_peak,
        "sql_aggregate_s": statistics.median(aggregate_times),
        "fit_ms": fit_time * 1000,
        "reference_s": reference_time,
        "reference_ratio": reference_time / fit_time,
        "max_diff_vs_reference": agreement,
    }


def write_json_array(path: Path, records) -> Path:
    """FastChat's clean_battle layout: one JSON array, indented."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[\n")
        for k, record in enumerate(records):
            handle.write(("" if k == 0 else ",\n") + json.dumps(record, indent=2))
        handle.write("\n]\n")
    return path


def bench_shapes(tmp: Path, records: list[dict]) -> None:
    """`arena import votes` of the same battles in each file shape, into a fresh SQLite database each."""
    shapes = {
        "jsonl": lambda: write_jsonl(tmp / "shape.jsonl", records),
        "json array": lambda: write_json_array(tmp / "shape.json", records),
        "csv": lambda: write_csv(tmp / "shape.csv", records),
        "parquet": lambda: write_parquet(tmp / "shape.parquet", records),
    }
    print(f"\n{'file shape (SQLite import)':<28}{'battles/s':>12}{'wall s':>9}{'peak MB':>9}")
    for name, write in shapes.items():
        path = write()
        database = tmp / f"shape-{name.replace(' ', '-')}.sqlite3"
        wall, peak = timed_import(f"sqlite:///{database}", path)
        print(f"{name:<28}{len(records) / wall:>12,.0f}{wall:>9.1f}{peak:>9.0f}")
        path.unlink()
        database.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--postgres", default=os.environ.get("ARENA_TEST_DATABASE_URL"),
                        help="admin URL of a PostgreSQL server (a database arena_bench is made there)")  # fmt: skip
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--shapes", action="store_true", help="also time the import per file shape")
    parser.add_argument("--shapes-only", action="store_true", help="only time the import per file shape")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(2026)
        names = [f"model-{k:03d}" for k in range(args.models)]
        start = time.perf_counter()
        battles = simulate(true_strengths(args.models, rng), args.battles, rng, n_voters=50_000)
        # Fields as LMArena's files carry them: question_id, judge_hash, tstamp, language.
        records = ({**r, "language": "English"} for r in battle_records(battles, names))
        if args.shapes or args.shapes_only:
            records = list(records)
            bench_shapes(tmp, records)
            if args.shapes_only:
                return
        votes_file = write_jsonl(tmp / "battles.jsonl", records)
        print(f"{args.battles:,} battles over {args.models} models written to JSONL "
              f"({votes_file.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.1f} s")  # fmt: skip

        results = []
        if not args.skip_sqlite:
            # SQLite imports always hold the database's write lock: --exclusive changes nothing there.
            results.append(bench_backend("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}", votes_file, args.battles,
                                         args.rounds, 0.0))  # fmt: skip
        if args.postgres:
            shared_wall, _ = timed_import(fresh_postgres(args.postgres, "arena_bench_shared"), votes_file)
            results.append(bench_backend("postgresql", fresh_postgres(args.postgres), votes_file, args.battles,
                                         args.rounds, args.battles / shared_wall))  # fmt: skip
        else:
            print("PostgreSQL skipped: pass --postgres URL or set ARENA_TEST_DATABASE_URL")

    print()
    print(f"{'figure':<44}" + "".join(f"{r['backend']:>14}" for r in results) + "   target")
    rows = [
        ("import rate, site stays live (battles/s)", "default_import_rate", "{:,.0f}", ""),
        ("import rate, --exclusive (battles/s)", "import_rate", "{:,.0f}", ">= 50,000"),
        ("import wall time (s)", "import_s", "{:.1f}", ""),
        ("import peak memory (MB)", "import_peak_mb", "{:.0f}", "< 500"),
        (f"recompute, {args.rounds} bootstrap rounds, CLI wall (s)", "recompute_s", "{:.2f}", "< 5"),
        ("recompute peak memory (MB)", "recompute_peak_mb", "{:.0f}", "< 500"),
        ("  of which SQL aggregation (s)", "sql_aggregate_s", "{:.3f}", ""),
        ("BT fit alone, aggregated (ms)", "fit_ms", "{:.1f}", "< 50"),
        ("reference fit, scipy (s)", "reference_s", "{:.2f}", ""),
        ("reference time / BT fit time", "reference_ratio", "{:.0f}x", ""),
        ("max |rating - reference| (Elo points)", "max_diff_vs_reference", "{:.4f}", "< 0.01"),
    ]
    for title, key, fmt, target in rows:
        print(f"{title:<44}" + "".join(f"{fmt.format(r[key]):>14}" for r in results) + f"   {target}")


if __name__ == "__main__":
    main()
