"""/analysis on the demo with 60 votes (issue 21, item 6): the first-shown reply's edge is stated per unit, in
points of winning chance, with the interval the CLI gives after conversion; no covariate appears under its column
name; and the demo's illustrative persona scores fill the EQ half, labelled as illustrative."""

from __future__ import annotations

import json
import re

import pytest

from arena.web.study import win_points
from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page

DEMO_VOTES = 60
# Side A wins two decisive votes in three: the position effect the demo showed.
OUTCOMES = ("model_a", "model_b", "tie", "model_a", "both_bad")


@pytest.fixture
def demo_site(client, demo_loaded, database_url) -> dict:
    for k in range(DEMO_VOTES):
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        assert client.post(action, data={"outcome": OUTCOMES[k % 5], "csrf_token": csrf}).status_code in (200, 303)
    recompute = run_arena("ratings", "recompute", "--bootstrap", "20", "--database-url", database_url)
    assert recompute.returncode == 0, recompute.stderr
    analysis = run_arena("analysis", "eq", "--json", "--database-url", database_url)
    assert analysis.returncode == 0, analysis.stderr
    assert "Warning" not in analysis.stderr, analysis.stderr
    return json.loads(analysis.stdout)


def test_position_effect_is_per_unit_and_matches_the_cli(client, demo_site):
    position = next(c for c in demo_site["coefficients"] if c["feature"] == "position_a")
    assert position["identified"] and position["scale"] == "unit"
    # No per-SD figure for a constant: its SD is 0, and "0 per SD" is what the page used to say.
    assert position["estimate_std"] is None and position["std_ci_low"] is None
    html = client.get("/analysis").get_data(as_text=True)
    assert "position_a" not in html
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))
    # Within its own sentence (no full stop before the interval): never another effect's interval.
    sentence = r"Replies shown first win (\d+) points? (more|less) often[^.]*?95% interval ([+-]?\d+) to ([+-]?\d+)"
    found = re.search(sentence, text)
    assert found, text
    points, direction, low, high = int(found[1]), found[2], int(found[3]), int(found[4])
    assert points != 0
    signed = points if direction == "more" else -points
    assert signed == round(win_points(position["estimate"]))
    assert (low, high) == (round(win_points(position["ci_low"])), round(win_points(position["ci_high"])))
    assert "95% interval 0 to 0" not in text
    # The technical table names it plainly and has no per-SD number for it.
    assert "Shown first" in text


def test_the_demo_shows_the_eq_half_labelled_illustrative(client, demo_site):
    illustrative = [c for c in demo_site["correlations"] if c["illustrative"]]
    assert {c["method"] for c in illustrative} == {"spearman", "kendall"}
    assert all(c["n_models"] == 6 and -1 <= c["ci_low"] <= c["ci_high"] <= 1 for c in illustrative)
    assert demo_site["eq_scatter"]["illustrative"] and len(demo_site["eq_scatter"]["points"]) == 6
    html = client.get("/analysis").get_data(as_text=True)
    assert "Illustrative, not real benchmark scores." in html
    assert 'aria-label="Arena rating against EQ benchmark score"' in html
    assert "Illustrative demo scores (not a benchmark)" in html
    assert "illustrative-demo" not in re.sub(r"<[^>]+>", " ", html)  # the label, never the internal name


def test_demo_reset_removes_the_illustrative_scores(database_url, demo_loaded, session_factory):
    from sqlalchemy import func, select

    from arena.ingest.demo import DEMO_EQ_BENCHMARK, load_demo_bank, remove_demo_content
    from arena.models import ModelEqScore

    count = select(func.count()).select_from(ModelEqScore).where(ModelEqScore.benchmark == DEMO_EQ_BENCHMARK)
    with session_factory() as session, session.begin():
        assert session.scalar(count) == 6
        load_demo_bank(session)  # idempotent
        assert session.scalar(count) == 6
        remove_demo_content(session)
        assert session.scalar(count) == 0
