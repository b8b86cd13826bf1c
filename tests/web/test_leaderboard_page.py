"""The leaderboard page and its JSON twin, before and after a rating run."""

from __future__ import annotations

import numpy as np
import pytest
from markupsafe import escape
from sqlalchemy import select

from arena.db import make_engine, make_session_factory
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Model
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page
from tests.html_checks import active_content
from tests.votes_files import battle_records, write_jsonl


def test_empty_leaderboard_explains_what_comes(client, demo_loaded):
    page = client.get("/leaderboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # Visitors are told what comes, not the operator's command (the API, read by operators, names it).
    assert "No ratings yet" in html and "recompute" not in html
    assert "0 votes recorded" in html
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    client.post(action, data={"outcome": "tie", "csrf_token": csrf})
    assert "1 vote recorded" in client.get("/leaderboard").get_data(as_text=True)
    api = client.get("/api/leaderboard")
    assert api.status_code == 404 and "arena ratings recompute" in api.get_json()["error"]


@pytest.fixture
def rated(database_url, tmp_path, session_factory):
    names = [f"model-{k}" for k in range(6)] + ["<b>Evil & Co</b>"]
    rng = np.random.default_rng(4)
    battles = simulate(true_strengths(len(names), rng), 2000, rng)
    keep = (battles.model_a != 6) & (battles.model_b != 6)
    few = np.flatnonzero(~keep)[:10]  # the last model plays 10 battles: provisional
    mask = keep.copy()
    mask[few] = True
    records = [r for k, r in enumerate(battle_records(battles, names)) if mask[k]]
    run_arena("import", "votes", str(write_jsonl(tmp_path / "v.jsonl", records)), "--database-url", database_url)
    engine = make_engine(database_url)
    result = recompute(make_session_factory(engine), make_session_factory(engine, read_only=True),
                       RecomputeRequest(rounds=100, seed=3))  # fmt: skip
    engine.dispose()
    return result, int(mask.sum())


def test_leaderboard_shows_the_latest_snapshot(client, rated, session_factory):
    result, n_votes = rated
    html = client.get("/leaderboard").get_data(as_text=True)
    assert f"from {n_votes:,} votes" in html and f"rating run {result.run_id}" in html
    with session_factory() as s:
        names = {m.id: m.display_name for m in s.scalars(select(Model))}
    overall = result.results[0]
    names_in_order = [names[overall.model_ids[k]] for k in overall.board.order()]
    positions = [html.index(str(escape(n))) for n in names_in_order]
    assert positions == sorted(positions)  # best first
    assert "provisional" in html
    assert "<b>Evil" not in html and "&lt;b&gt;Evil &amp; Co&lt;/b&gt;" in html
    # The whisker chart is drawn for wide and narrow screens (CSS shows one), plus the heatmap.
    assert html.count('<svg class="whiskers') == 2 and html.count('<svg class="heatmap"') == 1
    assert html.count("<svg") == 3
    assert active_content(html) == []


def test_api_twin_matches_the_page(client, rated):
    result, n_votes = rated
    data = client.get("/api/leaderboard").get_json()
    assert data["run_id"] == result.run_id and data["n_votes"] == n_votes and data["category"] == "overall"
    ratings = data["ratings"]
    assert [r["rating"] for r in ratings] == sorted((r["rating"] for r in ratings), reverse=True)
    evil = next(r for r in ratings if r["model"] == "<b>Evil & Co</b>")
    assert evil["provisional"] and evil["battles"] == 10
    assert all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in ratings)


def test_unknown_category_is_400_and_empty_group_says_so(client, rated):
    assert client.get("/leaderboard?category=Glee").status_code == 400
    assert client.get("/api/leaderboard?category=Glee").status_code == 400
    fragment = client.get("/leaderboard?category=Cognitive states", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "<html" not in html and "No ratings for" in html


def test_votes_to_flip_are_stored_served_and_said_in_plain_words(client, rated, session_factory):
    result, n_votes = rated
    overall = result.results[0]
    with session_factory() as s:
        slugs = {m.id: m.slug for m in s.scalars(select(Model))}
    expected = {slugs[overall.model_ids[k]]: overall.flip_above[k] for k in range(len(overall.model_ids))}
    rows = client.get("/api/leaderboard").get_json()["ratings"]
    assert rows[0]["votes_to_flip_above"] is None  # nothing above the top
    for row in rows:
        value = expected[row["model"]]
        assert row["votes_to_flip_above"] == (None if np.isnan(value) else int(value))
    top = rows[1]["votes_to_flip_above"]
    assert top is not None and top >= 1
    text = " ".join(client.get("/leaderboard").get_data(as_text=True).split())
    first, second = escape(rows[0]["display_name"]), escape(rows[1]["display_name"])
    assert f"Removing {top:,} of the {n_votes:,} votes would swap #1 ({first}) and #2 ({second})" in text
    assert ">Flip</abbr>" in text


def test_a_rendered_board_is_reused_until_a_new_run_or_its_time_is_up(client, rated, database_url, monkeypatch):
    from arena.web import leaderboard

    result, _ = rated
    first = client.get("/leaderboard?category=overall").get_data(as_text=True)
    assert f"rating run {result.run_id}" in first
    renders = []
    real = leaderboard._board_parts
    monkeypatch.setattr(leaderboard, "_board_parts", lambda *a: renders.append(a) or real(*a))
    assert client.get("/leaderboard?category=overall").get_data(as_text=True) == first and not renders
    # A new run (of any board) renders afresh at once.
    engine = make_engine(database_url)
    newer = recompute(make_session_factory(engine), make_session_factory(engine, read_only=True),
                      RecomputeRequest(rounds=100, seed=4))  # fmt: skip
    engine.dispose()
    assert f"rating run {newer.run_id}" in client.get("/leaderboard?category=overall").get_data(as_text=True)
    assert len(renders) == 1
    # Past its time, a board is rendered again (a model renamed since shows).
    later = leaderboard.time.monotonic() + 61
    monkeypatch.setattr(leaderboard.time, "monotonic", lambda: later)
    client.get("/leaderboard?category=overall")
    assert len(renders) == 2
