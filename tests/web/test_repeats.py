"""Repeated battles (ARENA_REPEAT_SHARE): the same pair of replies shown again, sides swapped, to the same visitor
and to others; never counted, never marked on the page; measured by the recompute and served at /api/reliability
and on /analysis. SQLite and PostgreSQL."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Model, Prompt, Rating, RatingRun, Reply, Vote
from arena.voting.moderation import REPEAT, reinclude
from arena.voting.pairing import PairingPool
from arena.voting.repeats import GAP, draw_repeat
from arena.voting.voting import AlreadyVoted, cast_vote, create_battle
from tests.conftest import parse_battle_page

pytestmark = pytest.mark.usefixtures("demo_loaded")
TTL = __import__("datetime").timedelta(hours=1)


def vote_next(client, outcome="model_a") -> tuple[str, str]:
    page = client.get("/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    action, token = parse_battle_page(html)
    reveal = client.post(action, data={"outcome": outcome, "csrf_token": token}, headers={"HX-Request": "true"})
    assert reveal.status_code == 200, reveal.get_data(as_text=True)
    return html, reveal.get_data(as_text=True)


def battles(session_factory) -> list[Battle]:
    with session_factory() as session:
        rows = list(session.scalars(select(Battle).order_by(Battle.id)))
        session.expunge_all()
        return rows


def always_repeat(app):
    app.extensions["arena.settings"] = replace(app.extensions["arena.settings"], repeat_share=1.0)


def test_a_repeat_shows_a_pair_again_swapped_and_never_counts(app, session_factory):
    first = app.test_client()
    for _ in range(GAP + 2):
        vote_next(first)
    originals = battles(session_factory)
    always_repeat(app)

    html, reveal = vote_next(first, "model_b")
    repeat = battles(session_factory)[-1]
    original = next(b for b in originals if b.id == repeat.meta["repeat_of"])
    # One of the visitor's own battles with at least GAP battles after it, sides swapped.
    assert original.id in {b.id for b in originals[: len(originals) - GAP]}
    assert (repeat.reply_a_id, repeat.reply_b_id) == (original.reply_b_id, original.reply_a_id)
    assert (repeat.model_a_id, repeat.model_b_id) == (original.model_b_id, original.model_a_id)
    assert repeat.judge_key == original.judge_key and repeat.sampling_prob is None
    # Nothing on the page or in the reveal tells it from any battle: no mark, no names before the vote.
    with session_factory() as session:
        names = [session.get(Model, m).display_name for m in (repeat.model_a_id, repeat.model_b_id)]
        # The demo's own texts may say "repeat" (a student repeating a year); only those mentions may show.
        texts = [session.get(Prompt, repeat.prompt_id).text] + [
            session.get(Reply, r).text for r in (repeat.reply_a_id, repeat.reply_b_id)
        ]
    in_texts = sum(text.lower().count("repeat") for text in texts)
    assert html.lower().count("repeat") <= in_texts and not any(name in html for name in names)
    assert "will not count" not in reveal and reveal.lower().count("repeat") <= in_texts
    with session_factory() as session:
        vote = session.scalar(select(Vote).where(Vote.battle_id == repeat.id))
        assert (vote.counts_for_leaderboard, vote.exclusion_reason) == (False, REPEAT)
        # One vote per battle still: the repeat's own id takes no second vote.
        with pytest.raises(AlreadyVoted):
            cast_vote(session, repeat.public_id, "model_a", voter_key=repeat.judge_key)
        session.rollback()
        # An admin cannot count repeats: that would count the pair twice.
        assert reinclude(session, REPEAT) == 0

    # Each own battle is repeated once at most.
    for _ in range(4):
        vote_next(first)
    repeats = [b for b in battles(session_factory) if b.meta.get("repeat_of")]
    assert len({b.meta["repeat_of"] for b in repeats}) == len(repeats)
    assert all(b.meta["repeat_of"] not in {r.id for r in repeats} for b in repeats)  # never a repeat of a repeat

    # Another visitor (once they have an identity: their first page makes it) is shown someone else's voted
    # pair, sides swapped.
    second = app.test_client()
    vote_next(second)
    assert not battles(session_factory)[-1].meta.get("repeat_of")
    vote_next(second)
    theirs = battles(session_factory)[-1]
    shown = next(b for b in originals + repeats if b.id == theirs.meta["repeat_of"])
    assert shown.judge_key != theirs.judge_key
    assert (theirs.reply_a_id, theirs.reply_b_id) == (shown.reply_b_id, shown.reply_a_id)


def test_without_repeat_share_nothing_is_repeated(app, session_factory):
    client = app.test_client()
    for _ in range(GAP + 4):
        vote_next(client)
    assert not any(b.meta.get("repeat_of") for b in battles(session_factory))


def seed_votes(session_factory, *, visitors: int, per_visitor: int, seed: int) -> list[str]:
    rng, pool = random.Random(seed), PairingPool()
    keys = [f"visitor-{seed}-{v}" for v in range(visitors)]
    with transaction(session_factory) as session:
        slugs = dict(session.execute(select(Model.id, Model.slug)).all())
        for key in keys:
            for _ in range(per_visitor):
                draw = pool.draw(session, rng)
                public_id = create_battle(session, draw, judge_key=key, ttl=TTL)
                cast_vote(session, public_id, _taste(slugs, draw, rng), voter_key=key)
    return keys


def _taste(slugs, draw, rng) -> str:
    """Voters who like warm replies, with noise and ties."""
    roll = rng.random()
    if roll < 0.2:
        return "tie"
    warm_a = slugs[draw.model_a_id] < slugs[draw.model_b_id]
    return "model_a" if (warm_a and roll < 0.75) or (not warm_a and roll >= 0.75) else "model_b"


def ratings_of(session_factory, run_id) -> list[tuple]:
    with session_factory() as session:
        return [
            (r.category, r.model_id, r.rating, r.ci_low, r.ci_high)
            for r in session.scalars(select(Rating).where(Rating.run_id == run_id).order_by(Rating.id))
        ]


def test_repeats_count_once_and_are_measured(app, session_factory):
    keys = seed_votes(session_factory, visitors=12, per_visitor=12, seed=5)
    request = RecomputeRequest(rounds=100, seed=3, filters=None)
    before = recompute(session_factory, session_factory, request)
    assert before.summary["reliability"] is None

    rng = random.Random(9)
    with transaction(session_factory) as session:
        slugs = dict(session.execute(select(Model.id, Model.slug)).all())
        for _ in range(3):
            for key in keys:
                draw = draw_repeat(session, key, rng)
                if draw is None:
                    continue
                public_id = create_battle(session, draw, judge_key=key, ttl=TTL)
                cast_vote(session, public_id, _taste(slugs, draw, rng), voter_key=key)
    after = recompute(session_factory, session_factory, request)

    # The repeats' votes are stored but left out of the fit: the same votes, the same ratings and intervals, so
    # no interval is narrower with repeats than without.
    assert after.n_votes == before.n_votes
    old, new = ratings_of(session_factory, before.run_id), ratings_of(session_factory, after.run_id)
    assert [row[:2] for row in old] == [row[:2] for row in new]
    for (_, _, rating, low, high), (_, _, rating2, low2, high2) in zip(old, new, strict=True):
        assert rating2 == pytest.approx(rating) and high2 - low2 >= (high - low) - 1e-9

    measured = after.summary["reliability"]
    assert measured["repeats"] >= len(keys) and measured["self_repeats"] > 0 and measured["items"] > 0
    for key in ("agreement", "self_consistency", "ceiling"):
        low, high = measured[key]["ci"]
        assert low <= measured[key]["value"] <= high
    assert measured["agreement"]["value"] <= measured["ceiling_bound"]["value"]

    client = app.test_client()
    api = client.get("/api/reliability")
    assert api.status_code == 200
    body = api.get_json()
    with session_factory() as session:
        assert body["run_id"] == session.scalar(select(RatingRun.id).order_by(RatingRun.id.desc()).limit(1))
    assert body["reliability"]["repeats"] == measured["repeats"]
    assert "voter" not in str(body).replace("voters", "")  # counts only, never a visitor's key
    assert not any(key in api.get_data(as_text=True) for key in keys)
    page = client.get("/analysis").get_data(as_text=True)
    assert "How far people agree" in page and "no AI judge can be expected to match" in page


def test_reliability_before_any_run_is_404(client):
    response = client.get("/api/reliability")
    assert response.status_code == 404 and "recompute" in response.get_json()["error"]


def test_the_repeat_share_setting(monkeypatch):
    from arena.config import ConfigError, Settings

    monkeypatch.delenv("ARENA_REPEAT_SHARE", raising=False)
    assert Settings.from_env().repeat_share == 0.02 and Settings().repeat_share == 0.0
    monkeypatch.setenv("ARENA_REPEAT_SHARE", "0")
    assert Settings.from_env().repeat_share == 0.0
    for bad in (0.05, -0.01):
        with pytest.raises(ConfigError, match="ARENA_REPEAT_SHARE must be 0"):
            Settings(secret_key="x", repeat_share=bad).validated()
