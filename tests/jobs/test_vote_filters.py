"""The recompute job's vote-quality filters on stored votes, on both backends: scripted voters are excluded with
their reason and nothing is lost; re-included votes stay counted; other reasons, imported and anonymous votes
are never touched; the filters can be switched off."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import func, insert, select

from arena import create_app
from arena.db import make_engine, make_session_factory, transaction
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.jobs.vote_filters import DAILY_CAP, ONE_SIDED, OUTLIER_VOTER, FilterSettings
from arena.models import Battle, Model, RatingRun, Vote
from ratings.outcomes import Outcome
from ratings.simulate import simulate_voters, true_strengths
from tests.arena_cli import run_arena
from tests.conftest import make_settings

CAP = 50
# These votes carry no network (cast before networks were kept, or imported): the cohort rules see none.
NO_COHORTS = {"network_one_sided": 0, "young_cohort": 0, "influence": 0}
FILTERS = FilterSettings(daily_cap=CAP)
TOKEN = "admin-token-for-filter-tests-0123456789"
OUTCOME = {Outcome.A_WINS: "model_a", Outcome.B_WINS: "model_b", Outcome.TIE: "tie", Outcome.BOTH_BAD: "both_bad"}
START = datetime(2026, 11, 1, tzinfo=UTC)
# The flooder's first day ends at midnight UTC: 70 votes from 23:00, then 30 more after midnight.
FLOOD_DAY = datetime(2026, 11, 10, 23, 0, tzinfo=UTC)


class Arena:
    """Builds battles with their votes: (voter key, model a, model b, outcome, time, source, counts, reason)."""

    def __init__(self, n_models: int, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.theta = true_strengths(n_models, self.rng, spread=1.5)
        self.rows: list[tuple] = []

    def honest(self, key: str, times: list[datetime], **extra) -> None:
        battles = simulate_voters(self.theta, np.array([len(times)]), self.rng, taste_sd=0.5, favourite_boost=1.0)
        for a, b, o, t in zip(battles.model_a, battles.model_b, battles.outcome, times, strict=True):
            self.add(key, int(a), int(b), OUTCOME[Outcome(o)], t, **extra)

    def scripted(self, key: str | None, n: int, pick, *, always_in: int | None = None, **extra) -> None:
        """A script's votes, one an hour; `always_in`: it reloads until that model is on screen."""
        n_models = len(self.theta)
        for k in range(n):
            a, b = (int(x) for x in self.rng.choice(n_models, 2, replace=False))
            if always_in is not None and always_in not in (a, b):
                a = always_in if self.rng.random() < 0.5 else a
                b = always_in if a != always_in else b
            self.add(key, a, b, pick(a, b), START + timedelta(hours=k), **extra)

    def add(self, key, a, b, outcome, when, source="arena", counts=True, reason=None) -> None:
        self.rows.append((key, a, b, outcome, when, source, counts, reason))

    def store(self, factory) -> list[int]:
        with transaction(factory) as s:
            models = [Model(slug=f"model-{k}", display_name=f"Model {k}") for k in range(len(self.theta))]
            s.add_all(models)
            s.flush()
            ids = self.model_ids = [m.id for m in models]
            s.execute(insert(Battle), [
                {"id": n + 1, "public_id": f"b{n + 1}", "source": source, "judge_key": key, "model_a_id": ids[a],
                 "model_b_id": ids[b], "status": "voted", "created_at": when}
                for n, (key, a, b, _, when, source, _, _) in enumerate(self.rows)
            ])  # fmt: skip
            s.execute(insert(Vote), [
                {"battle_id": n + 1, "model_a_id": ids[a], "model_b_id": ids[b], "outcome": outcome,
                 "created_at": when, "counts_for_leaderboard": counts, "exclusion_reason": reason}
                for n, (_, a, b, outcome, when, _, counts, reason) in enumerate(self.rows)
            ])  # fmt: skip
        return ids


