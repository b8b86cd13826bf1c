"""What "Your ranking" costs per request: the pure-Python MAP Bradley-Terry fit by number of models and of the
visitor's votes (the votes spread over uniformly drawn pairs, as the site draws them), then the whole page (beside
/leaderboard) on SQLite with the demo bank, 10 of the visitor's votes and a crowd snapshot, and the check the
reveal adds to every vote. Prints milliseconds (median of repeats).

    python -m tests.benchmarks.my_ranking_bench [--repeats 20]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from arena.voting.my_ranking import map_bradley_terry

SIZES = ((6, 10), (6, 100), (28, 10), (28, 100), (28, 1000), (50, 1000))


def median_ms(work, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def fit_case(models: int, votes: int, seed: int = 1):
    rng = random.Random(seed)
    strength = [rng.gauss(0, 1) for _ in range(models)]
    prior = {f"m{k}": strength[k] + rng.gauss(0, 0.5) for k in range(models)}
    games: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for _ in range(votes):
        i, j = rng.sample(range(models), 2)
        won = rng.random() < 1 / (1 + math.exp(strength[j] - strength[i]))
        games[(f"m{i}", f"m{j}")][0 if won else 1] += 1
    return prior, {pair: tuple(w) for pair, w in games.items()}


def page_ms(repeats: int) -> tuple[float, float, float]:
    from arena import create_app
    from arena.db import make_engine, make_session_factory, transaction
    from arena.ingest.demo import load_demo_bank, read_demo_bank
    from arena.migrate import upgrade
    from tests.conftest import make_settings
    from tests.e2e.test_accessibility import cast_votes, recompute_ratings

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        with transaction(make_session_factory(engine)) as session:
            load_demo_bank(session, read_demo_bank())
        engine.dispose()
        app = create_app(make_settings(url))
        cast_votes(app.test_client(), 60)
        recompute_ratings(url)
        visitor = app.test_client()
        cast_votes(visitor, 10)
        assert 'id="yours-title"' in visitor.get("/me/ranking").get_data(as_text=True)
        result = (
            median_ms(lambda: visitor.get("/me/ranking"), repeats),
            median_ms(lambda: visitor.get("/leaderboard"), repeats),
            reveal_check_ms(app, repeats),
        )
        app.extensions["arena.engine"].dispose()
        return result


def reveal_check_ms(app, repeats: int) -> float:
    """The query every reveal adds (does this visitor have 10 votes yet?), for a visitor with 500 votes."""
    from sqlalchemy import select

    from arena.models import Battle
    from arena.voting.my_ranking import has_enough_votes
    from tests.e2e.test_accessibility import cast_votes

    heavy = app.test_client()
    cast_votes(heavy, 500)
    with app.extensions["arena.read_session_factory"]() as session:
        key = session.scalar(select(Battle.judge_key).order_by(Battle.id.desc()).limit(1))
        return median_ms(lambda: has_enough_votes(session, key), repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print("models  votes  fit ms")
    for models, votes in SIZES:
        prior, games = fit_case(models, votes)
        print(
            f"{models:6d} {votes:6d} {median_ms(lambda p=prior, g=games: map_bradley_terry(p, g), args.repeats):7.2f}"
        )
    mine, board, reveal = page_ms(args.repeats)
    print(
        f"SQLite, 6 demo models, 10 own votes, crowd snapshot: GET /me/ranking {mine:.2f} ms, "
        f"/leaderboard {board:.2f} ms"
    )
    print(f"the reveal's 10-votes check for a visitor with 500 votes: {reveal:.3f} ms")


if __name__ == "__main__":
    main()
