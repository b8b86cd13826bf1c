"""The admin page's reveal figures (arena/voting/exposure.py) on many voted battles.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.exposure_bench [--battles 100000] [--samples 3] [--database-url URL]

Loads the demo bank with `--samples` replies per (message, model) into a fresh SQLite file (or into the empty,
migrated database at URL, which it leaves empty again), stores `--battles` battles drawn by the real pairing pool,
nine in ten voted, and prints the median time of each figure's query.
"""

from __future__ import annotations

import argparse
import random
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, insert, select

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank, read_demo_bank, remove_demo_content
from arena.migrate import upgrade
from arena.models import Battle, Reply, Vote
from arena.voting.exposure import most_revealed, revealed_before
from arena.voting.pairing import PairingPool
from tests.benchmarks.import_bench import timed


def fill(factory, battles: int, samples: int) -> None:
    with transaction(factory) as session:
        load_demo_bank(session, read_demo_bank())
        for reply in list(session.scalars(select(Reply))):
            for k in range(1, samples):
                session.add(Reply(prompt_id=reply.prompt_id, model_id=reply.model_id, sample=k,
                                  text=f"{reply.text} (another way, {k})"))  # fmt: skip
    rng, pool, start = random.Random(0), PairingPool(ttl_seconds=3600), datetime(2026, 1, 1)
    with factory() as session:
        draws = [pool.draw(session, rng) for _ in range(battles)]
    rows, votes = [], []
    for i, d in enumerate(draws):
        at = start + timedelta(seconds=30 * i)
        voted = rng.random() < 0.9
        rows.append({"id": i + 1, "public_id": f"bench-{i}", "prompt_id": d.prompt_id, "reply_a_id": d.reply_a_id,
                     "reply_b_id": d.reply_b_id, "model_a_id": d.model_a_id, "model_b_id": d.model_b_id,
                     "status": "voted" if voted else "open", "created_at": at, "metadata": {}})  # fmt: skip
        if voted:
            votes.append({"battle_id": i + 1, "model_a_id": d.model_a_id, "model_b_id": d.model_b_id,
                          "outcome": "tie", "created_at": at + timedelta(seconds=20)})  # fmt: skip
    with transaction(factory) as session:
        session.execute(insert(Battle), rows)
        session.execute(insert(Vote), votes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'exposure.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        factory = make_session_factory(engine)
        fill(factory, args.battles, args.samples)
        try:
            with factory() as session:
                top = timed(lambda: most_revealed(session), 5)
                share = timed(lambda: revealed_before(session), 5)
                known = revealed_before(session)
            print(f"{engine.dialect.name}: {args.battles:,} battles, {args.samples} samples: most_revealed "
                  f"{top * 1000:.0f} ms, revealed_before {share * 1000:.0f} ms "
                  f"({known.either_known:,} showed a revealed reply, {known.both_known:,} two)")  # fmt: skip
        finally:
            with transaction(factory) as session:
                session.execute(delete(Battle).where(Battle.public_id.like("bench-%")))
                remove_demo_content(session)
            engine.dispose()


if __name__ == "__main__":
    main()