def hourly(n: int, offset_minutes: int = 0) -> list[datetime]:
    return [START + timedelta(minutes=offset_minutes, hours=k) for k in range(n)]


@pytest.fixture
def arena(session_factory) -> Arena:
    world = Arena(6, seed=11)
    weakest = int(np.argmin(world.theta))
    for v in range(40):
        world.honest(f"honest-{v}", hourly(60, offset_minutes=v))
    world.honest("slow-clicker", hourly(40), counts=False, reason="too_fast")  # the dwell-time rule's own
    world.honest("flooder", [FLOOD_DAY + timedelta(seconds=30 * k) for k in range(70)]
                 + [FLOOD_DAY + timedelta(hours=1, minutes=10, seconds=30 * k) for k in range(30)])  # fmt: skip
    for v in range(5):  # too few votes to be judged: they only count towards the first fit
        world.honest(f"light-{v}", hourly(10, offset_minutes=v))
    world.scripted("light-always-a", 20, lambda a, b: "model_a")
    world.scripted("always-a", 60, lambda a, b: "model_a")
    world.scripted("coin", 200, lambda a, b: ("model_a", "model_b")[int(world.rng.integers(2))])
    world.scripted("promoter", 60, lambda a, b: "model_a" if a == weakest else "model_b", always_in=weakest)
    # Never judged: votes without a visitor key, and imported votes (they keep what their file said).
    world.scripted(None, 60, lambda a, b: "model_a")
    world.scripted("imported-always-a", 60, lambda a, b: "model_a", source="import")
    world.scripted("imported-capped", 5, lambda a, b: "model_b", source="import", counts=False, reason=DAILY_CAP)
    world.store(session_factory)
    return world


def votes_by_voter(factory) -> dict[str | None, list[tuple[bool, str | None]]]:
    with factory() as s:
        rows = s.execute(
            select(Battle.judge_key, Vote.counts_for_leaderboard, Vote.exclusion_reason)
            .join(Battle, Battle.id == Vote.battle_id)
            .order_by(Vote.id)
        ).all()
    result: dict = {}
    for key, counts, reason in rows:
        result.setdefault(key, []).append((counts, reason))
    return result


def run(database_url: str, filters: FilterSettings | None = FILTERS):
    engine = make_engine(database_url)
    try:
        request = RecomputeRequest(rounds=20, seed=1, categories=("overall",), filters=filters)
        return recompute(make_session_factory(engine), make_session_factory(engine, read_only=True), request)
    finally:
        engine.dispose()


def test_scripted_voters_are_excluded_with_their_reason_and_no_vote_is_lost(database_url, session_factory, arena):
    result = run(database_url)
    votes = votes_by_voter(session_factory)
    assert sum(len(v) for v in votes.values()) == len(arena.rows)  # nothing deleted
    assert set(votes["always-a"]) == {(False, ONE_SIDED)} and set(votes["promoter"]) == {(False, ONE_SIDED)}
    assert set(votes["coin"]) == {(False, OUTLIER_VOTER)}
    for key in [f"honest-{v}" for v in range(40)] + [f"light-{v}" for v in range(5)] + ["light-always-a"]:
        assert set(votes[key]) == {(True, None)}, f"{key} was excluded"
    assert result.filters.excluded == {DAILY_CAP: 20, ONE_SIDED: 120, OUTLIER_VOTER: 200, **NO_COHORTS}
    assert result.filters.voters == {ONE_SIDED: 2, OUTLIER_VOTER: 1, **NO_COHORTS}
    with session_factory() as s:
        stored = s.get(RatingRun, result.run_id)
        counted = s.scalar(select(func.count()).select_from(Vote).where(Vote.counts_for_leaderboard.is_(True)))
    # The run says what it excluded and with which thresholds; it counted exactly the votes left counting.
    assert stored.params["filters"]["excluded"] == result.filters.excluded
    assert stored.params["filters"]["settings"] == {"daily_cap": CAP, "min_votes": 30, "alpha": 0.01}
    assert stored.params["excluded"] == {ONE_SIDED: 120, OUTLIER_VOTER: 200, "too_fast": 40, DAILY_CAP: 25}
    assert stored.n_votes == counted == len(arena.rows) - 120 - 200 - 40 - 25
    # And why, voter by voter: the rule and the figures it was decided on.
    why = {d["voter"]: d for d in stored.params["filters"]["details"]}
    assert set(why) == {"always-a", "promoter", "coin"}
    assert why["always-a"]["rule"] == "same_side" and why["always-a"]["share_a"] == 1.0
    assert why["promoter"]["rule"] == "same_model" and why["promoter"]["share"] == 1.0
    assert why["promoter"]["model_id"] == arena.model_ids[int(np.argmin(arena.theta))]
    assert why["coin"]["rule"] == "improbable_under_ratings" and why["coin"]["agreement"] < 0.5
    assert all(d["p_bound"] < 0.01 / 40 for d in why.values())


