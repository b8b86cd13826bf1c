"""Export benchmark: 1,000,000 battles to Parquet (and back), on SQLite and PostgreSQL.

    python -m tests.benchmarks.export_bench [--battles 1000000] [--turns 1] [--postgres URL]

With `--turns N` (N > 1) every battle is a conversation of N exchanges in an evaluation session of three votes
(LMArena's multi-turn fields), so the import writes turn rows and the export reads them back.

The database is filled with `arena import votes` from synthetic battles; then `arena export --format parquet` runs
as an operator would type it (wall time and peak memory of that process), and the Parquet file is imported
into an empty database to check the round trip (same battle count and outcome counts).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from arena.db import make_engine, make_session_factory
from arena.migrate import upgrade
from arena.models import Vote
from ratings.simulate import simulate, true_strengths
from tests.benchmarks.import_bench import fresh_postgres, measured_child
from tests.votes_files import battle_records, write_jsonl


def outcome_counts(url: str) -> dict:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        counts = dict(session.execute(select(Vote.outcome, func.count()).group_by(Vote.outcome)).all())
    engine.dispose()
    return counts


def with_turns(records, turns: int):
    """Each record as a conversation of `turns` exchanges, three votes to an evaluation session."""
    for k, record in enumerate(records):
        if turns > 1:
            for side in ("a", "b"):
                record[f"conversation_{side}"] = [
                    message
                    for x in range(turns)
                    for message in (
                        {"role": "user", "content": f"I keep thinking about it ({k}, {x})."},
                        {"role": "assistant", "content": f"{record[f'model_{side}']} listens ({x})."},
                    )
                ]
            record.update(turn=turns, evaluation_session_id=f"s{k // 3}", evaluation_order=k % 3 + 1)
        yield record


def bench(label: str, url: str, fresh_url: str, votes: Path, out: Path, battles: int) -> dict:
    arena = [sys.executable, "-m", "arena.cli"]
    for target in (url, fresh_url):
        engine = make_engine(target)
        upgrade(engine)
        engine.dispose()
    measured_child([*arena, "import", "votes", str(votes), "--database-url", url])
    wall, peak, _ = measured_child([*arena, "export", "--format", "parquet", "--out", str(out), "--database-url", url])
    size = (out / "battles.parquet").stat().st_size
    back, _, _ = measured_child([*arena, "import", "votes", str(out / "battles.parquet"), "--database-url", fresh_url])
    same = outcome_counts(url) == outcome_counts(fresh_url)
    return {"backend": label, "export_s": wall, "rate": battles / wall, "peak_mb": peak, "parquet_mb": size / 1e6,
            "import_rate": battles / back, "round_trip": "identical" if same else "DIFFERENT"}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--turns", type=int, default=1, help="exchanges per battle (1: single replies)")
    parser.add_argument("--postgres", default=os.environ.get("ARENA_TEST_DATABASE_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arena-export-bench-") as tmp:
        tmp = Path(tmp)
        rng = np.random.default_rng(7)
        battles = simulate(true_strengths(100, rng), args.battles, rng, n_voters=50_000)
        names = [f"model-{k:03d}" for k in range(100)]
        votes = write_jsonl(tmp / "battles.jsonl", with_turns(battle_records(battles, names), args.turns))
        results = [bench("sqlite", f"sqlite:///{tmp / 'a.sqlite3'}", f"sqlite:///{tmp / 'b.sqlite3'}", votes,
                         tmp / "out-sqlite", args.battles)]  # fmt: skip
        if args.postgres:
            source, target = (fresh_postgres(args.postgres, name) for name in ("arena_export_a", "arena_export_b"))
            results.append(bench("postgresql", source, target, votes, tmp / "out-pg", args.battles))
    shape = "single replies" if args.turns == 1 else f"conversations of {args.turns} exchanges"
    print(f"\n{args.battles:,} battles ({shape}) exported to Parquet by `arena export` (target: under 10 s)")
    print(
        f"{'backend':<12}{'wall (s)':>10}{'battles/s':>12}{'peak MB':>10}{'file MB':>10}{'import/s':>10}   round trip"
    )
    for r in results:
        print(f"{r['backend']:<12}{r['export_s']:>10.2f}{r['rate']:>12,.0f}{r['peak_mb']:>10.0f}{r['parquet_mb']:>10.1f}"
              f"{r['import_rate']:>10,.0f}   {r['round_trip']}")  # fmt: skip


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"(benchmark ran {time.perf_counter() - start:.0f} s)")
