"""The pairing service draws uniformly over eligible model pairs, then over their shared prompts."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from scipy.stats import chisquare
from sqlalchemy import select, update

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.models import Model, Prompt
from arena.voting.pairing import NoBattleAvailable, PairingPool, eligible_pairs

# Which models replied to which prompt: pairs share 3, 2, 1 or 0 prompts, so a draw that were uniform
# over (pair, prompt) combinations instead of over pairs would be caught.
REPLIES = {
    "p1": ["m1", "m2", "m3"],
    "p2": ["m1", "m2"],
    "p3": ["m1", "m2", "m4"],
    "p4": ["m3", "m4"],
    "p5": ["m5"],
}


@pytest.fixture
def small_pool(session_factory):
    ids = {}
    with transaction(session_factory) as s:
        for prompt_text, slugs in REPLIES.items():
            prompt, _ = get_or_create_prompt(s, f"message {prompt_text}", source="curated")
            ids[prompt_text] = prompt.id
            for slug in slugs:
                model, _ = get_or_create_model(s, slug)
                ids[slug] = model.id
                get_or_create_reply(s, prompt, model, f"{slug} answers {prompt_text}")
    return ids


def pair_name(draw, ids):
    names = {v: k for k, v in ids.items() if k.startswith("m")}
    return tuple(sorted((names[draw.model_a_id], names[draw.model_b_id])))


def test_eligible_pairs_count_shared_prompts(session_factory, small_pool):
    with session_factory() as s:
        pairs = {(p.low_model_id, p.high_model_id): p.shared_prompts for p in eligible_pairs(s)}
    i = small_pool
    assert pairs == {
        (i["m1"], i["m2"]): 3,
        (i["m1"], i["m3"]): 1,
        (i["m2"], i["m3"]): 1,
        (i["m1"], i["m4"]): 1,
        (i["m2"], i["m4"]): 1,
        (i["m3"], i["m4"]): 1,
    }


def test_draws_are_uniform_over_pairs_then_prompts_with_recorded_probability(session_factory, small_pool):
    pool, rng = PairingPool(), random.Random(2024)
    pair_counts, prompt_counts, sides = Counter(), Counter(), Counter()
    n = 3000
    with session_factory() as s:
        for _ in range(n):
            draw = pool.draw(s, rng)
            pair = pair_name(draw, small_pool)
            pair_counts[pair] += 1
            if pair == ("m1", "m2"):
                prompt_counts[draw.prompt_id] += 1
                assert draw.probability == pytest.approx(1 / (6 * 3))
                sides[draw.model_a_id == small_pool["m1"]] += 1
            else:
                assert draw.probability == pytest.approx(1 / 6)
    assert len(pair_counts) == 6
    assert chisquare(list(pair_counts.values())).pvalue > 0.001
    assert len(prompt_counts) == 3 and chisquare(list(prompt_counts.values())).pvalue > 0.001
    assert chisquare([sides[True], sides[False]]).pvalue > 0.001


def test_replies_come_from_the_drawn_models_and_prompt(session_factory, small_pool):
    pool = PairingPool()
    with session_factory() as s:
        from arena.models import Reply

        for seed in range(50):
            draw = pool.draw(s, random.Random(seed))
            a, b = s.get(Reply, draw.reply_a_id), s.get(Reply, draw.reply_b_id)
            assert (a.model_id, b.model_id) == (draw.model_a_id, draw.model_b_id)
            assert a.prompt_id == b.prompt_id == draw.prompt_id


def test_inactive_models_and_prompts_leave_the_pool(session_factory, small_pool):
    with transaction(session_factory) as s:
        s.execute(update(Model).where(Model.slug.in_(["m3", "m4"])).values(active=False))
        s.execute(update(Prompt).where(Prompt.id == small_pool["p1"]).values(active=False))
    with session_factory() as s:
        pairs = [(p.low_model_id, p.high_model_id, p.shared_prompts) for p in eligible_pairs(s)]
    assert pairs == [(small_pool["m1"], small_pool["m2"], 2)]


def test_no_pair_means_no_battle(session_factory):
    with session_factory() as s, pytest.raises(NoBattleAvailable):
        PairingPool().draw(s)


def test_stale_cache_is_refreshed(session_factory, small_pool):
    pool = PairingPool(ttl_seconds=3600)
    with session_factory() as s:
        pool.draw(s, random.Random(1))
    with transaction(session_factory) as s:
        s.execute(update(Model).where(Model.slug.in_(["m3", "m4"])).values(active=False))
        s.execute(update(Prompt).where(Prompt.id != small_pool["p2"]).values(active=False))
    with session_factory() as s:
        for seed in range(20):
            draw = pool.draw(s, random.Random(seed))
            assert draw.prompt_id == small_pool["p2"]
            assert pair_name(draw, small_pool) == ("m1", "m2")


def store_weights(session_factory, ids, weights: dict[tuple[str, str], float]) -> None:
    from arena.models import PairWeight, RatingRun

    with transaction(session_factory) as s:
        run = RatingRun(params={}, seed=0, code_version="test", n_votes=0, summary={})
        s.add(run)
        s.flush()
        for (a, b), p in weights.items():
            low, high = sorted((ids[a], ids[b]))
            s.add(PairWeight(run_id=run.id, model_low_id=low, model_high_id=high, probability=p))


def test_active_sampling_draws_by_the_stored_weights_and_records_them(session_factory, small_pool):
    # The run weighed five of the six eligible pairs; (m3, m4) is new to it and gets the largest weight, 0.5.
    weights = {("m1", "m2"): 0.5, ("m1", "m3"): 0.1, ("m2", "m3"): 0.1, ("m1", "m4"): 0.1, ("m2", "m4"): 0.2}
    store_weights(session_factory, small_pool, weights)
    expected = {**weights, ("m3", "m4"): 0.5}
    total = sum(expected.values())
    pool, rng = PairingPool(sampling="active"), random.Random(7)
    counts, n = Counter(), 4000
    with session_factory() as s:
        for _ in range(n):
            draw = pool.draw(s, rng)
            pair = pair_name(draw, small_pool)
            counts[pair] += 1
            shared = 3 if pair == ("m1", "m2") else 1
            assert draw.probability == pytest.approx(expected[pair] / total / shared)
    observed = [counts[p] for p in expected]
    assert chisquare(observed, [n * w / total for w in expected.values()]).pvalue > 0.001
    # The uniform policy ignores the weights.
    with session_factory() as s:
        assert PairingPool().draw(s, random.Random(1)).probability in (pytest.approx(1 / 6), pytest.approx(1 / 18))


def test_active_sampling_without_weights_is_uniform(session_factory, small_pool):
    with session_factory() as s:
        draw = PairingPool(sampling="active").draw(s, random.Random(3))
    assert draw.probability in (pytest.approx(1 / 6), pytest.approx(1 / 18))


def add_samples(session_factory, ids, samples: dict[tuple[str, str], int]) -> dict[tuple[str, str], set[int]]:
    """Extra samples for some (prompt, model) pairs; returns every reply id of each of those pairs."""
    from arena.models import Reply

    with transaction(session_factory) as s:
        for (prompt_key, slug), n in samples.items():
            prompt, model = s.get(Prompt, ids[prompt_key]), s.get(Model, ids[slug])
            for k in range(1, n):
                get_or_create_reply(s, prompt, model, f"{slug} answers {prompt_key} a {k}th way")
    with session_factory() as s:
        return {
            (prompt_key, slug): set(
                s.scalars(select(Reply.id).where(Reply.prompt_id == ids[prompt_key], Reply.model_id == ids[slug]))
            )
            for prompt_key, slug in samples
        }


def test_battles_draw_every_sample_uniformly_and_keep_the_pair_probability(session_factory, small_pool):
    # m1 has 3 samples for p2 and m2 has 2; p1 and p3 keep one each. The pair, the prompt and the recorded
    # probability must not change: samples only change which of the pair's replies is shown.
    by_pair = add_samples(session_factory, small_pool, {("p2", "m1"): 3, ("p2", "m2"): 2})
    with session_factory() as s:
        pairs = {(p.low_model_id, p.high_model_id): p.shared_prompts for p in eligible_pairs(s)}
    assert pairs[(small_pool["m1"], small_pool["m2"])] == 3 and len(pairs) == 6

    pool, rng = PairingPool(), random.Random(11)
    pair_counts, prompt_counts, shown = Counter(), Counter(), Counter()
    n = 4000
    with session_factory() as s:
        for _ in range(n):
            draw = pool.draw(s, rng)
            pair = pair_name(draw, small_pool)
            pair_counts[pair] += 1
            if pair != ("m1", "m2"):
                assert draw.probability == pytest.approx(1 / 6)
                continue
            assert draw.probability == pytest.approx(1 / (6 * 3))
            prompt_counts[draw.prompt_id] += 1
            if draw.prompt_id == small_pool["p2"]:
                m1_on_a = draw.model_a_id == small_pool["m1"]
                shown[("m1", draw.reply_a_id if m1_on_a else draw.reply_b_id)] += 1
                shown[("m2", draw.reply_b_id if m1_on_a else draw.reply_a_id)] += 1
    assert chisquare(list(pair_counts.values())).pvalue > 0.001
    assert len(prompt_counts) == 3 and chisquare(list(prompt_counts.values())).pvalue > 0.001
    for slug in ("m1", "m2"):
        counts = [shown[(slug, reply_id)] for reply_id in sorted(by_pair[("p2", slug)])]
        assert all(counts) and chisquare(counts).pvalue > 0.001, (slug, counts)


def test_a_sample_of_an_inactive_model_never_shows(session_factory, small_pool):
    add_samples(session_factory, small_pool, {("p4", "m3"): 3})
    with transaction(session_factory) as s:
        s.execute(update(Model).where(Model.slug == "m3").values(active=False))
    with session_factory() as s:
        pool = PairingPool()
        for seed in range(40):
            assert "m3" not in pair_name(pool.draw(s, random.Random(seed)), small_pool)


def unconditioned_probabilities(pair_probability: dict[tuple[str, str], float]) -> dict[tuple[tuple, str], float]:
    """P(pair, prompt) of the unconditioned draw in the small pool: the pair's probability over its shared prompts."""
    shared = {}
    for prompt, slugs in REPLIES.items():
        for a in slugs:
            for b in slugs:
                if a < b:
                    shared.setdefault((a, b), []).append(prompt)
    return {(pair, prompt): p / len(shared[pair]) for pair, p in pair_probability.items() for prompt in shared[pair]}


