"""`arena analysis eq`: covariate coefficients, controlled ratings and EQ correlations, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.arena_cli import run_arena
from tests.html_checks import active_content
from tests.votes_files import TRUE_EQ_EFFECT


def test_json_has_the_documented_shape_and_recovers_the_eq_effect(eq_arena):
    result = run_arena("analysis", "eq", "--json", "--database-url", eq_arena)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert list(out)[:5] == ["rating_run_id", "n_battles", "coefficients", "correlations", "controlled_ratings"]
    assert out["n_battles"] == 3000
    coefficients = {c["feature"]: c for c in out["coefficients"]}
    assert set(coefficients) >= {"eq_overall", "length_ratio", "headers", "list_items", "bold"}
    for c in coefficients.values():
        assert set(c) >= {"feature", "estimate", "ci_low", "ci_high", "estimate_std", "odds_ratio"}
        if c["scale"] == "sd":
            assert c["std_ci_low"] <= c["estimate_std"] <= c["std_ci_high"]
        else:  # the side shown first: per unit, never "per SD" of a constant
            assert c["feature"] == "position_a" and c["estimate_std"] is None
        assert c["odds_ratio"] == pytest.approx(np.exp(c["estimate"]), rel=1e-5)
        assert c["identified"] and c["reason"] is None and c["data_share"] > 0.9  # 3,000 battles pin them all
    eq = coefficients["eq_overall"]
    assert eq["ci_low"] <= TRUE_EQ_EFFECT <= eq["ci_high"] and eq["ci_low"] > 0
    length = coefficients["length_ratio"]
    assert length["ci_low"] <= 0 <= length["ci_high"]  # length had no effect here
    position = coefficients["position_a"]  # nor the side a reply was shown on
    assert position["ci_low"] <= 0 <= position["ci_high"] and position["ci_high"] - position["ci_low"] < 0.5
    assert len(out["controlled_ratings"]) == 8
    assert all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in out["controlled_ratings"])
    # EQ-style features need reply text, which these battles lack: they are left out, and said so.
    assert "validation" in out["dropped_covariates"]


def test_correlation_reports_matches_and_misses(eq_arena):
    out = json.loads(run_arena("analysis", "eq", "--json", "--database-url", eq_arena).stdout)
    rows = [c for c in out["correlations"] if c["benchmark"] == "testbench"]
    assert {c["method"] for c in rows} == {"spearman", "kendall"}
    for c in rows:
        assert c["n_models"] == 8 and c["snapshot"] == "2026" and c["unmatched"] == ["ghost-model"]
        assert -1 <= c["ci_low"] <= c["estimate"] <= c["ci_high"] <= 1


def test_analysis_of_demo_votes_uses_text_features(database_url, client, demo_loaded, session_factory):
    from tests.jobs.test_export import vote_on_demo

    vote_on_demo(client, session_factory, 200)
    assert run_arena("ratings", "recompute", "--bootstrap", "50", "--database-url", database_url).returncode == 0
    out = json.loads(run_arena("analysis", "eq", "--json", "--database-url", database_url).stdout)
    features = {c["feature"] for c in out["coefficients"]}
    assert {"questions", "validation", "sycophancy"} & features or out["covariate_fit_error"]
    assert "eq_overall" in out["dropped_covariates"]  # no judge has scored these replies
    assert out["clustered_by_voter"] is False  # one test visitor: per-battle robust errors, not one cluster
    again = json.loads(run_arena("analysis", "eq", "--json", "--database-url", database_url).stdout)
    assert again["analysis_run_id"] > out["analysis_run_id"]  # each analysis is stored, groups included


def test_without_a_rating_run_exit_2(database_url):
    result = run_arena("analysis", "eq", "--database-url", database_url)
    assert result.returncode == 2 and "arena ratings recompute" in result.stderr


def test_analysis_page_draws_the_three_charts(eq_arena, client):
    assert run_arena("analysis", "eq", "--database-url", eq_arena).returncode == 0
    page = client.get("/analysis")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    # Forest and win rate, scatter: each drawn in a wide and a narrow layout.
    assert html.count('class="whiskers chart-wide"') == 2 and html.count('class="scatter chart-wide"') == 1
    assert html.count('class="whiskers chart-narrow"') == 2 and html.count('class="scatter chart-narrow"') == 1
    assert "Replies a judge scored higher for emotional intelligence win" in html  # recovered and said plainly
    assert "Judged EQ" in html and "testbench" in html and "spearman" in html
    assert active_content(html) == []
    fragment = client.get("/analysis?category=Cognitive states", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    assert "No analysis for" in fragment.get_data(as_text=True)
    assert client.get("/analysis?category=Glee").status_code == 400


def test_analysis_page_before_any_analysis(client):
    html = client.get("/analysis").get_data(as_text=True)
    assert "No analysis for" in html and "arena analysis" not in html  # visitors get no operator commands
