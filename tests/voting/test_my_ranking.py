"""The personal fit behind "Your ranking": a MAP Bradley-Terry checked against an independent optimiser, its
shrinkage toward the crowd, and the agreement figure; then on both databases with votes cast through the site."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy.optimize import minimize
from sqlalchemy import select

from arena.models import Battle
from arena.voting.my_ranking import (
    ELO_PER_LOGIT,
    CrowdRating,
    agreement,
    count_own_votes,
    has_enough_votes,
    map_bradley_terry,
    personal_ranking,
)
from tests.conftest import parse_battle_page
from tests.web.test_my_ranking import for_favourite, vote_until


def independent_map(prior: dict, games: dict, sd: float) -> dict:
    """The same posterior mode by BFGS on the negative log posterior, written out here."""
    models = sorted(prior)
    index = {m: k for k, m in enumerate(models)}
    mean = np.array([prior[m] for m in models])

    def negative_log_posterior(x):
        value = 0.5 * np.sum((x - mean) ** 2) / sd**2
        for (i, j), (wi, wj) in games.items():
            d = x[index[i]] - x[index[j]]
            value += wi * np.logaddexp(0, -d) + wj * np.logaddexp(0, d)
        return value

    result = minimize(negative_log_posterior, mean, method="BFGS", options={"gtol": 1e-10})
    return dict(zip(models, result.x, strict=True))


@pytest.mark.parametrize("seed", range(5))
def test_the_fit_is_the_posterior_mode(seed):
    rng = random.Random(seed)
    models = [f"m{k}" for k in range(8)]
    prior = {m: rng.gauss(0, 1) for m in models}
    games = {}
    for _ in range(12):
        i, j = rng.sample(models, 2)
        games[(i, j)] = (rng.randint(0, 4) + 0.5 * rng.randint(0, 1), rng.randint(0, 3))
    ours = map_bradley_terry(prior, games, sd=1.0)
    theirs = independent_map(prior, games, sd=1.0)
    assert max(abs(ours[m] - theirs[m]) for m in models) < 1e-5


def test_lopsided_counts_far_from_the_prior_still_reach_the_mode():
    # Hundreds of votes against a crowd 3 logits the other way: the first full Newton steps overshoot.
    prior = {"a": -3.0, "b": 3.0, "c": 0.0}
    games = {("a", "b"): (400, 2), ("b", "c"): (0, 300), ("a", "c"): (150, 150)}
    ours = map_bradley_terry(prior, games, sd=1.0)
    theirs = independent_map(prior, games, sd=1.0)
    assert max(abs(ours[m] - theirs[m]) for m in prior) < 1e-4
    assert ours["a"] > ours["b"]


def test_no_votes_leave_the_prior_and_unplayed_models_keep_it_exactly():
    prior = {"a": 0.3, "b": -0.2, "c": 1.1}
    assert map_bradley_terry(prior, {}) == prior
    fitted = map_bradley_terry(prior, {("a", "b"): (3, 0)})
    assert fitted["c"] == 1.1
    assert fitted["a"] > 0.3 and fitted["b"] < -0.2


def test_a_clean_sweep_stays_finite():
    # Without the prior, a model that won every vote would run off to infinity.
    fitted = map_bradley_terry({"a": 0.0, "b": 0.0}, {("a", "b"): (10, 0)})
    assert 0 < fitted["a"] < 3 and fitted["b"] == pytest.approx(-fitted["a"])


def test_one_vote_does_not_overturn_a_clear_crowd_order_but_many_do():
    crowd = {"strong": 1.0, "weak": -1.0}
    once = map_bradley_terry(crowd, {("weak", "strong"): (1, 0)})
    assert once["strong"] > once["weak"]
    consistently = map_bradley_terry(crowd, {("weak", "strong"): (12, 0)})
    assert consistently["weak"] > consistently["strong"]


def test_ties_pull_two_models_together():
    fitted = map_bradley_terry({"a": 1.0, "b": -1.0}, {("a", "b"): (5, 5)})
    assert -1.0 < fitted["b"] < fitted["a"] < 1.0


def test_agreement_counts_pairs_in_the_same_and_the_other_order():
    crowd = {"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0}
    same = agreement({"a": 3, "b": 2, "c": 1, "d": 0}, crowd, judged={"a", "b", "c", "d"})
    assert (same.pairs, same.same, same.opposite, same.tau) == (6, 6, 0, 1.0)
    reversed_ = agreement({"a": 0, "b": 1, "c": 2, "d": 3}, crowd, judged={"a", "b", "c", "d"})
    assert reversed_.tau == -1.0
    # Only models the visitor judged count: "d" below is placed by the prior alone.
    one_swap = agreement({"a": 2, "b": 3, "c": 1, "d": 0}, crowd, judged={"a", "b", "c"})
    assert (one_swap.models, one_swap.pairs, one_swap.same, one_swap.opposite) == (3, 3, 2, 1)
    assert one_swap.tau == pytest.approx(1 / 3)
    assert agreement(crowd, crowd, judged={"a"}).tau is None


def test_own_votes_on_both_databases(app, client, demo_loaded, session_factory):
    cast = vote_until(client, app, session_factory, for_favourite(), 5, favourite_seen=2)
    other = app.test_client()
    vote_until(other, app, session_factory, for_favourite("demo-fixer"), 12, favourite="demo-fixer")
    with session_factory() as s:
        key = judge_key_of(s, app, client)
        assert count_own_votes(s, key) == cast and has_enough_votes(s, key) == (cast >= 10)
    if cast < 10:
        cast += vote_until(client, app, session_factory, for_favourite(), 10 - cast)
    # A crowd that puts the favourite last by 2 logits and rates a model this visitor never met.
    names = ("demo-warm-listener", "demo-fixer", "demo-curious-coach", "demo-cheerleader", "demo-structured-guide")
    crowd = [CrowdRating(slug, slug, 1000 + 100 * k) for k, slug in enumerate(names)]
    crowd.append(CrowdRating("demo-brief", "Brief", 1000 - 2 * ELO_PER_LOGIT))
    crowd.append(CrowdRating("crowd-only", "Crowd only", 1234.5))
    with session_factory() as s:
        key = judge_key_of(s, app, client)
        assert has_enough_votes(s, key)
        ranking = personal_ranking(s, key, crowd)
    assert ranking.votes == cast and sum(r.battles for r in ranking.rows) == 2 * cast
    rows = {r.slug: r for r in ranking.rows}
    assert rows["crowd-only"].rating == pytest.approx(1234.5) and rows["crowd-only"].battles == 0
    # Its wins lift the favourite from its crowd score, by a finite amount.
    assert 1000 - 2 * ELO_PER_LOGIT < rows["demo-brief"].rating < 1400
    # Only this visitor's votes: the other visitor's 12 on the fixer's battles are not counted here.
    assert rows["demo-fixer"].battles <= cast
    assert ranking.agreement is not None and ranking.agreement.models >= 2


def judge_key_of(session, app, client) -> str:
    """The visitor key the client's battles are shown under, read from the battle it is shown next."""
    action, _ = parse_battle_page(client.get("/").get_data(as_text=True))
    public_id = app.extensions["arena.battle_ids"].unsign(action.split("/")[2])
    return session.scalar(select(Battle.judge_key).where(Battle.public_id == public_id))
