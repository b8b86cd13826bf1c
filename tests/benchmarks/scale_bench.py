"""Scale benchmark (issue 23): N synthetic votes over 200 models, every message tagged with EmoNet categories of
all 7 groups, imported by `arena import votes --exclusive` (COPY into a staging table on PostgreSQL, then two
INSERT ... SELECT, the maintained counts added from the staged rows in the same transaction), then one full
recompute (filters on, every board, 1000 bootstrap rounds) read from the maintained counts. Prints the import
rate, the recompute time and each command's peak memory; with --pages, the p95 of the leaderboard page over the
result.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.scale_bench --votes 100000 --database-url postgresql://postgres@127.0.0.1:5432/x
    python -m tests.benchmarks.scale_bench --votes 1000000 --database-url ...
    python -m tests.benchmarks.scale_bench --votes 10000000 --database-url ...

--database-url names the server (and a database to connect to there): the benchmark makes its own database
(--name, default scale_bench), dropped first. Without it, SQLite in a temporary folder.

--import-only stops after the import (no recompute). --votes-file PATH keeps the generated file at PATH and reuses
it when it is already there (with the same --votes), so before/after runs import the same bytes without paying
for the generation again (ten million votes take minutes to write).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from arena.taxonomy import EMONET_CATEGORIES, EMONET_GROUPS
from ratings.simulate import simulate, true_strengths
from tests.benchmarks.import_bench import ARENA, fresh_postgres, measured_child, timed_import
from tests.votes_files import WINNER

CHUNK = 200_000


def write_votes(path: Path, n_votes: int, n_models: int, n_prompts: int, seed: int) -> None:
    """LMArena-shaped JSON lines, written a chunk at a time from preformatted pieces (a dict and json.dumps per
    record would take minutes at ten million). Each message carries one or two EmoNet categories, every category
    (and so every group) used."""
    rng = np.random.default_rng(seed)
    theta = true_strengths(n_models, rng)
    names = [json.dumps(f"model-{k:03d}") for k in range(n_models)]
    winners = [json.dumps(WINNER[k]) for k in range(4)]
    tags = [[EMONET_CATEGORIES[p % len(EMONET_CATEGORIES)]] for p in range(n_prompts)]
    for p in range(0, n_prompts, 3):
        tags[p].append(EMONET_CATEGORIES[(p * 7 + 3) % len(EMONET_CATEGORIES)])
    prompts = [
        json.dumps([{"role": "user", "content": f"synthetic opener {p}"}])
        + ', "category_tag": ' + json.dumps({"emotion_v0.1": sorted(set(tags[p]))})
        for p in range(n_prompts)
    ]  # fmt: skip
    with path.open("w", encoding="utf-8") as handle:
        for start in range(0, n_votes, CHUNK):
            n = min(CHUNK, n_votes - start)
            battles = simulate(theta, n, rng, n_voters=20_000)
            prompt = rng.integers(0, n_prompts, n)
            handle.write("".join(
                f'{{"question_id": "q{start + k}", "model_a": {names[a]}, "model_b": {names[b]}, '
                f'"winner": {winners[o]}, "judge_hash": "voter-{v}", "tstamp": {1_700_000_000 + start + k}, '
                f'"conversation_a": {prompts[p]}}}\n'
                for k, (a, b, o, v, p) in enumerate(zip(battles.model_a.tolist(), battles.model_b.tolist(),
                                                        battles.outcome.tolist(), battles.voter.tolist(),
                                                        prompt.tolist(), strict=True))
            ))  # fmt: skip


def page_p95(url: str, requests: int = 200) -> float:
    """p95 of GET /leaderboard in milliseconds, in process (the page reads the stored snapshot, not the votes)."""
    from arena import create_app
    from tests.conftest import make_settings

    client = create_app(make_settings(url)).test_client()
    times = []
    for _ in range(requests):
        start = time.perf_counter()
        assert client.get("/leaderboard").status_code == 200
        times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 95))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--votes", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--prompts", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite in a temporary folder)")
    parser.add_argument("--name", default="scale_bench", help="the benchmark's own PostgreSQL database")
    parser.add_argument("--repeat", type=int, default=1, help="recomputes to time (median reported)")
    parser.add_argument("--pages", action="store_true", help="also time the leaderboard page (p95)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--import-only", action="store_true", help="time the import only, no recompute")
    parser.add_argument("--votes-file", type=Path, help="keep the generated file here; reuse it if present")
    args = parser.parse_args(argv)
    groups = set(EMONET_GROUPS)
    with tempfile.TemporaryDirectory(prefix="scale-bench-") as folder:
        votes = args.votes_file or Path(folder) / "votes.jsonl"
        start = time.perf_counter()
        if not votes.exists():
            write_votes(votes, args.votes, args.models, args.prompts, args.seed)
        written = time.perf_counter() - start
        url = fresh_postgres(args.database_url, args.name) if args.database_url else f"sqlite:///{folder}/scale.db"
        backend = "postgresql" if args.database_url else "sqlite"
        import_s, import_mb = timed_import(url, votes, "--exclusive")
        if args.votes_file is None:
            votes.unlink()
        if args.import_only:
            result = {"backend": backend, "votes": args.votes, "models": args.models,
                      "file_written_s": round(written, 1), "import_s": round(import_s, 1),
                      "import_rate_per_s": round(args.votes / import_s), "import_peak_mb": round(import_mb),
                      "load_average_1m": round(os.getloadavg()[0], 1)}  # fmt: skip
            json.dump(result, sys.stdout, indent=2)
            print()
            return
        recomputes = []
        for _ in range(args.repeat):
            wall, peak, out = measured_child([*ARENA, "ratings", "recompute", "--bootstrap", str(args.rounds),
                                              "--json", "--database-url", url])  # fmt: skip
            recomputes.append((wall, peak))
        board = json.loads(out)
        assert board["n_votes"] == args.votes, board["n_votes"]
        assert groups <= set(board["categories"]), board["categories"]
        result = {
            "backend": backend,
            "votes": args.votes,
            "models": args.models,
            "boards": len(board["categories"]),
            "file_written_s": round(written, 1),
            "import_s": round(import_s, 1),
            "import_rate_per_s": round(args.votes / import_s),
            "import_peak_mb": round(import_mb),
            "recompute_s": round(statistics.median(w for w, _ in recomputes), 1),
            "recompute_peak_mb": round(max(p for _, p in recomputes)),
            "load_average_1m": round(os.getloadavg()[0], 1),
        }
        if args.pages:
            result["leaderboard_p95_ms"] = round(page_p95(url), 1)
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
