"""What drawing only messages a visitor has not seen costs (arena/voting/pairing.py).

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.unseen_draw_bench [--models 6,20] [--prompts 48,1000] [--draws 400]

A bank of `models` x `prompts` replies (every model answers every message) in a fresh SQLite file. Prints the
median time of one whole draw (the pool cached, the two replies' texts read from the database) for a visitor who
has seen none, a quarter, three quarters (the direct path: below a quarter of the probability left) and all but one
of the messages, and of reading a visitor's seen messages (`seen_prompt_ids`) after that many battles.
"""

from __future__ import annotations

import argparse
import functools
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, select

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt
from arena.migrate import upgrade
from arena.models import Battle, Reply, utcnow
from arena.voting.pairing import PairingPool, seen_prompt_ids

VISITOR = "0" * 32


def bank(directory: Path, models: int, prompts: int):
    engine = make_engine(f"sqlite:///{directory / f'bank-{models}-{prompts}.sqlite3'}")
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        model_ids = [get_or_create_model(session, f"m{k}")[0].id for k in range(models)]
        prompt_ids = [get_or_create_prompt(session, f"message {k}", source="curated")[0].id for k in range(prompts)]
        session.flush()
        session.execute(insert(Reply), [{"prompt_id": p, "model_id": m, "sample": 0, "text": f"{m} on {p}"}
                                        for p in prompt_ids for m in model_ids])  # fmt: skip
    return engine, factory, prompt_ids, model_ids


def median_ms(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def shown(factory, prompt_ids: list[int], model_ids: list[int], count: int) -> None:
    """Store `count` battles shown to VISITOR, one per message, as the site would have."""
    with transaction(factory) as session:
        session.execute(Battle.__table__.delete())
        replies = dict(session.execute(select(Reply.prompt_id, Reply.id).where(Reply.model_id == model_ids[0])).all())
        others = dict(session.execute(select(Reply.prompt_id, Reply.id).where(Reply.model_id == model_ids[1])).all())
        rows = [{"public_id": f"b{k:08d}", "prompt_id": p, "reply_a_id": replies[p], "reply_b_id": others[p],
                 "model_a_id": model_ids[0], "model_b_id": model_ids[1], "sampling_prob": 0.5, "status": "open",
                 "judge_key": VISITOR, "created_at": utcnow()} for k, p in enumerate(prompt_ids[:count])]  # fmt: skip
        if rows:
            session.execute(insert(Battle), rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="6,20")
    parser.add_argument("--prompts", default="48,1000")
    parser.add_argument("--draws", type=int, default=400)
    args = parser.parse_args()
    print(f"{'models':>6} {'messages':>8} {'seen':>6} {'draw ms':>8} {'seen query ms':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for models in (int(m) for m in args.models.split(",")):
            for prompts in (int(p) for p in args.prompts.split(",")):
                engine, factory, prompt_ids, model_ids = bank(Path(tmp), models, prompts)
                pool, rng = PairingPool(ttl_seconds=3600), random.Random(0)
                for count in (0, prompts // 4, prompts * 3 // 4, prompts - 1):
                    shown(factory, prompt_ids, model_ids, count)
                    with factory() as session:
                        query = median_ms(lambda s=session: seen_prompt_ids(s, VISITOR), 50)
                        seen = seen_prompt_ids(session, VISITOR)
                        assert len(seen) == count
                        pool.draw(session, rng, seen=seen)  # the pool's one load, not timed
                        timed = functools.partial(pool.draw, session, rng, seen=seen)
                        draw = median_ms(timed, args.draws)
                    print(f"{models:>6} {prompts:>8} {count:>6} {draw:>8.3f} {query:>13.3f}")
                engine.dispose()


if __name__ == "__main__":
    main()
