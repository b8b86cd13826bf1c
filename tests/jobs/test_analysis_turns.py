"""`arena analysis eq` on conversations: the turn-count covariates (the side shown first per further exchange, and
the EQ and length effects times the exchanges beyond the first), the EQ effect at each number of exchanges with its
standard error, and the analysis page's section on them; both backends."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select, update

from arena.db import make_engine, make_session_factory, transaction
from arena.models import Battle, Vote
from tests.arena_cli import run_arena
from tests.html_checks import active_content
from tests.votes_files import write_jsonl

EQ_AT_ONE = 0.25  # log-odds per point of the judge's scale, at a single exchange
EQ_PER_EXCHANGE = 0.15  # and more for every exchange beyond the first


def _battles(n: int, seed: int):
    """Battles whose EQ effect grows with the exchanges the voter saw (1 to 4); length has no effect."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 0.5, 8)
    records, turns = [], {}
    for k in range(n):
        a, b = rng.choice(8, 2, replace=False)
        eq_a, eq_b = rng.uniform(2, 9, 2).round(1)
        seen = int(rng.integers(1, 5))
        margin = strength[a] - strength[b] + (EQ_AT_ONE + EQ_PER_EXCHANGE * (seen - 1)) * (eq_a - eq_b)
        winner = "model_a" if rng.random() < 1 / (1 + np.exp(-margin)) else "model_b"
        tokens = rng.integers(20, 400, 2)
        records.append({
            "question_id": f"t{k}", "model_a": f"m{a}", "model_b": f"m{b}", "winner": winner,
            "judge_hash": f"voter-{rng.integers(0, 300)}", "tstamp": 1_700_000_000 + k,
            "eq_a": {"overall": float(eq_a)}, "eq_b": {"overall": float(eq_b)},
            "conv_metadata": {"sum_assistant_a_tokens": int(tokens[0]), "sum_assistant_b_tokens": int(tokens[1])},
        })  # fmt: skip
        turns[f"t{k}"] = seen
    return records, turns


def test_the_eq_effect_by_conversation_length_is_recovered_with_standard_errors(database_url, tmp_path, client):
    records, turns = _battles(4000, seed=11)
    path = write_jsonl(tmp_path / "votes.jsonl", records)
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as s:
        ids = dict(s.execute(select(Battle.public_id, Battle.id)).all())
        for seen in (2, 3, 4):
            chosen = [ids[q] for q, t in turns.items() if t == seen]
            s.execute(update(Vote).where(Vote.battle_id.in_(chosen)).values(turns=seen))
    engine.dispose()
    assert run_arena("ratings", "recompute", "--bootstrap", "50", "--database-url", database_url).returncode == 0
    result = run_arena("analysis", "eq", "--json", "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    coefficients = {c["feature"]: c for c in out["coefficients"]}
    assert {"eq_overall", "eq_overall_x_turns", "turns_position", "length_ratio_x_turns"} <= set(coefficients)
    for c in coefficients.values():
        assert c["se"] > 0 and abs(c["ci_high"] - c["ci_low"] - 2 * 1.959963984540054 * c["se"]) < 1e-5
    eq, slope = coefficients["eq_overall"], coefficients["eq_overall_x_turns"]
    assert eq["ci_low"] <= EQ_AT_ONE <= eq["ci_high"]
    assert slope["ci_low"] <= EQ_PER_EXCHANGE <= slope["ci_high"] and slope["ci_low"] > 0  # EI matters more
    for name in ("turns_position", "length_ratio_x_turns"):  # neither side nor length gains with exchanges
        assert coefficients[name]["ci_low"] <= 0 <= coefficients[name]["ci_high"]
    summary = out["turns"]
    assert summary["battles_by_turns"] == {str(t): sum(v == t for v in turns.values()) for t in (1, 2, 3, 4)}
    assert summary["multi_turn_battles"] == sum(v > 1 for v in turns.values())
    by_turns = {row["turns"]: row for row in summary["eq_effect_by_turns"]}
    assert set(by_turns) == {1, 2, 3, 4}
    assert by_turns[1]["estimate"] == eq["estimate"] and by_turns[1]["se"] == eq["se"]
    for t, row in by_turns.items():
        assert row["ci_low"] <= EQ_AT_ONE + EQ_PER_EXCHANGE * (t - 1) <= row["ci_high"]
    assert by_turns[4]["estimate"] > by_turns[1]["estimate"]

    html = client.get("/analysis").get_data(as_text=True)
    assert "As a conversation goes on" in html and "Judged EQ x exchanges" in html
    assert "extra effect per further exchange" in html and active_content(html) == []


def test_single_turn_analyses_have_no_turn_covariates(eq_arena):
    out = json.loads(run_arena("analysis", "eq", "--json", "--database-url", eq_arena).stdout)
    features = {c["feature"] for c in out["coefficients"]}
    assert not features & {"turns_position", "eq_overall_x_turns", "length_ratio_x_turns"}
    assert out["turns"] is None and not set(out["dropped_covariates"]) & {"turns_position", "eq_overall_x_turns"}
