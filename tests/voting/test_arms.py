"""Randomised presentation arms: the declaration, the seeded draw per side with stored probabilities, the text the
page shows (and rebuilds), and the model board that leaves armed battles out unless the operator says otherwise."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from scipy.stats import chisquare
from sqlalchemy import func, select

from arena import create_app
from arena.config import ConfigError
from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.jobs.export import battle_rows
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, RatingRun, Vote
from arena.voting.arms import (
    NO_ARMS,
    SHOWN,
    ArmDeclarationError,
    digest,
    parse_arms,
    shown_texts,
)
from arena.voting.moderation import PRESENTATION_ARM
from arena.voting.pairing import PairingPool
from arena.voting.repeats import draw_repeat
from arena.voting.voting import create_battle
from arena.web.markdown import render_markdown
from tests.conftest import make_settings, parse_battle_page

DECLARED = "plain_text:0.2,length_matched:0.3"
LONG = (
    "## A plan\n\nThat sounds hard. **You** are not alone.\n\n- Rest tonight.\n- Call a friend tomorrow.\n\nI'm here."
)
SHORT = "That sounds really hard. I'm here."


@pytest.mark.parametrize(
    ("declared", "says"),
    [
        ("plain_text", "name:probability pairs"),
        ("bold_font:0.1", "unknown arm 'bold_font' (known: no_helpline, plain_text, length_matched)"),
        ("plain_text:0.1,plain_text:0.2", "'plain_text' is declared twice"),
        ("plain_text:lots", "'plain_text' needs a number for its probability, got 'lots'"),
        ("plain_text:1.5", "must be between 0 and 1"),
        ("plain_text:0", "must be between 0 and 1"),
        ("plain_text:0.6,no_helpline:0.4", "add up to 1 or more"),
    ],
)
def test_a_bad_declaration_is_refused_with_its_reason(declared, says):
    with pytest.raises(ArmDeclarationError, match="ARENA_ARMS") as refused:
        parse_arms(declared)
    assert says in str(refused.value)


def test_a_bad_declaration_stops_the_site_from_starting(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}", arms="plain_text:2")
    with pytest.raises(ConfigError, match="ARENA_ARMS: the probability of 'plain_text' must be between 0 and 1"):
        create_app(settings)


def test_a_declaration_reads_back_with_the_control_share():
    arms = parse_arms(" plain_text:0.1, no_helpline:0.1 ,length_matched:0.1 ")
    assert arms.names == ("plain_text", "no_helpline", "length_matched")
    assert arms.control == pytest.approx(0.7) and parse_arms(arms.as_setting()) == arms
    assert not parse_arms("") and parse_arms(None) is NO_ARMS


@pytest.fixture
def two_prompts(session_factory):
    with transaction(session_factory) as s:
        for p in range(2):
            prompt, _ = get_or_create_prompt(s, f"message {p}", source="curated")
            for m, text in enumerate((LONG, SHORT, "Oh no. " * 3 + "Tell me more?")):
                model, _ = get_or_create_model(s, f"m{m}")
                get_or_create_reply(s, prompt, model, f"{text} ({p})")


def test_seeded_draws_respect_and_store_the_declared_probabilities(session_factory, two_prompts):
    arms = parse_arms(DECLARED)
    expected = {"plain_text": 0.2, "length_matched": 0.3, None: 0.5}
    pool, plain = PairingPool(arms=arms), PairingPool()
    sides, n = Counter(), 1000
    with session_factory() as s:
        draws = [pool.draw(s, random.Random(seed)) for seed in range(n)]
        # Arms are drawn last: without them the same seeds draw exactly the same battles as before.
        for seed, draw in enumerate(draws[:200]):
            before = plain.draw(s, random.Random(seed))
            assert before.arms is None
            assert (before.prompt_id, before.reply_a_id, before.reply_b_id) == (
                draw.prompt_id, draw.reply_a_id, draw.reply_b_id,
            )  # fmt: skip
        # The same seed, the same arms.
        again = pool.draw(s, random.Random(7)).arms
    assert (again.arm_a, again.arm_b) == (draws[7].arms.arm_a, draws[7].arms.arm_b)
    for draw in draws:
        chosen = draw.arms
        for arm, probability in ((chosen.arm_a, chosen.prob_a), (chosen.arm_b, chosen.prob_b)):
            assert probability == pytest.approx(expected[arm])
            sides[arm] += 1
        # What the draw shows is what the stored replies and arms rebuild.
        assert (draw.reply_a_text, draw.reply_b_text) == (chosen.shown_a, chosen.shown_b)
    observed = [sides[arm] for arm in expected]
    assert chisquare(observed, [2 * n * p for p in expected.values()]).pvalue > 0.001
    # Each side independently: both sides armed about as often as the product says.
    both = sum(d.arms.arm_a is not None and d.arms.arm_b is not None for d in draws)
    assert abs(both - n * 0.25) < 4 * (n * 0.25 * 0.75) ** 0.5

    stored = {}
    with transaction(session_factory) as s:
        for draw in draws[:40]:
            stored[create_battle(s, draw, judge_key="k" * 64, ttl=timedelta(hours=1))] = draw
    with session_factory() as s:
        for public_id, draw in stored.items():
            battle = s.scalar(select(Battle).where(Battle.public_id == public_id))
            assert (battle.arm_a, battle.arm_b) == (draw.arms.arm_a, draw.arms.arm_b)
            assert (battle.arm_a_prob, battle.arm_b_prob) == pytest.approx((draw.arms.prob_a, draw.arms.prob_b))
            rebuilt = shown_texts(battle.reply_a.text, battle.reply_b.text, battle.arm_a, battle.arm_b)
            assert rebuilt == (draw.reply_a_text, draw.reply_b_text)
            if draw.arms.applied:
                assert battle.meta[SHOWN] == {"version": "arms/1", "a": digest(rebuilt[0]), "b": digest(rebuilt[1])}
            else:
                assert SHOWN not in battle.meta


@pytest.fixture
def app_settings(database_url):
    return make_settings(database_url, arms="plain_text:0.45,length_matched:0.45")


def _armed_battle(client, session_factory):
    """Draw battles until one shows a side changed by its arm; its page, battle and shown texts."""
    for _ in range(40):
        page = client.get("/").get_data(as_text=True)
        with session_factory() as s:
            battle = s.scalars(select(Battle).order_by(Battle.id.desc())).first()
            texts = (battle.reply_a.text, battle.reply_b.text)
            shown = shown_texts(*texts, battle.arm_a, battle.arm_b)
            if shown != texts:
                return page, battle.public_id, texts, shown
    pytest.fail("no battle changed by an arm in 40 draws")


def test_the_page_shows_the_arms_text_on_every_view_and_in_the_reveal(client, demo_loaded, session_factory):
    page, public_id, stored, shown = _armed_battle(client, session_factory)
    changed = 0 if shown[0] != stored[0] else 1
    for html in (page,):
        assert str(render_markdown(shown[0])) in html and str(render_markdown(shown[1])) in html
        assert str(render_markdown(stored[changed])) not in html
    action, csrf = parse_battle_page(page)
    reloaded = client.get(action.removesuffix("/vote")).get_data(as_text=True)
    assert str(render_markdown(shown[changed])) in reloaded
    reveal = client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers={"HX-Request": "true"})
    assert reveal.status_code == 200
    assert str(render_markdown(shown[changed])) in reveal.get_data(as_text=True)


def _vote_everything(client, n: int) -> None:
    for k in range(n):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        outcome = ("model_a", "model_b", "tie")[k % 3]
        assert client.post(action, data={"outcome": outcome, "csrf_token": csrf}).status_code in (200, 303)


def test_the_model_board_leaves_armed_battles_out_unless_the_operator_says(
    database_url, demo_loaded, session_factory
):  # fmt: skip
    app = create_app(make_settings(database_url, arms="plain_text:0.3"))
    _vote_everything(app.test_client(), 40)
    app.extensions["arena.engine"].dispose()
    with session_factory() as s:
        armed = s.scalar(
            select(func.count()).select_from(Battle).join(Vote, Vote.battle_id == Battle.id)
            .where((Battle.arm_a.is_not(None)) | (Battle.arm_b.is_not(None)))
        )  # fmt: skip
    assert 0 < armed < 40
    request = RecomputeRequest(rounds=10, filters=None)
    first = recompute(session_factory, session_factory, request)
    assert first.n_votes == 40 - armed and first.excluded == {PRESENTATION_ARM: armed}
    with session_factory() as s:
        reasons = dict(
            s.execute(
                select(Vote.exclusion_reason, func.count()).join(Battle, Battle.id == Vote.battle_id)
                .where((Battle.arm_a.is_not(None)) | (Battle.arm_b.is_not(None))).group_by(Vote.exclusion_reason)
            ).all()
        )  # fmt: skip
        assert reasons == {PRESENTATION_ARM: armed}
    # The operator's choice (ARENA_ARMS_ON_BOARD): the next run counts them, and records that it did.
    second = recompute(session_factory, session_factory, RecomputeRequest(rounds=10, filters=None, arms_on_board=True))
    assert second.n_votes == 40 and second.excluded == {}
    with session_factory() as s:
        assert s.get(RatingRun, second.run_id).params["arms_on_board"] is True
    third = recompute(session_factory, session_factory, request)
    assert third.n_votes == 40 - armed
    # The export names each side's arm and probability beside the replies as written.
    with session_factory() as s:
        stored = {b.public_id: (b.arm_a, b.arm_b, b.arm_a_prob, b.reply_a.text) for b in s.scalars(select(Battle))}
        rows = list(battle_rows(s, public=False, skipped=[]))
    assert len(rows) == 40 and sum(r["arm_a"] is not None or r["arm_b"] is not None for r in rows) == armed
    for row in rows:
        exported = (row["arm_a"], row["arm_b"], row["arm_a_prob"], row["conversation_a"][1]["content"])
        assert exported == stored[row["question_id"]]


def test_without_arms_no_battle_changes(database_url, demo_loaded, session_factory):
    app = create_app(make_settings(database_url))
    _vote_everything(app.test_client(), 10)
    app.extensions["arena.engine"].dispose()
    with session_factory() as s:
        rows = s.execute(select(Battle.arm_a, Battle.arm_b, Battle.arm_a_prob, Battle.arm_b_prob, Battle.meta)).all()
    assert len(rows) == 10 and all(row[:4] == (None, None, None, None) and SHOWN not in row[4] for row in rows)
    assert recompute(session_factory, session_factory, RecomputeRequest(rounds=10, filters=None)).n_votes == 10


def test_a_repeat_shows_each_reply_under_the_arm_it_had(session_factory, two_prompts):
    pool, rng = PairingPool(arms=parse_arms("plain_text:0.45,length_matched:0.45")), random.Random(3)
    with session_factory() as s:
        draw = next(d for d in (pool.draw(s, rng) for _ in range(50)) if d.arms.arm_a != d.arms.arm_b)
    with transaction(session_factory) as s:
        public_id = create_battle(s, draw, judge_key="a" * 64, ttl=timedelta(hours=1))
        battle = s.scalar(select(Battle).where(Battle.public_id == public_id))
        s.add(Vote(battle_id=battle.id, model_a_id=battle.model_a_id, model_b_id=battle.model_b_id, outcome="tie"))
    with session_factory() as s:
        repeat = draw_repeat(s, "b" * 64, random.Random(0))
    assert repeat is not None and repeat.reply_a_id == draw.reply_b_id
    assert (repeat.arms.arm_a, repeat.arms.arm_b) == (draw.arms.arm_b, draw.arms.arm_a)
    assert (repeat.reply_a_text, repeat.reply_b_text) == (draw.reply_b_text, draw.reply_a_text)