@pytest.mark.parametrize("sampling", ["uniform", "active"])
@pytest.mark.parametrize("seen_prompts", [("p1",), ("p1", "p3"), ("p1", "p2", "p3")])
def test_a_visitor_is_shown_unseen_messages_with_the_probability_they_were_drawn_with(
    session_factory, small_pool, sampling, seen_prompts
):
    # ("p1", "p2", "p3") leaves only p4 (one pair, 1/6 of the unconditioned draw): the direct path, not redraws.
    i = small_pool
    pairs = [("m1", "m2"), ("m1", "m3"), ("m2", "m3"), ("m1", "m4"), ("m2", "m4"), ("m3", "m4")]
    if sampling == "active":
        weights = dict(zip(pairs, [0.4, 0.1, 0.1, 0.1, 0.1, 0.2], strict=True))
        store_weights(session_factory, i, weights)
    else:
        weights = dict.fromkeys(pairs, 1 / 6)
    p0 = unconditioned_probabilities(weights)
    names = {i[p]: p for p in REPLIES}
    unseen = sum(p for (_, prompt), p in p0.items() if prompt not in seen_prompts)
    expected = {key: p / unseen for key, p in p0.items() if key[1] not in seen_prompts}
    seen = frozenset(i[p] for p in seen_prompts)
    pool, rng, counts, n = PairingPool(sampling=sampling), random.Random(11), Counter(), 3000
    with session_factory() as s:
        for _ in range(n):
            draw = pool.draw(s, rng, seen=seen)
            key = (pair_name(draw, i), names[draw.prompt_id])
            assert key in expected, f"drew a seen message: {key}"
            assert draw.probability == pytest.approx(expected[key])
            counts[key] += 1
    assert sum(expected.values()) == pytest.approx(1.0)
    if len(expected) > 1:
        assert chisquare([counts[k] for k in expected], [n * p for p in expected.values()]).pvalue > 0.001


def test_once_every_message_is_seen_the_draw_is_unconditioned(session_factory, small_pool):
    everything = frozenset(small_pool[p] for p in REPLIES)
    with session_factory() as s:
        draws = [PairingPool().draw(s, random.Random(k), seen=everything) for k in range(50)]
    assert all(d.probability in (pytest.approx(1 / 6), pytest.approx(1 / 18)) for d in draws)
    assert len({d.prompt_id for d in draws}) > 1
