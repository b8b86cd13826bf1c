"""Reasons in the study, end to end on a synthetic arena imported with its reasons: per-model rates with Wilson
intervals in the recompute summary and at /api/reasons, the felt-heard mediation in `arena analysis eq` and on
/analysis, the board untouched, and the reasons gone with their votes under privacy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import func, select

from arena import create_app
from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.records import read_records
from arena.ingest.vote_import import import_votes
from arena.jobs.analysis import analyse
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Vote, VoteReason
from arena.voting.privacy import delete_visitor_data
from ratings.simulate import simulate_mediation
from tests.conftest import make_settings
from tests.votes_files import write_jsonl

# The difference method's target for simulate_mediation's defaults (direct 0.15, heard effect 1.2): its value on
# 300,000 battles of the same design (tests/ratings/test_mediation.py computes it the same way).
TRUE_SHARE = 0.54
VOTERS = [f"{k:032x}" for k in range(1, 201)]


def records(n: int = 1_500) -> list[dict]:
    arena = simulate_mediation(n, np.random.default_rng(11))
    out = []
    for k in range(n):
        a, b = int(arena.battles.model_a[k]), int(arena.battles.model_b[k])
        reasons_a = ["felt_heard"] if arena.heard_a[k] else []
        reasons_b = ["felt_heard"] if arena.heard_b[k] else []
        if not reasons_a and not reasons_b:
            # Every voter here answered: one who felt heard by neither reply said something else.
            reasons_b = ["too_long"]
        out.append({"question_id": f"s{k}", "model_a": f"m{a}", "model_b": f"m{b}", "tstamp": 1_700_000_000 + k,
                    "winner": "model_a" if arena.battles.score[k] else "model_b",
                    "judge_hash": VOTERS[int(arena.voter[k]) % len(VOTERS)],
                    "eq_a": {"overall": float(arena.eq_a[k])}, "eq_b": {"overall": float(arena.eq_b[k])},
                    "reasons_a": reasons_a, "reasons_b": reasons_b})  # fmt: skip
    return out


def wilson(k: int, n: int) -> tuple[float, float]:
    z = 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.fixture
def study(database_url, tmp_path):
    rows = records()
    engine = make_engine(database_url)
    factory, read = make_session_factory(engine), make_session_factory(engine, read_only=True)
    with transaction(factory) as s:
        import_votes(s, read_records(write_jsonl(tmp_path / "votes.jsonl", rows), "jsonl"))
    yield rows, factory, read
    engine.dispose()


def test_rates_mediation_and_page(study, database_url):
    rows, factory, read = study
    run = recompute(factory, read, RecomputeRequest(rounds=50, seed=1, filters=None))
    summary = run.summary["reasons"]
    assert summary["votes_with_reasons"] == len(rows)
    # Rates computed here from the file itself: each model's sides, and those tagged felt heard.
    for model in summary["models"]:
        sides = [r[f"reasons_{s}"] for r in rows for s in ("a", "b") if r[f"model_{s}"] == model["model"]]
        heard = sum("felt_heard" in tags for tags in sides)
        rate = model["rates"]["felt_heard"]
        assert model["sides"] == len(sides) and rate["tagged"] == heard
        assert rate["share"] == pytest.approx(heard / len(sides), abs=1e-6)
        assert (rate["ci_low"], rate["ci_high"]) == pytest.approx(wilson(heard, len(sides)), abs=1e-6)
        assert model["rates"]["unsafe"] == {"tagged": 0, "share": 0.0, "ci_low": 0.0,
                                            "ci_high": pytest.approx(wilson(0, len(sides))[1], abs=1e-6)}  # fmt: skip
    # Replies with higher EQ feel heard more often: the top model's rate is above the bottom one's.
    shares = {m["model"]: m["rates"]["felt_heard"]["share"] for m in summary["models"]}
    assert shares["m5"] > shares["m0"]
    # Reasons are no battles: the board counts exactly the imported votes.
    assert run.n_votes == len(rows)

    result = analyse(factory, read, min_eq_battles=50, seed=3)
    mediation = result["mediation"]
    assert mediation["reason"] is None and mediation["n_battles"] == len(rows)
    share = mediation["share"]
    assert share["ci_low"] <= TRUE_SHARE <= share["ci_high"]
    assert abs(share["estimate"] - TRUE_SHARE) < 0.2
    assert mediation["total"]["estimate"] > mediation["direct"]["estimate"] > 0

    app = create_app(make_settings(database_url))
    try:
        client = app.test_client()
        api = client.get("/api/reasons").get_json()
        assert api["run_id"] == run.run_id and api["reasons"] == summary
        page = client.get("/analysis").get_data(as_text=True)
        assert "Why people voted" in page and "goes with the voter saying it made them feel heard" in page
        assert f"{share['estimate']:.0%}" in page and "Felt heard" in page
    finally:
        app.extensions["arena.engine"].dispose()


def test_privacy_deletion_takes_the_reasons_with_the_votes(study):
    _, factory, _ = study
    of_mine = (
        select(func.count())
        .select_from(VoteReason)
        .join(Vote, Vote.id == VoteReason.vote_id)
        .join(Battle, Battle.id == Vote.battle_id)
        .where(Battle.judge_key == VOTERS[0])
    )
    with factory() as s:
        before = s.scalar(select(func.count()).select_from(VoteReason))
        mine = s.scalar(of_mine)
    with transaction(factory) as s:
        summary = delete_visitor_data(s, VOTERS[0])
    assert mine >= summary.votes > 0
    with factory() as s:
        assert s.scalar(of_mine) == 0
        assert s.scalar(select(func.count()).select_from(VoteReason)) == before - mine
