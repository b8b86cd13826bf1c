"""What several samples per (message, model) buy against a reply-to-model dictionary learned from reveals.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.samples_bench [--samples 1,2,3,5] [--reveals 126,500] [--seeds 20]

On the demo bank (48 messages x 6 personas) in a fresh SQLite file, each extra sample a distinct text. An attacker
sees `reveals` battles drawn by the real pairing pool and learns both replies of each; then 40 fresh battles are
drawn, and a reply the attacker has seen is one whose model they can name before voting. 126 reveals teach about
168 of the 288 single-sample replies, the demo attack's figure. Also times a pool refresh (the one query plus
pairing the replies up), since it reads every sample.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank, read_demo_bank
from arena.migrate import upgrade
from arena.models import Reply
from arena.voting.pairing import PairingPool

FRESH_BATTLES = 40


def bank_with_samples(directory: Path, samples: int):
    engine = make_engine(f"sqlite:///{directory / f'samples-{samples}.sqlite3'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        load_demo_bank(session, read_demo_bank())
        originals = list(session.scalars(select(Reply)))
        for reply in originals:
            for k in range(1, samples):
                session.add(Reply(prompt_id=reply.prompt_id, model_id=reply.model_id, sample=k,
                                  text=f"{reply.text} (another way, {k})"))  # fmt: skip
    return engine, factory


def attack(factory, reveals: int, seed: int) -> tuple[int, int, int]:
    """(replies learned, fresh replies named before any vote, replies in the bank)."""
    rng, pool = random.Random(seed), PairingPool(ttl_seconds=3600)
    learned: set[int] = set()
    with factory() as session:
        for _ in range(reveals):
            draw = pool.draw(session, rng)
            learned |= {draw.reply_a_id, draw.reply_b_id}
        named = 0
        for _ in range(FRESH_BATTLES):
            draw = pool.draw(session, rng)
            named += (draw.reply_a_id in learned) + (draw.reply_b_id in learned)
        bank = session.query(Reply).count()
    return len(learned), named, bank


def refresh_ms(factory, rounds: int = 20) -> float:
    pool = PairingPool()
    times = []
    with factory() as session:
        for _ in range(rounds):
            pool.invalidate()
            start = time.perf_counter()
            pool.draw(session, random.Random(0))
            times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", default="1,2,3,5")
    parser.add_argument("--reveals", default="126,500")
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    reveal_counts = [int(r) for r in args.reveals.split(",")]
    print(f"{'samples':>7} {'bank':>5} {'reveals':>7} {'learned':>8} {'named of 80':>12} {'refresh ms':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        for samples in (int(s) for s in args.samples.split(",")):
            engine, factory = bank_with_samples(Path(tmp), samples)
            refresh = refresh_ms(factory)
            for reveals in reveal_counts:
                runs = [attack(factory, reveals, seed) for seed in range(args.seeds)]
                learned = statistics.mean(r[0] for r in runs)
                named = statistics.mean(r[1] for r in runs)
                print(f"{samples:>7} {runs[0][2]:>5} {reveals:>7} {learned:>8.1f} {named:>12.1f} {refresh:>10.2f}")
            engine.dispose()


if __name__ == "__main__":
    main()
