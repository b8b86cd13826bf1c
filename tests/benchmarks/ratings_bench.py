"""Rating engine benchmark: a full recompute (overall + every emotion board, 1000 bootstrap rounds, filters on)
timed as the `arena ratings recompute` command a cron job runs, against the import floor, for a big arena and a
small site, on SQLite and PostgreSQL; with --old REV, the engine of git revision REV on the same votes beside it.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.ratings_bench [--battles 300000] [--models 60] [--rounds 1000]
        [--postgres postgresql://postgres@127.0.0.1:5432/test] [--prefix arena_bench] [--old b68b7a6] [--repeat 3]

The import floor is the wall time of `python -c "import numpy, scipy.stats, sqlalchemy"`: what any Python job
that touches the ratings pays before it starts. Targets: the big recompute within 4x the floor, the small one
within 2x. Every database is built first; then each of --repeat rounds times the floor (median of three) and
one recompute of every (arena, backend, engine) in turn, so that a shared machine's changing load falls on the
floor, the old engine and the new alike. Reported: the median and range of the wall times, and of each round's
ratio to that round's floor. Every battle's prompt carries EmoNet categories across all seven groups, so the big
arena has eight boards (overall + 7 groups) besides its category boards.
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

from arena.taxonomy import EMONET_CATEGORIES
from ratings.simulate import simulate, true_strengths
from tests.benchmarks.import_bench import fresh_postgres
from tests.votes_files import battle_records, write_jsonl

ROOT = Path(__file__).resolve().parents[2]


def import_floor(repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import numpy, scipy.stats, sqlalchemy"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tagged_records(battles, names: list[str], n_prompts: int, rng: np.random.Generator):
    """LMArena records whose prompts carry one or two EmoNet categories, every category used."""
    tags = [[EMONET_CATEGORIES[p % len(EMONET_CATEGORIES)]] for p in range(n_prompts)]
    for p in range(0, n_prompts, 3):
        tags[p].append(EMONET_CATEGORIES[(p * 7 + 3) % len(EMONET_CATEGORIES)])
    prompt = rng.integers(0, n_prompts, len(battles.outcome))
    for k, record in enumerate(battle_records(battles, names)):
        p = int(prompt[k])
        yield {
            **record,
            "conversation_a": [{"role": "user", "content": f"synthetic opener {p}"}],
            "category_tag": {"emotion_v0.1": sorted(set(tags[p]))},
        }


def arena(code: Path, *args: str, timed: bool = False) -> tuple[float, str]:
    """Run `arena ARGS` from the source tree `code`; wall seconds and stdout."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "arena.cli", *args], capture_output=True, text=True, env=env,
                            cwd=code)  # fmt: skip
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"arena {' '.join(args[:3])} ({code}) failed:\n{result.stderr}")
    return wall, result.stdout


def prepare(code: Path, url: str, votes: Path) -> None:
    """A fresh database with `code`'s own schema and the votes imported."""
    arena(code, "init-db", "--database-url", url)
    arena(code, "import", "votes", str(votes), "--database-url", url)


def recompute_time(code: Path, url: str, rounds: int) -> tuple[float, int]:
    """One recompute's wall time and the number of boards it rated."""
    wall, out = arena(code, "ratings", "recompute", "--bootstrap", str(rounds), "--json", "--database-url", url)
    return wall, len(json.loads(out)["categories"])


def export_old(revision: str, into: Path) -> Path:
    """The source of an older revision, unpacked read-only from git (no worktree, no checkout)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", revision, "arena", "ratings", "pyproject.toml"],
                             capture_output=True, check=True).stdout  # fmt: skip
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=300_000)
    parser.add_argument("--models", type=int, default=60)
    parser.add_argument("--small-battles", type=int, default=66)
    parser.add_argument("--small-models", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the floor and every recompute")
    parser.add_argument("--postgres", default=os.environ.get("ARENA_TEST_DATABASE_URL"),
                        help="admin URL of a PostgreSQL server (databases PREFIX_* are made there)")  # fmt: skip
    parser.add_argument("--prefix", default="arena_bench",
                        help="PostgreSQL database names (another prefix for runs sharing a server)")  # fmt: skip
    parser.add_argument("--old", help="git revision of the engine to compare with (e.g. b68b7a6)")
    args = parser.parse_args()

    rows: dict[tuple, dict] = {}  # (arena, backend, engine) -> url, code and what was measured
    floors = []
    with tempfile.TemporaryDirectory(prefix="arena-bench-") as tmp:
        tmp = Path(tmp)
        engines = {"new": ROOT}
        if args.old:
            engines = {"old": export_old(args.old, tmp / "old"), **engines}
        scenarios = [("big", args.battles, args.models, 4.0), ("small", args.small_battles, args.small_models, 2.0)]
        for name, n_battles, n_models, target in scenarios:
            rng = np.random.default_rng(2026)
            names = [f"model-{k:03d}" for k in range(n_models)]
            battles = simulate(true_strengths(n_models, rng), n_battles, rng, n_voters=max(10, n_battles // 20))
            votes = write_jsonl(tmp / f"{name}.jsonl", tagged_records(battles, names, 210, rng))
            backends = [("sqlite", lambda label, name=name: f"sqlite:///{tmp / f'{name}-{label}.sqlite3'}")]
            if args.postgres:
                backends.append(("postgresql", lambda label, name=name: fresh_postgres(
                    args.postgres, f"{args.prefix}_{name}_{label}")))  # fmt: skip
            for backend, make_url_for in backends:
                for label, code in engines.items():
                    url = make_url_for(label)
                    prepare(code, url, votes)
                    rows[(name, backend, label)] = dict(url=url, code=code, battles=n_battles, models=n_models,
                                                        target=target, walls=[], ratios=[], boards=0)  # fmt: skip
                    print(f"  built {name} {backend} {label}", flush=True)
        for round_ in range(args.repeat):
            floor = import_floor(3)
            floors.append(floor)
            line = [f"round {round_ + 1}: floor {floor:.2f} s"]
            for (name, backend, label), row in rows.items():
                wall, row["boards"] = recompute_time(row["code"], row["url"], args.rounds)
                row["walls"].append(wall)
                row["ratios"].append(wall / floor)
                line.append(f"{name} {backend} {label} {wall:.2f}")
            print("; ".join(line), flush=True)
    print()
    print(f"import floor (numpy, scipy.stats, sqlalchemy): median {statistics.median(floors):.2f} s, "
          f"range {min(floors):.2f}-{max(floors):.2f} s over {len(floors)} rounds")  # fmt: skip
    print(f"{'arena':<7}{'battles':>9}{'models':>7}  {'backend':<11}{'engine':<7}{'boards':>7}"
          f"{'recompute s (range)':>22}{'x floor (range)':>20}   target")  # fmt: skip
    for (name, backend, label), row in rows.items():
        walls, ratios = row["walls"], row["ratios"]
        wall = f"{statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f})"
        ratio = f"{statistics.median(ratios):.1f}x ({min(ratios):.1f}-{max(ratios):.1f})"
        print(f"{name:<7}{row['battles']:>9,}{row['models']:>7}  {backend:<11}{label:<7}{row['boards']:>7}"
              f"{wall:>22}{ratio:>20}   <= {row['target']:g}x")  # fmt: skip


if __name__ == "__main__":
    main()
