"""A published FastChat battle file against its own anonymous column (issue 21, "numbers a reviewer can
rebuild"): imports the file as an operator would (`arena import votes FILE --skip-invalid`, into a new SQLite
database), rebuilds the anonymous-only board (`arena ratings recompute --anony-only --json`), and compares it
with FastChat's own method on the file's anonymous battles (tests/fastchat_method.py), and with a published
leaderboard CSV when one is given. Ratings are mean-centred within each group of models ever compared (the arena
fits components apart), so only differences count. Also runs `--ci cluster` and reports its intervals' widths
(a file naming one placeholder voter must not give zero-width ones).

    python -m tests.benchmarks.published_anony_bench --file PATH/clean_battle_20240220.json
        [--published PATH/leaderboard.csv --column "Arena Elo rating (anony)"] [--bootstrap 200]

Default file: ../shared/data/genai_arena/clean_battle_20240220.json (GenAI-Arena, TIGER-AI-Lab/GenAI-Arena
arena_elo/, commit e4e4637). Not part of the test run.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from tests.arena_cli import run_arena
from tests.fastchat_method import centred, fastchat_ratings
from tests.shared_data import SHARED_DATA

SECRET = "published-anony-bench-secret-0123456789"


def components(records: list[dict]) -> list[set[str]]:
    groups: list[set[str]] = []
    for r in records:
        pair = {r["model_a"], r["model_b"]}
        joined = [g for g in groups if g & pair]
        merged = pair.union(*joined)
        groups = [g for g in groups if not (g & pair)] + [merged]
    return groups


def arena(database: str, *args: str) -> dict | None:
    result = run_arena(*args, "--database-url", database, env={"ARENA_SECRET_KEY": SECRET}, timeout=600)
    if result.returncode != 0:
        sys.exit(f"arena {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout) if "--json" in args else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", type=Path, default=SHARED_DATA / "genai_arena" / "clean_battle_20240220.json")
    parser.add_argument("--published", type=Path)
    parser.add_argument("--column", default="Arena Elo rating (anony)")
    parser.add_argument("--bootstrap", type=int, default=200)
    args = parser.parse_args()
    if not args.file.is_file():
        sys.exit(f"{args.file}: no such file (give --file)")
    records = json.loads(args.file.read_text(encoding="utf-8"))
    valid = [r for r in records if r["model_a"] != r["model_b"]]
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{os.path.join(tmp, 'arena.sqlite3')}"
        arena(database, "init-db")
        run_arena("import", "votes", str(args.file), "--skip-invalid", "--skip-report", os.path.join(tmp, "skip.jsonl"),
                  "--database-url", database, env={"ARENA_SECRET_KEY": SECRET})  # fmt: skip
        board = arena(database, "ratings", "recompute", "--anony-only", "--bootstrap", str(args.bootstrap), "--json")
        clustered = arena(database, "ratings", "recompute", "--ci", "cluster", "--bootstrap", str(args.bootstrap),
                          "--json")  # fmt: skip
    ours = {r["model"]: r["rating"] for r in board["ratings"]}
    theirs = fastchat_ratings(valid, anony_only=True)
    published = None
    if args.published:
        with args.published.open(newline="", encoding="utf-8") as handle:
            published = {row["key"]: float(row[args.column]) for row in csv.DictReader(handle)}
    print(f"{args.file.name}: {len(records)} records, {sum(bool(r.get('anony')) for r in valid)} anonymous, "
          f"{len(records) - len(valid)} self-battles; anony-only run {board['run_id']} ({board['status']}), "
          f"{board['n_votes']} votes")  # fmt: skip
    for group in sorted(components([r for r in valid if r.get("anony")]), key=lambda g: -len(g)):
        members = sorted(group)
        a, b = centred(ours, members), centred(theirs, members)
        p = centred(published, members) if published else None
        print(f"component of {len(members)} models (mean-centred):")
        print(f"  {'model':<44} {'arena':>9} {'fastchat':>9} {'diff':>6}" + ("  published  diff" if p else ""))
        for m in sorted(members, key=lambda m: -a[m]):
            extra = f"  {p[m]:9.2f} {a[m] - p[m]:5.2f}" if p else ""
            print(f"  {m:<44} {a[m]:9.2f} {b[m]:9.2f} {a[m] - b[m]:6.2f}{extra}")
        print(f"  largest |arena - fastchat|: {max(abs(a[m] - b[m]) for m in members):.3f} points"
              + (f"; |arena - published|: {max(abs(a[m] - p[m]) for m in members):.3f}" if p else ""))  # fmt: skip
    widths = np.array([r["ci_high"] - r["ci_low"] for r in clustered["ratings"]])
    print(f"--ci cluster: narrowest interval {widths.min():.1f} points; warnings: {clustered['warnings']}")


if __name__ == "__main__":
    main()
