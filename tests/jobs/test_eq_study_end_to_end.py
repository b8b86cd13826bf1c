"""The EQ study on real data, end to end (README "The EQ study on EQ-Bench 4"): EQ-Bench 4's real replies
imported from transcripts, votes cast through the site by visitors who prefer the models EQ-Bench 4 rates
higher, a recompute, the bundled EQ-Bench 4 scores, `arena analysis eq`, and the same correlation on /analysis."""

from __future__ import annotations

import csv
import json
import random

from sqlalchemy import select

from arena.models import Battle
from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page
from tests.ingest.test_eqbench4_import import import_dir, shared_rows, write_transcripts
from tests.shared_data import shared_file

VOTES = 900
# A new visitor every so often: one visitor's votes beyond the daily cap would not count.
VOTES_PER_VISITOR = 60


def eqbench4_elo() -> dict[str, float]:
    with shared_file("eqbench4_models.csv").open(encoding="utf-8") as handle:
        return {r["slug"]: float(r["elo"]) for r in csv.DictReader(handle)}


def cast_votes(app, session_factory, elo: dict[str, float], n: int, seed: int = 4) -> None:
    """Each vote goes through the site: a battle page, then its vote form, as a visitor's browser would."""
    rng = random.Random(seed)
    client = None
    for k in range(n):
        if k % VOTES_PER_VISITOR == 0:
            client = app.test_client()
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        with session_factory() as s:
            battle = s.scalars(select(Battle).order_by(Battle.id.desc())).first()
            a, b = battle.model_a.slug, battle.model_b.slug
        p_a = 1 / (1 + 10 ** ((elo[b] - elo[a]) / 400))
        outcome = "tie" if rng.random() < 0.1 else ("model_a" if rng.random() < p_a else "model_b")
        response = client.post(action, data={"outcome": outcome, "csrf_token": csrf})
        assert response.status_code in (200, 303), response.get_data(as_text=True)[:200]


def test_the_eq_study_on_eqbench4(app, database_url, session_factory, tmp_path):
    imported = import_dir(write_transcripts(tmp_path / "transcripts", shared_rows()), database_url)
    assert imported.returncode == 0, imported.stderr
    cast_votes(app, session_factory, eqbench4_elo(), VOTES)
    recompute = run_arena("ratings", "recompute", "--bootstrap", "200", "--json", "--database-url", database_url)
    assert recompute.returncode == 0, recompute.stderr
    assert json.loads(recompute.stdout)["n_votes"] == VOTES
    scores = run_arena("import", "eq-scores", "--bundled", "eqbench4", "--database-url", database_url)
    assert scores.returncode == 0 and "28 scores added" in scores.stdout, scores.stderr
    analysis = run_arena("analysis", "eq", "--json", "--database-url", database_url)
    assert analysis.returncode == 0, analysis.stderr
    correlations = {
        c["method"]: c
        for c in json.loads(analysis.stdout)["correlations"]
        if (c["benchmark"], c["snapshot"]) == ("eqbench4", "2026-07-26")
    }
    spearman = correlations["spearman"]
    # Every EQ-Bench 4 model met its score by slug, no alias needed.
    assert (spearman["n_models"], spearman["unmatched"]) == (28, [])
    assert spearman["ci_low"] < spearman["estimate"] < spearman["ci_high"]
    # Voters who follow EQ-Bench 4 make an arena that agrees with it.
    assert spearman["estimate"] > 0.6 and spearman["ci_low"] > 0.2
    assert correlations["kendall"]["estimate"] > 0.4

    page = app.test_client().get("/analysis").get_data(as_text=True)
    row = page[page.index("<td>eqbench4</td><td>2026-07-26</td><td>spearman</td>") :]
    row = row[: row.index("</tr>")]
    assert '<td class="num">28</td>' in row
    assert f"{spearman['estimate']:.2f}" in row
    assert f"{spearman['ci_low']:.2f} to {spearman['ci_high']:.2f}" in row