def test_the_daily_cap_counts_the_earliest_votes_of_each_utc_day(database_url, session_factory, arena):
    run(database_url)
    with session_factory() as s:
        flood = s.execute(
            select(Vote.created_at, Vote.counts_for_leaderboard, Vote.exclusion_reason)
            .join(Battle, Battle.id == Vote.battle_id)
            .where(Battle.judge_key == "flooder")
            .order_by(Vote.created_at)
        ).all()
    first_day = [(counts, reason) for when, counts, reason in flood if when.day == 10]
    second_day = [(counts, reason) for when, counts, reason in flood if when.day == 11]
    assert first_day == [(True, None)] * CAP + [(False, DAILY_CAP)] * (70 - CAP)
    assert second_day == [(True, None)] * 30  # a new UTC day, a new allowance


def test_votes_an_admin_reincludes_stay_counted_in_later_runs(database_url, session_factory, arena):
    run(database_url)
    app = create_app(make_settings(database_url, admin_token=TOKEN))
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    page = client.get("/admin/", headers=bearer).get_data(as_text=True)
    assert "outlier_voter" in page and "improbable under the ratings" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    done = client.post("/admin/votes/reinclude", data={"reason": OUTLIER_VOTER, "csrf_token": csrf}, headers=bearer)
    assert done.status_code == 303
    app.extensions["arena.engine"].dispose()

    again = run(database_url)
    votes = votes_by_voter(session_factory)
    assert set(votes["coin"]) == {(True, None)}  # the admin's decision holds...
    assert again.filters.voters[OUTLIER_VOTER] == 1 and again.filters.excluded[OUTLIER_VOTER] == 0  # ...though seen
    assert set(votes["always-a"]) == {(False, ONE_SIDED)}  # other rules still apply


def test_votes_counted_because_their_voter_paid_later_are_still_judged(database_url, session_factory):
    # A script casts its votes unverified (free), then pays the proof-of-work once: they count from then on,
    # marked re-included, but unlike an admin's re-inclusion the filters still judge them.
    from arena.voting import proof_of_work

    world = Arena(6, seed=5)
    for v in range(40):
        world.honest(f"honest-{v}", hourly(60, offset_minutes=v))
    world.honest("late-flooder", [FLOOD_DAY + timedelta(seconds=30 * k) for k in range(70)],
                 counts=False, reason="unverified")  # fmt: skip
    world.scripted("late-always-a", 60, lambda a, b: "model_a", counts=False, reason="unverified")
    world.scripted("late-slow", 5, lambda a, b: "model_b", counts=False, reason="too_fast")
    world.store(session_factory)
    with transaction(session_factory) as s:
        assert proof_of_work.record(s, "late-flooder") == 70
        assert proof_of_work.record(s, "late-always-a") == 60
        assert proof_of_work.record(s, "late-slow") == 0  # only `unverified` is lifted by paying
    run(database_url)
    votes = votes_by_voter(session_factory)
    assert votes["late-flooder"] == [(True, None)] * CAP + [(False, DAILY_CAP)] * (70 - CAP)
    assert set(votes["late-always-a"]) == {(False, ONE_SIDED)}
    assert set(votes["late-slow"]) == {(False, "too_fast")}
    with session_factory() as s:
        marked = s.scalar(select(func.count()).select_from(Vote).where(Vote.reincluded_at.is_not(None)))
    assert marked == 130  # the record of when they were counted again stays


