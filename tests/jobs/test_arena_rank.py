"""arena-rank (LMArena's own ranking package, https://pypi.org/project/arena-rank/) reads the export of a
multi-turn arena: its loader takes the exported Parquet's model_a / model_b / winner columns as they are, its
Bradley-Terry fit rates every model, and the ratings agree with the arena's own (both databases)."""

from __future__ import annotations

import numpy as np

from arena.db import make_engine, make_session_factory
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Model
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.conftest import skip_or_fail
from tests.votes_files import WINNER, write_jsonl

NAMES = ["alpha", "bravo", "charlie", "delta", "echo"]


def multi_turn_records(n: int, seed: int) -> list[dict]:
    """Battles of two or three exchanges in sessions of up to three votes, outcomes drawn from known strengths."""
    rng = np.random.default_rng(seed)
    battles = simulate(true_strengths(len(NAMES), rng), n, rng, n_voters=40)
    records = []
    for k, (a, b, o) in enumerate(zip(battles.model_a, battles.model_b, battles.outcome, strict=True)):
        exchanges = 2 + k % 2
        sides = {
            side: [
                message
                for x in range(exchanges)
                for message in (
                    {"role": "user", "content": f"Message {x} of conversation {k}."},
                    {"role": "assistant", "content": f"{NAMES[model]} answers {x} of {k}."},
                )
            ]
            for side, model in (("conversation_a", a), ("conversation_b", b))
        }
        records.append({
            "question_id": f"mt-{k}", "model_a": NAMES[a], "model_b": NAMES[b], "winner": WINNER[int(o)],
            "tstamp": 1_750_000_000 + k, "turn": exchanges, "evaluation_session_id": f"session-{k // 3}",
            "evaluation_order": k % 3 + 1, **sides,
        })  # fmt: skip
    return records


def test_arena_rank_rates_every_model_of_a_multi_turn_export(database_url, tmp_path):
    try:
        import pandas as pd
        from arena_rank.models.bradley_terry import BradleyTerry
        from arena_rank.utils.data_utils import PairDataset
    except ModuleNotFoundError as exc:
        skip_or_fail(f"arena-rank is not installed ({exc.name}): pip install 'eq-arena[test]' brings it")
    path = write_jsonl(tmp_path / "multi.jsonl", multi_turn_records(900, seed=5))
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    out = tmp_path / "export"
    result = run_arena("export", "--format", "parquet", "--out", str(out), "--database-url", database_url)
    assert result.returncode == 0, result.stderr

    frame = pd.read_parquet(out / "battles.parquet")
    assert len(frame) == 900 and set(frame["turn"]) == {2, 3}
    dataset = PairDataset.from_pandas(frame)
    fitted = BradleyTerry(n_competitors=len(dataset.competitors)).compute_ratings_and_cis(dataset)
    theirs = dict(zip(fitted["competitors"], np.asarray(fitted["ratings"]), strict=True))
    assert sorted(theirs) == sorted(NAMES)
    low, high = np.asarray(fitted["rating_lower"]), np.asarray(fitted["rating_upper"])
    assert np.all(np.isfinite(low)) and np.all(low < high)

    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        run = recompute(factory, factory, RecomputeRequest(rounds=50, seed=1))
        overall = next(r for r in run.results if r.category == "overall")
        with factory() as s:
            slugs = {m.id: m.slug for m in s.query(Model)}
    finally:
        engine.dispose()
    ours = {slugs[m]: overall.board.rating[k] for k, m in enumerate(overall.model_ids)}
    # The same model on the same votes: the same order, and the same scale once both are centred (the arena adds
    # 0.01 virtual ties per pair, arena-rank a tiny ridge on the Hessian; neither moves a rating a point).
    centre = np.mean(list(theirs.values())) - np.mean(list(ours.values()))
    assert sorted(NAMES, key=theirs.get) == sorted(NAMES, key=ours.get)
    gap = max(abs(theirs[n] - centre - ours[n]) for n in NAMES)
    print(f"arena-rank vs arena: largest gap {gap:.4f} points")
    assert gap < 1.0
