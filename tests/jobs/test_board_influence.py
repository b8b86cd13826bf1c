"""The influence rule on every emotion board, on stored votes, on both backends: Sybils that vote like the crowd
on one emotion's prompts only, but for the target when it is shown, are lost in the overall board's crowd and
bounded on their board; the honest votes all count; the admin page explains the reason and re-includes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert, select

from arena.db import make_engine, make_session_factory, transaction
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Model, Prompt, PromptEmotion, Vote
from arena.taxonomy import EMONET_GROUPS
from arena.voting import moderation
from arena.voting.moderation import INFLUENCE
from ratings import bradley_terry as bt
from ratings import influence

START = datetime(2026, 11, 1, tzinfo=UTC)
THETA = np.array([0.6, 0.3, 0.1, 0.0, -0.3, -0.7])  # the target clearly last on the honest board
TARGET = 5
# One category from each group, so each category's board is its group's board too (both judged).
CATEGORIES = [cats[0] for cats in EMONET_GROUPS.values()]
ATTACKED = CATEGORIES[0]


def traffic(seed: int):
    """(voter, network, prompt, a, b, outcome): 240 honest voters on their own networks over every category's
    prompts; 30 identities on one /24 that vote on the attacked category's prompts only."""
    rng = np.random.default_rng(seed)
    rows = []

    def crowd(a, b):
        return "model_a" if rng.random() < 1 / (1 + np.exp(-(THETA[a] - THETA[b]))) else "model_b"

    for voter in range(240):
        for _ in range(50):
            a, b = (int(x) for x in rng.choice(6, 2, replace=False))
            rows.append((f"honest-{voter}", f"home-{voter}", int(rng.integers(0, 2 * len(CATEGORIES))), a, b,
                         crowd(a, b)))  # fmt: skip
    for identity in range(30):
        for _ in range(20):
            a, b = (int(x) for x in rng.choice(6, 2, replace=False))
            backs = TARGET in (a, b) and rng.random() < 0.9
            outcome = ("model_a" if a == TARGET else "model_b") if backs else crowd(a, b)
            rows.append((f"sybil-{identity}", "net-sybil", int(rng.integers(0, 2)), a, b, outcome))
    return rows


def store(factory, rows) -> list[int]:
    with transaction(factory) as s:
        models = [Model(slug=f"model-{k}", display_name=f"Model {k}") for k in range(6)]
        s.add_all(models)
        prompts = [Prompt(text=f"p{k}", source="demo", content_hash=f"h{k}") for k in range(2 * len(CATEGORIES))]
        s.add_all(prompts)
        s.flush()
        s.add_all(PromptEmotion(prompt_id=p.id, category=CATEGORIES[k // 2]) for k, p in enumerate(prompts))
        ids, prompt_ids = [m.id for m in models], [p.id for p in prompts]
        when = [START + timedelta(minutes=k) for k in range(len(rows))]
        s.execute(insert(Battle), [
            {"id": n + 1, "public_id": f"b{n + 1}", "source": "arena", "judge_key": voter, "prompt_id": prompt_ids[p],
             "model_a_id": ids[a], "model_b_id": ids[b], "status": "voted", "created_at": when[n]}
            for n, (voter, _, p, a, b, _) in enumerate(rows)
        ])  # fmt: skip
        s.execute(insert(Vote), [
            {"battle_id": n + 1, "model_a_id": ids[a], "model_b_id": ids[b], "outcome": outcome,
             "created_at": when[n], "voter_key": voter, "network_hash": network}
            for n, (voter, network, _, a, b, outcome) in enumerate(rows)
        ])  # fmt: skip
    return ids


def run(database_url: str):
    engine = make_engine(database_url)
    try:
        request = RecomputeRequest(ci="sandwich", rounds=0)
        return recompute(make_session_factory(engine), make_session_factory(engine, read_only=True), request)
    finally:
        engine.dispose()


def board_fit(rows, counted) -> tuple[np.ndarray, np.ndarray]:
    """The attacked board's plain fit (points) of the votes `counted`, and its 95% half-widths."""
    wins = np.zeros((6, 6))
    for (_, _, p, a, b, outcome), keep in zip(rows, counted, strict=True):
        if keep and p < 2:
            wins[(a, b) if outcome == "model_a" else (b, a)] += 1
    theta = bt.fit(wins)
    covariance = np.linalg.pinv(influence.information(theta, wins + wins.T, bt.DEFAULT_ALPHA), hermitian=True)
    return bt.to_elo(theta), 1.96 * bt.ELO_SCALE * np.sqrt(np.diag(covariance))


def rank(scores, model) -> int:
    return int(np.sum(scores > scores[model])) + 1


def test_an_attack_on_one_emotion_board_is_bounded_there(database_url, session_factory):
    rows = traffic(seed=1)
    store(session_factory, rows)
    result = run(database_url)
    with session_factory() as s:
        status = dict(s.execute(select(Vote.battle_id, Vote.counts_for_leaderboard)).all())
        reasons = {r for (r,) in s.execute(select(Vote.exclusion_reason).distinct())}
    counted = [status[n + 1] for n in range(len(rows))]
    honest = [voter.startswith("honest") for voter, *_ in rows]
    fair, half_width = board_fit(rows, honest)
    unfiltered, _ = board_fit(rows, [True] * len(rows))
    bounded, _ = board_fit(rows, counted)
    assert unfiltered[TARGET] - fair[TARGET] > 2 * half_width[TARGET], "the attack must be real on its board"
    assert abs(bounded[TARGET] - fair[TARGET]) < half_width[TARGET]
    assert rank(bounded, TARGET) >= rank(fair, TARGET)
    assert all(c for c, h in zip(counted, honest, strict=True) if h), "every honest vote counts"
    assert reasons <= {None, INFLUENCE}
    on_board = [d for d in result.filters.details if d["reason"] == INFLUENCE and d["board"] != "overall"]
    assert on_board and {d["board"] for d in on_board} <= {ATTACKED, moderation_group()}
    assert all(d.get("network") == "net-sybil" or d.get("voter", "").startswith("sybil") for d in on_board)
    assert result.filters.influence_boards["boards_judged"] >= len(CATEGORIES)
    assert result.filters.tests["influence_boards"] > 0

    # The admin page explains it per board and re-includes it; a later run leaves those votes counted (and may
    # bound the group with others of its votes instead).
    assert "emotion board" in moderation.explain(INFLUENCE)
    set_aside = [n + 1 for n, c in enumerate(counted) if not c]
    with transaction(session_factory) as s:
        assert moderation.reinclude(s, INFLUENCE) == result.filters.excluded[INFLUENCE] == len(set_aside) > 0
    run(database_url)
    with session_factory() as s:
        assert all(s.scalars(select(Vote.counts_for_leaderboard).where(Vote.battle_id.in_(set_aside))))


def moderation_group() -> str:
    return next(group for group, cats in EMONET_GROUPS.items() if ATTACKED in cats)


def test_honest_traffic_on_boards_loses_nothing(database_url, session_factory):
    rows = [r for r in traffic(seed=2) if r[0].startswith("honest")]
    store(session_factory, rows)
    result = run(database_url)
    assert result.filters.excluded[INFLUENCE] == 0
    assert result.filters.influence_boards["boards_judged"] >= len(CATEGORIES)