def test_other_reasons_imported_and_anonymous_votes_are_never_touched(database_url, session_factory, arena):
    run(database_url)
    votes = votes_by_voter(session_factory)
    assert set(votes["slow-clicker"]) == {(False, "too_fast")}
    assert set(votes["imported-capped"]) == {(False, DAILY_CAP)}
    assert set(votes["imported-always-a"]) == {(True, None)} and set(votes[None]) == {(True, None)}


def test_without_filters_only_their_own_exclusions_are_lifted(database_url, session_factory, arena):
    first = run(database_url)
    before = votes_by_voter(session_factory)
    second = run(database_url)
    assert votes_by_voter(session_factory) == before  # the same verdict on the same votes
    assert second.filters.lifted == sum(first.filters.excluded.values())

    off = run(database_url, filters=None)
    votes = votes_by_voter(session_factory)
    for key in ("always-a", "coin", "promoter", "flooder"):
        assert set(votes[key]) == {(True, None)}
    assert set(votes["slow-clicker"]) == {(False, "too_fast")} and set(votes["imported-capped"]) == {(False, DAILY_CAP)}
    assert off.filters.enabled is False
    assert off.filters.excluded == {DAILY_CAP: 0, ONE_SIDED: 0, OUTLIER_VOTER: 0, **NO_COHORTS}
    with session_factory() as s:
        assert s.get(RatingRun, off.run_id).params["filters"]["enabled"] is False


def test_the_command_reports_exclusions_and_rejects_bad_settings(database_url, arena):
    # A session time zone of UTC+14 would move the flooder's midnight: days are UTC whatever the connection's.
    env = {"ARENA_DAILY_VOTE_CAP": str(CAP), "PGTZ": "Pacific/Kiritimati"}
    args = ("ratings", "recompute", "--database-url", database_url, "--json", "--bootstrap", "20")
    result = run_arena(*args, env=env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["filters"]["excluded"] == {DAILY_CAP: 20, ONE_SIDED: 120, OUTLIER_VOTER: 200, **NO_COHORTS}
    assert out["excluded"] == {ONE_SIDED: 120, OUTLIER_VOTER: 200, "too_fast": 40, DAILY_CAP: 25}

    bad = run_arena(*args, env={"ARENA_DAILY_VOTE_CAP": "0"})
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    assert "ARENA_DAILY_VOTE_CAP" in bad.stderr

    off = run_arena(*args, "--no-filters")
    assert off.returncode == 0, off.stderr
    out = json.loads(off.stdout)
    assert out["filters"]["enabled"] is False and out["excluded"] == {"too_fast": 40, DAILY_CAP: 5}


def test_overlapping_runs_reach_the_single_run_verdict(database_url, session_factory, arena):
    # Each run lifts and re-sets the same marks; overlapping runs take turns and must neither fail nor mix.
    engine = make_engine(database_url)
    factory, reader = make_session_factory(engine), make_session_factory(engine, read_only=True)
    errors: list[Exception] = []

    def one_run(seed: int) -> None:
        try:
            recompute(factory, reader, RecomputeRequest(ci="sandwich", seed=seed, filters=FILTERS))
        except Exception as exc:  # noqa: BLE001 - surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=one_run, args=(seed,)) for seed in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert errors == []
    after_overlap = votes_by_voter(session_factory)
    run(database_url)
    assert votes_by_voter(session_factory) == after_overlap
    assert set(after_overlap["coin"]) == {(False, OUTLIER_VOTER)}
