"""The presentation arms in the study: on a synthetic arena whose votes follow Bradley-Terry plus a known effect of
one arm (and none of another), the analysis recovers the effect within its interval, in log-odds and in points
of win chance; the balance tables find the draw independent of model and category; the prediction comparison
fills its arms row; the CLI and /analysis say it."""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import insert, select

from arena.db import transaction
from arena.jobs.analysis import analyse
from arena.jobs.arm_study import win_points
from arena.jobs.prediction import predict
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Model, Prompt, PromptEmotion, Reply, Vote, utcnow
from arena.voting.arms import parse_arms
from tests.arena_cli import run_arena

TRUE_EFFECT = {"plain_text": 0.6, "no_helpline": 0.0}
DECLARED = parse_arms("plain_text:0.25,no_helpline:0.25")
CATEGORIES = ("Sadness", "Fear", "Amusement", "Contentment")
N_BATTLES = 2400


def build_arena(session_factory, n: int = N_BATTLES, seed: int = 5) -> dict:
    """Six models, twelve tagged prompts, replies of varied length; battles drawn uniformly, each side's arm drawn
    with DECLARED's probabilities; A wins with probability sigmoid(theta_a - theta_b + sum of arm effects, A's
    minus B's). Returns the truth."""
    rng = random.Random(seed)
    theta = np.linspace(-0.8, 0.8, 6)
    now = utcnow()
    with transaction(session_factory) as s:
        models = [Model(slug=f"arm-m{k}", display_name=f"Model {k}") for k in range(6)]
        prompts = [Prompt(text=f"message {p}", source="curated", content_hash=f"{p:064d}") for p in range(12)]
        s.add_all(models + prompts)
        s.flush()
        for p, prompt in enumerate(prompts):
            s.add(PromptEmotion(prompt_id=prompt.id, category=CATEGORIES[p % len(CATEGORIES)], intensity=2))
        replies = {}
        for prompt in prompts:
            for model in models:
                sentences = " ".join(f"Sentence {k} about this." for k in range(rng.randint(1, 5)))
                reply = Reply(prompt_id=prompt.id, model_id=model.id, text=sentences)
                s.add(reply)
                replies[(prompt.id, model.id)] = reply
        s.flush()
        battles, outcomes = [], []
        for k in range(n):
            a, b = rng.sample(range(6), 2)
            prompt = rng.choice(prompts)
            arm_a, prob_a = DECLARED.draw(rng)
            arm_b, prob_b = DECLARED.draw(rng)
            eta = theta[a] - theta[b] + TRUE_EFFECT.get(arm_a, 0.0) - TRUE_EFFECT.get(arm_b, 0.0)
            outcomes.append("model_a" if rng.random() < 1 / (1 + math.exp(-eta)) else "model_b")
            battles.append({
                "public_id": f"arm-{seed}-{k}", "source": "arena", "metadata": {}, "prompt_id": prompt.id,
                "reply_a_id": replies[(prompt.id, models[a].id)].id,
                "reply_b_id": replies[(prompt.id, models[b].id)].id,
                "model_a_id": models[a].id, "model_b_id": models[b].id, "judge_key": f"{rng.randrange(150):064d}",
                "status": "voted", "created_at": now, "expires_at": now + timedelta(hours=1),
                "arm_a": arm_a, "arm_b": arm_b, "arm_a_prob": prob_a, "arm_b_prob": prob_b,
            })  # fmt: skip
        s.execute(insert(Battle.__table__), battles)
        ids = dict(s.execute(select(Battle.public_id, Battle.id)).all())
        s.execute(
            insert(Vote.__table__),
            [{"battle_id": ids[row["public_id"]], "model_a_id": row["model_a_id"], "model_b_id": row["model_b_id"],
              "outcome": outcome, "created_at": now, "counts_for_leaderboard": True, "voter_key": row["judge_key"],
              "turns": 1} for row, outcome in zip(battles, outcomes, strict=True)],
        )  # fmt: skip
    return {"battles": n}


@pytest.fixture
def studied(session_factory):
    build_arena(session_factory)
    recompute(session_factory, session_factory, RecomputeRequest(rounds=10, filters=None, categories=("overall",)))
    return analyse(session_factory, session_factory, rounds=50)


def test_a_planted_arm_effect_is_recovered_within_its_interval(studied):
    arms = studied["arms"]
    effects = {e["arm"]: e for e in arms["effects"]}
    assert set(effects) == set(TRUE_EFFECT)
    for arm, truth in TRUE_EFFECT.items():
        e = effects[arm]
        assert e["identified"] and e["ci_low"] <= truth <= e["ci_high"], (arm, e)
        # Points of win chance: the same interval on the probability scale, per unit (arm against no arm).
        assert e["points_low"] <= win_points(truth) <= e["points_high"]
        assert e["points"] == pytest.approx(win_points(e["log_odds"]), abs=1e-3)
        assert e["ci_high"] - e["ci_low"] < 0.5
    assert effects["plain_text"]["ci_low"] > 0  # the planted effect is found, not just allowed
    # The arm covariates are per unit in the coefficient table too (never "per SD").
    rows = {c["feature"]: c for c in studied["coefficients"]}
    assert rows["arm_plain_text"]["scale"] == "unit" and rows["arm_plain_text"]["estimate_std"] is None
    # The study reads every armed battle, though the board leaves them out.
    assert arms["battles"] == N_BATTLES and arms["on_board"] is False


def test_the_balance_tables_find_the_draw_independent_of_model_and_category(studied):
    balance = studied["arms"]["balance"]
    for table, labels in (("model", 6), ("category", 4)):
        found = balance[table]
        assert found["columns"] == ["as stored", "no_helpline", "plain_text"]
        assert len(found["rows"]) == labels
        assert sum(sum(r["counts"]) for r in found["rows"]) == 2 * N_BATTLES
        test = found["test"]
        assert test["dof"] == (labels - 1) * 2 and test["p_value"] > 0.001
    sides = studied["arms"]["sides"]
    assert sum(sides.values()) == 2 * N_BATTLES and abs(sides["plain_text"] / (2 * N_BATTLES) - 0.25) < 0.03


def test_the_prediction_comparison_fills_its_arms_row(session_factory, studied):
    result = predict(session_factory, session_factory, folds=3)
    rows = {r["key"]: r for r in result["explanations"]}
    assert rows["arms"]["available"] is True and rows["arms"]["short"] == "Strengths + presentation arms"
    # Arms that move votes predict held-out votes better than strengths alone.
    assert rows["arms"]["log_loss"] < rows["bt"]["log_loss"]


def test_the_cli_and_the_page_say_it_in_points(database_url, session_factory, studied, client):
    out = run_arena("analysis", "eq", "--category", "overall", "--json", "--database-url", database_url)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["arms"]["effects"][1]["arm"] == "plain_text"
    text = run_arena("analysis", "eq", "--category", "overall", "--database-url", database_url).stdout
    assert "presentation arm plain_text" in text and "points of win chance" in text
    html = client.get("/analysis").get_data(as_text=True)
    assert "Replies shown as plain text (markdown flattened)" in html
    assert "Is the draw of arms balanced?" in html and "arm_plain_text" not in html
