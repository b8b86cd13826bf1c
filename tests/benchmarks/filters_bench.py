"""Vote-quality filters benchmark: the recompute job's filter step on many votes cast here, SQLite and PostgreSQL.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.filters_bench [--votes 300000] [--voters 3000] [--models 50]
                                             [--postgres postgresql://postgres@127.0.0.1:5432/test_filters]

Honest voters with tastes, plus a few scripts (always A, coin flips, a flooder beyond the daily cap). Prints the
time of the read step (per-voter aggregate + first fit + tests), of the write step (one UPDATE per rule), the
per-voter rows the Python side held, and what was excluded; and a whole recompute with and without filters.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import insert, text

from arena.db import make_engine, make_session_factory, transaction
from arena.jobs import vote_filters
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.migrate import upgrade
from arena.models import Battle, Model, Vote
from ratings.simulate import simulate_voters, true_strengths

OUTCOME = np.array(["model_a", "model_b", "tie", "both_bad"])
START = datetime(2026, 1, 1, tzinfo=UTC)


def populate(url: str, n_votes: int, n_voters: int, n_models: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    theta = true_strengths(n_models, rng, spread=1.0)
    per_voter = rng.multinomial(n_votes - 1300, rng.dirichlet(np.ones(n_voters)))
    battles = simulate_voters(theta, per_voter, rng, taste_sd=0.5, favourite_boost=1.0)
    a, b, o, v = battles.model_a, battles.model_b, battles.outcome, battles.voter.astype(object)
    a_s, b_s = rng.integers(0, n_models, 300), rng.integers(1, n_models, 300)
    extra = [  # always A (300), coin (400), a flooder casting 600 honest-looking votes in one day
        (a_s, (a_s + b_s) % n_models, np.zeros(300, int), np.full(300, "script-a", dtype=object)),
        (rng.integers(0, n_models, 400), None, rng.integers(0, 2, 400), np.full(400, "coin", dtype=object)),
    ]
    coin_a = extra[1][0]
    extra[1] = (coin_a, (coin_a + rng.integers(1, n_models, 400)) % n_models, extra[1][2], extra[1][3])
    flood = simulate_voters(theta, np.array([600]), rng)
    extra.append((flood.model_a, flood.model_b, flood.outcome, np.full(600, "flooder", dtype=object)))
    a = np.concatenate([a] + [e[0] for e in extra])
    b = np.concatenate([b] + [e[1] for e in extra])
    o = np.concatenate([o] + [e[2] for e in extra])
    v = np.concatenate([v] + [e[3] for e in extra])
    # Voters vote at most a few dozen times an hour; the flooder 600 times in ten hours.
    when = [START + timedelta(minutes=3 * k) for k in range(len(a) - 600)]
    when += [START + timedelta(seconds=10 * k) for k in range(600)]
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        models = [Model(slug=f"m{k:03d}", display_name=f"M{k}") for k in range(n_models)]
        s.add_all(models)
        s.flush()
        ids = [m.id for m in models]
    chunk = 20_000
    for start in range(0, len(a), chunk):
        rows = range(start, min(start + chunk, len(a)))
        with transaction(factory) as s:
            s.execute(insert(Battle), [
                {"id": k + 1, "public_id": f"b{k + 1}", "source": "arena", "judge_key": f"v{v[k]}",
                 "model_a_id": ids[a[k]], "model_b_id": ids[b[k]], "status": "voted", "created_at": when[k]}
                for k in rows
            ])  # fmt: skip
            s.execute(insert(Vote), [
                {"battle_id": k + 1, "model_a_id": ids[a[k]], "model_b_id": ids[b[k]], "outcome": OUTCOME[o[k]],
                 "created_at": when[k]}
                for k in rows
            ])  # fmt: skip
    engine.dispose()


def measure(url: str, label: str) -> None:
    engine = make_engine(url)
    factory, reader = make_session_factory(engine), make_session_factory(engine, read_only=True)
    settings = vote_filters.FilterSettings()
    t = time.perf_counter()
    with reader() as s:
        decided = vote_filters.plan(s, settings)
    read = time.perf_counter() - t
    t = time.perf_counter()
    with transaction(factory) as s:
        report = vote_filters.apply(s, decided)
    write = time.perf_counter() - t
    with reader() as s:
        n_votes = s.execute(text("SELECT count(*) FROM vote")).scalar_one()
    print(f"[{label}] {n_votes:,} votes, {sum(decided.tests.values())} tests: filter read {read:.2f} s, "
          f"write {write:.2f} s; voters flagged {report.voters}, votes excluded {report.excluded}")  # fmt: skip
    for filters in (settings, None, settings):
        request = RecomputeRequest(ci="sandwich", categories=("overall",), filters=filters)
        t = time.perf_counter()
        recompute(factory, reader, request)
        print(f"[{label}] whole recompute (sandwich), filters {'on ' if filters else 'off'}: "
              f"{time.perf_counter() - t:.2f} s")  # fmt: skip
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=300_000)
    parser.add_argument("--voters", type=int, default=3000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--postgres", help="a PostgreSQL database to use (its tables are replaced)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        t = time.perf_counter()
        populate(url, args.votes, args.voters, args.models)
        print(f"[sqlite] populated in {time.perf_counter() - t:.1f} s")
        measure(url, "sqlite")
    if args.postgres:
        engine = make_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        populate(args.postgres, args.votes, args.voters, args.models)
        measure(args.postgres, "postgresql")


if __name__ == "__main__":
    main()
