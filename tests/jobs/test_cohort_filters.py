"""The filters that judge networks and young cohorts, on stored votes, on both backends: a network that favours
one model beyond the ratings and young identities that vote only when a model is on screen are excluded with
their own reasons; honest networks (a school, an office with a shared taste) lose nothing; re-inclusion holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import insert, select

from arena.db import make_engine, make_session_factory, transaction
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Model, Vote
from arena.voting import moderation
from arena.voting.moderation import INFLUENCE, NETWORK_ONE_SIDED, YOUNG_COHORT
from ratings.simulate import true_strengths

START = datetime(2026, 11, 1, tzinfo=UTC)
TARGET = 5  # the weakest model: true_strengths sorts them strongest first


class Traffic:
    """Battles shown (voted or left) per identity and network."""

    def __init__(self, seed: int, n_models: int = 6) -> None:
        self.rng = np.random.default_rng(seed)
        self.theta = np.sort(true_strengths(n_models, self.rng, spread=1.0))[::-1]
        self.rows: list[tuple] = []

    def pair(self) -> tuple[int, int]:
        a, b = self.rng.choice(len(self.theta), 2, replace=False)
        return int(a), int(b)

    def honest(self, voter: str, network: str, votes: int, *, liking: dict[int, float] | None = None) -> None:
        """Votes on every battle shown but the last, by the ratings plus a taste."""
        taste = np.array([self.rng.normal(0, 0.3) + (liking or {}).get(m, 0.0) for m in range(len(self.theta))])
        for _ in range(votes):
            a, b = self.pair()
            p = 1 / (1 + np.exp(-(self.theta[a] + taste[a] - self.theta[b] - taste[b])))
            outcome = "tie" if self.rng.random() < 0.1 else ("model_a" if self.rng.random() < p else "model_b")
            self.rows.append((voter, network, a, b, outcome))
        self.rows.append((voter, network, *self.pair(), None))

    def selective(self, voter: str, network: str, votes: int, *, for_target: float, skips: bool = True) -> None:
        """Picks the target `for_target` of the time when it is on screen, else the other side; skips every battle
        without it (or, not `skips`, votes a coin on them)."""
        while votes:
            a, b = self.pair()
            if TARGET not in (a, b):
                self.rows.append(
                    (voter, network, a, b, None if skips else str(self.rng.choice(["model_a", "model_b"])))
                )
                votes -= not skips
                continue
            picks_target = self.rng.random() < for_target
            self.rows.append((voter, network, a, b, "model_a" if (a == TARGET) == picks_target else "model_b"))
            votes -= 1

    def store(self, factory) -> list[int]:
        with transaction(factory) as s:
            models = [Model(slug=f"model-{k}", display_name=f"Model {k}") for k in range(len(self.theta))]
            s.add_all(models)
            s.flush()
            ids = [m.id for m in models]
            when = [START + timedelta(minutes=k) for k in range(len(self.rows))]
            s.execute(insert(Battle), [
                {"id": n + 1, "public_id": f"b{n + 1}", "source": "arena", "judge_key": voter, "model_a_id": ids[a],
                 "model_b_id": ids[b], "status": "open" if outcome is None else "voted", "created_at": when[n]}
                for n, (voter, _, a, b, outcome) in enumerate(self.rows)
            ])  # fmt: skip
            s.execute(insert(Vote), [
                {"battle_id": n + 1, "model_a_id": ids[a], "model_b_id": ids[b], "outcome": outcome,
                 "created_at": when[n], "voter_key": voter, "network_hash": network}
                for n, (voter, network, a, b, outcome) in enumerate(self.rows) if outcome is not None
            ])  # fmt: skip
        return ids


def run(database_url: str):
    engine = make_engine(database_url)
    try:
        factory = make_session_factory(engine)
        request = RecomputeRequest(ci="sandwich", categories=("overall",))
        return recompute(factory, make_session_factory(engine, read_only=True), request)
    finally:
        engine.dispose()


def by_group(session_factory) -> dict[str, list[tuple[bool, str | None]]]:
    with session_factory() as s:
        rows = s.execute(select(Vote.voter_key, Vote.counts_for_leaderboard, Vote.exclusion_reason)).all()
    groups: dict[str, list] = {}
    for voter, counts, reason in rows:
        groups.setdefault(voter.split("-")[0], []).append((counts, reason))
    return groups


def test_cohorts_are_excluded_with_their_reasons_and_honest_networks_are_not(database_url, session_factory):
    traffic = Traffic(seed=4)
    for k in range(20):
        traffic.honest(f"regular-{k}", f"home-{k}", 40)
    for k in range(40):  # a school: many young identities behind one address
        traffic.honest(f"pupil-{k}", "school", 10)
    for k in range(30):  # an office that shares a strong liking for the weakest model (taste, not a script)
        traffic.honest(f"clerk-{k}", "office", 10, liking={TARGET: 1.0})
    for k in range(15):  # young identities that vote only when the target is on screen, mostly for it
        traffic.selective(f"picky-{k}", "net-picky", 8, for_target=0.8)
    for k in range(15):  # young identities that always pick the target, skipping nothing else
        traffic.selective(f"shill-{k}", "net-shill", 12, for_target=1.0, skips=False)
    ids = traffic.store(session_factory)

    result = run(database_url)
    groups = by_group(session_factory)
    for honest in ("regular", "pupil", "clerk"):
        assert all(counts for counts, _ in groups[honest]), honest
    assert set(groups["picky"]) == {(False, YOUNG_COHORT)}
    # Their coin flips on the other battles move the board beyond chance too: the influence rule bounds them.
    assert {(False, NETWORK_ONE_SIDED), (True, None)} <= set(groups["shill"])
    assert set(groups["shill"]) <= {(False, NETWORK_ONE_SIDED), (False, INFLUENCE), (True, None)}
    assert result.filters.excluded[YOUNG_COHORT] == 15 * 8
    with session_factory() as s:  # the shills' votes in battles with the target; their coin flips still count
        shill_votes = s.execute(select(Vote.model_a_id, Vote.model_b_id).where(Vote.voter_key.like("shill-%"))).all()
    with_target = sum(ids[TARGET] in pair for pair in shill_votes)
    assert result.filters.excluded[NETWORK_ONE_SIDED] == with_target and len(shill_votes) == 15 * 12
    assert result.filters.voters[YOUNG_COHORT] == 1 and result.filters.voters[NETWORK_ONE_SIDED] == 1
    picky = next(d for d in result.filters.details if d["reason"] == YOUNG_COHORT)
    assert picky["model_id"] == ids[TARGET] and picky["identities"] == 15 and picky["share_voted"] == 1.0
    assert result.filters.tests["young_cohort"] > 0 and result.filters.tests["network_one_sided"] > 0

    # Explained on the admin page, and re-includable like every other reason: a later run leaves them counted.
    assert "on screen" in moderation.explain(YOUNG_COHORT) and "network" in moderation.explain(NETWORK_ONE_SIDED)
    with transaction(session_factory) as s:
        assert moderation.reinclude(s, YOUNG_COHORT) == 15 * 8
    again = run(database_url)
    assert all(counts for counts, _ in by_group(session_factory)["picky"])
    assert again.filters.excluded[YOUNG_COHORT] == 0 and again.filters.excluded[NETWORK_ONE_SIDED] == with_target


def test_a_cohort_that_stops_looking_suspicious_is_counted_again(database_url, session_factory):
    traffic = Traffic(seed=9)
    for k in range(20):
        traffic.honest(f"regular-{k}", f"home-{k}", 40)
    for k in range(15):
        traffic.selective(f"picky-{k}", "net-picky", 8, for_target=0.8)
    traffic.store(session_factory)
    assert run(database_url).filters.excluded[YOUNG_COHORT] == 120
    # The same identities vote on everything for a while: their record no longer stands out; the filters lift
    # their own earlier exclusion (nothing was deleted).
    for k in range(15):
        for _ in range(30):
            a, b = traffic.pair()
            p = 1 / (1 + np.exp(-(traffic.theta[a] - traffic.theta[b])))
            traffic.rows.append((f"picky-{k}", "net-picky", a, b, "model_a" if traffic.rng.random() < p else "model_b"))
    extra = Traffic(seed=9)
    extra.rows = traffic.rows[-15 * 30 :]
    with transaction(session_factory) as s:
        ids = s.scalars(select(Model.id).order_by(Model.id)).all()
        first = s.scalar(select(Battle.id).order_by(Battle.id.desc()).limit(1)) + 1
        s.execute(insert(Battle), [
            {"id": first + n, "public_id": f"x{n}", "source": "arena", "judge_key": voter, "model_a_id": ids[a],
             "model_b_id": ids[b], "status": "voted", "created_at": START + timedelta(days=1, minutes=n)}
            for n, (voter, _, a, b, _) in enumerate(extra.rows)
        ])  # fmt: skip
        s.execute(insert(Vote), [
            {"battle_id": first + n, "model_a_id": ids[a], "model_b_id": ids[b], "outcome": outcome,
             "created_at": START + timedelta(days=1, minutes=n), "voter_key": voter, "network_hash": network}
            for n, (voter, network, a, b, outcome) in enumerate(extra.rows)
        ])  # fmt: skip
    report = run(database_url).filters
    assert report.excluded[YOUNG_COHORT] == 0 and report.lifted >= 120
    # What is left of their lean toward the target (96 votes for it in 120 battles) still moves it far beyond
    # chance: the influence rule bounds it by setting aside the votes that pushed it most, not the cohort's.
    picky = by_group(session_factory)["picky"]
    assert set(picky) <= {(True, None), (False, INFLUENCE)}
    assert sum(counts for counts, _ in picky) >= 0.75 * 15 * (8 + 30)
