"""Vote-quality filters benchmark: the recompute job's filter step on many votes cast here, SQLite and PostgreSQL.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.filters_bench [--votes 300000] [--voters 3000] [--models 50]
                                             [--postgres postgresql://postgres@127.0.0.1:5432/test_filters]

Honest voters with tastes, plus a few scripts (always A, coin flips, a flooder beyond the daily cap) and a cohort
of young identities on one network that vote only when one model is on screen. Honest voters sit on networks
like real ones: most alone, a third behind 20 shared addresses (schools, offices), each leaving some battles
unvoted. Prints the time of the read step (per-voter and per-network aggregates + first fit + tests), of the
write step (one UPDATE per rule), what was excluded, and the false-exclusion rate: the share of honest votes the
filters took out, overall and behind shared addresses; and a whole recompute with and without filters. Every
battle's prompt carries one or two EmoNet categories (`--prompts`, as in ratings_bench; 0 for untagged battles),
so the influence rule judges every emotion board too.
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
from arena.models import Battle, Model, Prompt, PromptEmotion, Vote
from arena.taxonomy import EMONET_CATEGORIES
from ratings.simulate import simulate_voters, true_strengths

OUTCOME = np.array(["model_a", "model_b", "tie", "both_bad"])
START = datetime(2026, 1, 1, tzinfo=UTC)


def populate(url: str, n_votes: int, n_voters: int, n_models: int, seed: int = 0, n_prompts: int = 400) -> None:
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
    extra.append(_picky_cohort(rng, n_models, theta, identities=30, votes=8))
    extra.append((flood.model_a, flood.model_b, flood.outcome, np.full(600, "flooder", dtype=object)))
    a = np.concatenate([a] + [e[0] for e in extra])
    b = np.concatenate([b] + [e[1] for e in extra])
    o = np.concatenate([o] + [e[2] for e in extra])
    v = np.concatenate([v] + [e[3] for e in extra])
    # Voters vote at most a few dozen times an hour; the flooder 600 times in ten hours.
    when = [START + timedelta(minutes=3 * k) for k in range(len(a) - 600)]
    when += [START + timedelta(seconds=10 * k) for k in range(600)]
    network = _networks(rng, v)
    # Honest voters leave about one battle in ten unvoted: the selective-voting rule compares with what was shown.
    left = rng.integers(0, len(a), len(a) // 10)
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        models = [Model(slug=f"m{k:03d}", display_name=f"M{k}") for k in range(n_models)]
        s.add_all(models)
        prompts = [Prompt(text=f"opener {p}", source="demo", content_hash=f"bench-{p}") for p in range(n_prompts)]
        s.add_all(prompts)
        s.flush()
        ids = [m.id for m in models]
        s.add_all(PromptEmotion(prompt_id=prompt.id, category=category) for p, prompt in enumerate(prompts)
                  for category in _tags(p))  # fmt: skip
        prompt_ids = [prompt.id for prompt in prompts]
    prompt = rng.integers(0, n_prompts, len(a)) if n_prompts else None
    chunk = 20_000
    for start in range(0, len(a), chunk):
        rows = range(start, min(start + chunk, len(a)))
        with transaction(factory) as s:
            s.execute(insert(Battle), [
                {"id": k + 1, "public_id": f"b{k + 1}", "source": "arena", "judge_key": f"v{v[k]}",
                 "model_a_id": ids[a[k]], "model_b_id": ids[b[k]], "status": "voted", "created_at": when[k],
                 "prompt_id": None if prompt is None else prompt_ids[prompt[k]]}
                for k in rows
            ])  # fmt: skip
            s.execute(insert(Vote), [
                {"battle_id": k + 1, "model_a_id": ids[a[k]], "model_b_id": ids[b[k]], "outcome": OUTCOME[o[k]],
                 "created_at": when[k], "voter_key": f"v{v[k]}", "network_hash": network[v[k]]}
                for k in rows
            ])  # fmt: skip
    # Explicit ids, as above: PostgreSQL's sequence never saw those.
    with transaction(factory) as s:
        s.execute(insert(Battle), [
            {"id": len(a) + n + 1, "public_id": f"left{n}", "source": "arena", "judge_key": f"v{v[k]}",
             "model_a_id": ids[a[k]], "model_b_id": ids[b[k]], "status": "open", "created_at": when[k]}
            for n, k in enumerate(left) if not str(v[k]).startswith("picky")
        ])  # fmt: skip
        # The picky cohort was shown three battles for each it voted on; it left those without its model.
        target = int(np.argmin(theta))
        others = [m for m in range(n_models) if m != target]
        s.execute(insert(Battle), [
            {"id": 2 * len(a) + n + 1, "public_id": f"picky-left{n}", "source": "arena",
             "judge_key": f"vpicky-{n % 30}", "model_a_id": ids[pair[0]], "model_b_id": ids[pair[1]],
             "status": "open", "created_at": START}
            for n, pair in enumerate(rng.choice(others, 2, replace=False) for _ in range(30 * 16))
        ])  # fmt: skip
    engine.dispose()


def _tags(p: int) -> list[str]:
    """One or two EmoNet categories per prompt, every category used (as ratings_bench tags its prompts)."""
    tags = [EMONET_CATEGORIES[p % len(EMONET_CATEGORIES)]]
    if p % 3 == 0 and EMONET_CATEGORIES[(p * 7 + 3) % len(EMONET_CATEGORIES)] not in tags:
        tags.append(EMONET_CATEGORIES[(p * 7 + 3) % len(EMONET_CATEGORIES)])
    return tags


def _picky_cohort(rng, n_models: int, theta, *, identities: int, votes: int):
    """Young identities that vote only in battles with the weakest model, for it 80% of the time (so their network
    alone is not one-sided), and leave the rest (stored as open battles by populate)."""
    target = int(np.argmin(theta))
    a = rng.integers(0, n_models, identities * votes)
    b = (a + rng.integers(1, n_models, len(a))) % n_models
    a = np.where((a != target) & (b != target), target, a)
    picks_target = rng.random(len(a)) < 0.8
    o = np.where((a == target) == picks_target, 0, 1)
    voters = np.array([f"picky-{k // votes}" for k in range(len(a))], dtype=object)
    return a, b, o, voters


def _networks(rng, voters) -> dict:
    """Most voters alone on their network; a third behind 20 shared addresses; each script on its own."""
    network = {}
    for voter in sorted(set(voters), key=str):
        name = str(voter)
        if name.startswith("picky"):
            network[voter] = "net-picky"
        elif not name.isdigit():
            network[voter] = f"net-{name}"
        else:
            network[voter] = f"shared-{rng.integers(20)}" if rng.random() < 1 / 3 else f"home-{name}"
    return network


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
    boards = getattr(decided, "board_vote_ids", None)
    if boards is not None:
        print(f"[{label}] emotion boards judged by the influence rule: "
              f"{decided.influence_boards.get('boards_judged', 0)}, votes set aside there: {len(boards)}")  # fmt: skip
    _false_exclusions(reader, label)
    for filters in (settings, None, settings):
        request = RecomputeRequest(ci="sandwich", categories=("overall",), filters=filters)
        t = time.perf_counter()
        recompute(factory, reader, request)
        print(f"[{label}] whole recompute (sandwich), filters {'on ' if filters else 'off'}: "
              f"{time.perf_counter() - t:.2f} s")  # fmt: skip
    engine.dispose()


def _false_exclusions(reader, label: str) -> None:
    """Honest voters' votes the filters took out (honest: numbered voters), overall and behind shared addresses."""
    with reader() as s:
        rows = s.execute(text(
            "SELECT v.voter_key, v.network_hash, v.counts_for_leaderboard, v.exclusion_reason FROM vote v"
        )).all()  # fmt: skip
    honest = [r for r in rows if r[0][1:].isdigit()]
    shared = [r for r in honest if r[1].startswith("shared")]
    for name, group in (("honest", honest), ("honest behind shared addresses", shared)):
        lost = [r for r in group if not r[2] and r[3] != "daily_cap"]
        print(f"[{label}] {name}: {len(lost)} of {len(group):,} votes excluded by the filters "
              f"({100 * len(lost) / max(len(group), 1):.3f}%)")  # fmt: skip
    picky = [r for r in rows if r[0].startswith("vpicky")]
    print(f"[{label}] picky cohort: {sum(not r[2] for r in picky)} of {len(picky)} votes excluded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--votes", type=int, default=300_000)
    parser.add_argument("--voters", type=int, default=3000)
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--prompts", type=int, default=400, help="tagged prompts the battles are drawn over (0: none)")
    parser.add_argument("--postgres", help="a PostgreSQL database to use (its tables are replaced)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.sqlite3'}"
        t = time.perf_counter()
        populate(url, args.votes, args.voters, args.models, n_prompts=args.prompts)
        print(f"[sqlite] populated in {time.perf_counter() - t:.1f} s")
        measure(url, "sqlite")
    if args.postgres:
        engine = make_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
        populate(args.postgres, args.votes, args.voters, args.models, n_prompts=args.prompts)
        measure(args.postgres, "postgresql")


if __name__ == "__main__":
    main()
