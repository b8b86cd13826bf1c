"""The composite board and the grounded acceptable-reply probabilities in the service: the recompute stores them
when a judge scored rated replies, the API and the leaderboard serve them; on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.jobs import composite_board
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, EqScore, JudgeVerdict, Model, Rating, RatingRun, Reply, Vote
from ratings import composite

SLUGS = ["m0", "m1", "m2", "m3", "m4", "m5"]
PROVIDERS = ["openai", "openai", "anthropic", None, None, "meta"]
THETA = np.array([0.9, 0.5, 0.2, -0.1, -0.5, -1.0])
PROMPTS = 30


def judged_arena(session_factory, judged: bool = True, seed: int = 4):
    """Six models answering 30 messages, 400 votes by 40 voters (BT outcomes, some ties and both-bad votes that
    fall more on weaker models), and a judge of the openai family that scored every reply."""
    rng = np.random.default_rng(seed)
    with transaction(session_factory) as s:
        models = [get_or_create_model(s, slug, provider=p)[0] for slug, p in zip(SLUGS, PROVIDERS, strict=True)]
        get_or_create_model(s, "judge-gpt", provider="openai", litellm_model="openai/gpt-4.1")
        replies = {}
        for k in range(PROMPTS):
            prompt, _ = get_or_create_prompt(s, f"I feel stuck, message {k}.", source="imported")
            for m, model in enumerate(models):
                reply = get_or_create_reply(s, prompt, model, f"reply {k} of {model.slug}")[0]
                replies[k, m] = (prompt, reply)
                if judged:
                    score = float(np.clip(np.rint(5 + 1.5 * (THETA[m] + rng.normal(0, 1))), 0, 10))
                    s.add(EqScore(reply_id=reply.id, judge="judge-gpt", criterion="overall", score=score))
        s.flush()
        for v in range(400):
            a = int(rng.integers(0, 6))
            b = int((a + rng.integers(1, 6)) % 6)
            k = int(rng.integers(0, PROMPTS))
            prompt, reply_a = replies[k, a]
            reply_b = replies[k, b][1]
            bad = 1 / (1 + np.exp(THETA[a] + 1.2) + np.exp(THETA[b] + 1.2))
            u = rng.random()
            p = 1 / (1 + np.exp(THETA[b] - THETA[a]))
            decisive = "model_a" if rng.random() < p else "model_b"
            outcome = "both_bad" if u < bad else "tie" if u < bad + 0.15 else decisive
            battle = Battle(public_id=f"b{v}", prompt_id=prompt.id, reply_a_id=reply_a.id, reply_b_id=reply_b.id,
                            model_a_id=models[a].id, model_b_id=models[b].id, status="voted",
                            judge_key=f"voter{v % 40}")  # fmt: skip
            s.add(battle)
            s.flush()
            s.add(Vote(battle_id=battle.id, model_a_id=models[a].id, model_b_id=models[b].id, outcome=outcome))


def _recompute(session_factory):
    return recompute(session_factory, session_factory, RecomputeRequest(rounds=50, filters=None))


def test_the_recompute_stores_a_composite_board_and_the_acceptable_replies(session_factory, client):
    judged_arena(session_factory)
    result = _recompute(session_factory)
    with session_factory() as s:
        run = s.get(RatingRun, result.run_id)
        stored = {c for (c,) in s.execute(select(Rating.category).where(Rating.run_id == run.id).distinct())}
        summary = run.summary
    assert {"overall", "composite"} <= stored
    judge = summary["composite"]["judges"][0]
    # The judge is of the openai family: m0's and m1's 60 replies are left out, 6 pairs of the other four per message.
    assert judge["judge"] == "judge-gpt" and judge["own_family_replies_left_out"] == 2 * PROMPTS
    assert judge["observations"] == 6 * PROMPTS
    assert summary["composite"]["folds"] == 5 and summary["composite"]["human_votes"] == 400
    assert judge["human_votes_per_observation"] in [w for w, _ in judge["heldout_loglik"]]
    assert summary["grounded"]["measured"] and summary["grounded"]["both_bad_votes"] > 0

    api = client.get("/api/leaderboard?category=composite")
    assert api.status_code == 200
    body = api.get_json()
    assert body["category"] == "composite" and body["composite"]["judges"][0]["judge"] == "judge-gpt"
    assert len(body["ratings"]) == 6 and all(r["ci_low"] < r["rating"] < r["ci_high"] for r in body["ratings"])
    overall = client.get("/api/leaderboard").get_json()
    assert overall["composite"] is None and overall["grounded"]["measured"]
    acceptable = {r["model"]: r["acceptable_reply"] for r in overall["ratings"]}
    assert all(0 < p < 1 for p in acceptable.values())
    # Both-bad votes fall on the weak: the strongest model's replies are more often acceptable than the weakest's.
    assert acceptable["m0"] > acceptable["m5"]
    low, high = next(r["acceptable_reply_ci"] for r in overall["ratings"] if r["model"] == "m0")
    assert low < acceptable["m0"] < high

    page = client.get("/leaderboard?category=composite")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Votes and judges" in html and "judge-gpt counts as" in html
    assert ">Acceptable</abbr>" in client.get("/leaderboard").get_data(as_text=True)


def test_the_services_read_at_judge_weight_zero_is_the_stored_human_board(session_factory):
    judged_arena(session_factory)
    result = _recompute(session_factory)
    with session_factory() as s:
        ids = [m for (m,) in s.execute(select(Model.id).where(Model.slug.in_(SLUGS)).order_by(Model.slug))]
        stored = dict(s.execute(select(Rating.model_id, Rating.rating).where(
            Rating.run_id == result.run_id, Rating.category == "overall")).all())  # fmt: skip
        inputs = composite_board.read(s, ids, "tie")
    fit = composite.fit(len(ids), [inputs.human, *(replace(j, weight=0.0) for j in inputs.judges)])
    assert max(abs(fit.rating[k] - stored[m]) for k, m in enumerate(ids)) < 1e-6


def test_without_judge_scores_there_is_no_composite_board(session_factory, client):
    judged_arena(session_factory, judged=False)
    result = _recompute(session_factory)
    with session_factory() as s:
        assert "composite" not in s.get(RatingRun, result.run_id).summary
    response = client.get("/api/leaderboard?category=composite")
    assert response.status_code == 404 and "error" in response.get_json()
    assert "Votes and judges" not in client.get("/leaderboard").get_data(as_text=True)


@pytest.mark.parametrize("category", ["composite", "Composite"])
def test_composite_is_a_board_name(category):
    from arena.jobs.snapshots import resolve_board

    assert resolve_board(category) == "composite"


FAVOURED = 3  # the pairwise judge below backs m3 against everyone


def add_verdicts(session_factory, judge="judge-pw", provider="openai"):
    """A pairwise judge of `provider`'s family on every voted battle's pair of replies, both orders: it backs m3
    against anyone and otherwise the truly stronger model. It is never given its own family's pairs, as the job
    never asks for them."""
    with transaction(session_factory) as s:
        get_or_create_model(s, judge, provider=provider, litellm_model=f"{provider}/judge")
        slug = dict(s.execute(select(Model.id, Model.slug)).all())
        family = dict(s.execute(select(Model.id, Model.provider)).all())
        pairs = {tuple(sorted(p)) for p in s.execute(select(Battle.reply_a_id, Battle.reply_b_id)).all()}
        model_of = dict(s.execute(select(Reply.id, Reply.model_id)).all())
        added = 0
        for low, high in sorted(pairs):
            if provider in (family[model_of[low]], family[model_of[high]]):
                continue
            m = {r: SLUGS.index(slug[model_of[r]]) for r in (low, high)}
            better = low if m[low] == FAVOURED or (m[high] != FAVOURED and THETA[m[low]] > THETA[m[high]]) else high
            for first, second, order in ((low, high, "ab"), (high, low, "ba")):
                verdict = "A" if better == first else "B"
                s.add(JudgeVerdict(judge=judge, reply_first_id=first, reply_second_id=second, shown_order=order,
                                   verdict=verdict, raw=f'{{"verdict": "{verdict}"}}'))  # fmt: skip
                added += 1
    return added


def test_pairwise_verdicts_are_a_source_of_the_composite_board(session_factory, client):
    judged_arena(session_factory, judged=False)
    added = add_verdicts(session_factory)
    result = _recompute(session_factory)
    with session_factory() as s:
        summary = s.get(RatingRun, result.run_id).summary["composite"]
        ids = [m for (m,) in s.execute(select(Model.id).where(Model.slug.in_(SLUGS)).order_by(Model.slug))]
        stored = dict(s.execute(select(Rating.model_id, Rating.rating).where(
            Rating.run_id == result.run_id, Rating.category == "overall")).all())  # fmt: skip
        inputs = composite_board.read(s, ids, "tie")
    (judge,) = summary["judges"]
    assert judge["judge"] == "judge-pw" and judge["kind"] == "verdicts" and judge["observations"] == added > 0
    assert judge["own_family_replies_left_out"] == 0
    (source,) = inputs.judges
    # Both orders of a pair are one cluster: as many clusters as pairs.
    assert len(np.unique(source.cluster)) == added // 2
    # Weight 0 is the human board; at weight 1 the judge's favourite rises and the board moves.
    zero = composite.fit(len(ids), [inputs.human, replace(source, weight=0.0)])
    assert max(abs(zero.rating[k] - stored[m]) for k, m in enumerate(ids)) < 1e-6
    one = composite.fit(len(ids), [inputs.human, replace(source, weight=1.0)])
    assert one.rating[FAVOURED] - zero.rating[FAVOURED] > 20
    assert max(abs(one.rating - zero.rating)) > 20
    html = client.get("/leaderboard?category=composite").get_data(as_text=True)
    assert "adds LLM judges' verdicts to the" in html and "One verdict by judge-pw counts as" in html
