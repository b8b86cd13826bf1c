"""Model-level EQ scores: the bundled EQ-Bench figures, imports, aliases and name matching."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy import func, select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model
from arena.ingest.eq_scores import BUNDLED, add_alias, match_snapshots, normalise_name, short_name
from arena.models import Model, ModelEqScore
from tests.arena_cli import run_arena
from tests.shared_data import shared_file


def test_bundled_figures_restate_the_published_scores():
    published = list(csv.DictReader(shared_file("eqbench3_scores.csv").open(encoding="utf-8")))
    bundled = list(csv.DictReader(BUNDLED["eqbench"].open(encoding="utf-8")))
    assert len(bundled) == len(published) == 244
    for ours, theirs in zip(bundled, published, strict=True):
        assert (ours["model"], ours["benchmark"], ours["snapshot"]) == (
            theirs["model"],
            theirs["benchmark"],
            theirs["snapshot"],
        )
        expected = theirs["elo_norm"] if theirs["benchmark"] == "eqbench3" else theirs["eqbench_v2_score"]
        assert float(ours["score"]) == float(expected)
        assert ours["source"] == theirs["source"] and ours["source"]


def test_import_bundled_then_again_changes_nothing(database_url, session_factory):
    first = run_arena("import", "eq-scores", "--bundled", "eqbench", "--database-url", database_url)
    assert first.returncode == 0 and "244 scores added" in first.stdout
    second = run_arena("import", "eq-scores", "--bundled", "eqbench", "--database-url", database_url)
    assert "0 scores added, 0 updated, 244 unchanged" in second.stdout
    with session_factory() as s:
        snapshots = s.execute(
            select(ModelEqScore.benchmark, ModelEqScore.snapshot, func.count()).group_by(
                ModelEqScore.benchmark, ModelEqScore.snapshot
            )
        ).all()
        assert dict(((b, sn), n) for b, sn, n in snapshots)[("eqbench3", "s4")] == 79
        o3 = s.scalars(select(ModelEqScore).where(ModelEqScore.model_name == "o3", ModelEqScore.snapshot == "s1")).one()
        assert (o3.score, o3.ci_low, o3.ci_high) == (1500.0, 1442.57, 1557.43)


def test_a_changed_score_updates_and_bad_rows_exit_2(database_url, session_factory, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("model,benchmark,snapshot,score,trait_warm\nm1,bench,2026,7.5,3\n")
    assert "1 scores added" in run_arena("import", "eq-scores", str(path), "--database-url", database_url).stdout
    path.write_text("model,benchmark,snapshot,score,trait_warm\nm1,bench,2026,8.0,3\n")
    assert (
        "0 scores added, 1 updated"
        in run_arena("import", "eq-scores", str(path), "--database-url", database_url).stdout
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("model,benchmark,snapshot,score\nm2,bench,2026,9\nm3,bench,2026,high\n")
    result = run_arena("import", "eq-scores", str(bad), "--database-url", database_url)
    assert result.returncode == 2 and "line 3" in result.stderr and "score must be a number" in result.stderr
    missing = tmp_path / "missing.csv"
    missing.write_text("model,score\nm2,9\n")
    result = run_arena("import", "eq-scores", str(missing), "--database-url", database_url)
    assert result.returncode == 2 and "benchmark" in result.stderr
    with session_factory() as s:
        assert s.scalars(select(ModelEqScore.model_name)).all() == ["m1"]  # the bad file added nothing
        assert s.scalars(select(ModelEqScore.score)).one() == 8.0


def test_names_meet_through_prefixes_and_aliases(session_factory):
    with transaction(session_factory) as s:
        gpt = get_or_create_model(s, "gpt-4.1")[0]
        claude = get_or_create_model(s, "claude-sonnet")[0]
        solo = get_or_create_model(s, "solo", display_name="Solo Model")[0]
        for name, score in [("openai/gpt-4.1", 1.0), ("Claude 3.7 Sonnet", 2.0), ("solo model", 3.0), ("ghost", 4.0)]:
            s.add(ModelEqScore(benchmark="b", snapshot="s", model_name=name, score=score))
        s.flush()
        add_alias(s, "claude-sonnet", "Claude 3.7 Sonnet")
        with pytest.raises(ValueError, match="already names"):
            add_alias(s, "gpt-4.1", "claude 3.7 sonnet")
        ids = (gpt.id, claude.id, solo.id)
    with session_factory() as s:
        (match,) = match_snapshots(s, ids)
    assert {m: e.model_name for m, e in match.matched} == {gpt.id: "openai/gpt-4.1", claude.id: "Claude 3.7 Sonnet",
                                                           solo.id: "solo model"}  # fmt: skip
    assert match.unmatched == ["ghost"]
    assert normalise_name(" GPT 4.1 ") == "gpt-4.1" and short_name("openai/GPT_4.1") == "gpt-4.1"


def test_a_full_name_beats_a_prefix_match_and_ambiguity_never_guesses(session_factory):
    with transaction(session_factory) as s:
        model = get_or_create_model(s, "chatgpt-4o-latest")[0]
        other = get_or_create_model(s, "mini")[0]
        for name in ("openai/chatgpt-4o-latest", "chatgpt-4o-latest", "a/mini", "b/mini"):
            s.add(ModelEqScore(benchmark="b", snapshot="s1", model_name=name, score=1.0))
    with session_factory() as s:
        (match,) = match_snapshots(s, [model.id, other.id])
    assert {m: e.model_name for m, e in match.matched} == {model.id: "chatgpt-4o-latest"}
    assert sorted(match.unmatched) == ["a/mini", "b/mini", "openai/chatgpt-4o-latest"]


ABILITIES = ("bond_and_rapport", "authenticity", "attunement", "meeting_prefs_and_needs", "emotion_sensemaking",
             "emotion_management")  # fmt: skip


def test_bundled_eqbench4_restates_the_published_leaderboard():
    published = list(csv.DictReader(shared_file("eqbench4_models.csv").open(encoding="utf-8")))
    bundled = list(csv.DictReader(BUNDLED["eqbench4"].open(encoding="utf-8")))
    assert len(bundled) == len(published) == 28
    for ours, theirs in zip(bundled, published, strict=True):
        assert (ours["model"], ours["benchmark"], ours["snapshot"]) == (theirs["slug"], "eqbench4", "2026-07-26")
        for mine, published_column in (("score", "elo"), ("ci_low", "elo_ci_low"), ("ci_high", "elo_ci_high")):
            assert float(ours[mine]) == float(theirs[published_column])
        for ability in ABILITIES:
            assert float(ours[f"trait_{ability}_1_10"]) == float(theirs[f"abs_{ability}"])
            assert float(ours[f"trait_{ability}_elo"]) == float(theirs[f"abs_elo_{ability}"])
        assert ours["source"] == theirs["source"] and "EQ-bench/EQ-bench-site@" in ours["source"]


def test_bundled_eqbench4_meets_every_imported_eqbench4_model_without_aliases(database_url, session_factory, tmp_path):
    from tests.ingest.test_eqbench4_import import import_dir, shared_rows, write_transcripts

    assert import_dir(write_transcripts(tmp_path / "t", shared_rows()), database_url).returncode == 0
    result = run_arena("import", "eq-scores", "--bundled", "eqbench4", "--database-url", database_url)
    assert result.returncode == 0 and "28 scores added" in result.stdout, result.stderr
    with session_factory() as s:
        ids = s.scalars(select(Model.id)).all()
        (match,) = [m for m in match_snapshots(s, ids) if m.benchmark == "eqbench4"]
        kimi = s.scalars(select(ModelEqScore).where(ModelEqScore.model_name == "moonshotai_kimi-k3")).one()
    assert (len(match.matched), match.unmatched) == (28, [])
    assert (kimi.score, kimi.ci_low, kimi.ci_high) == (1339.3, 1325.0, 1355.5)
    assert kimi.traits["trait_attunement_1_10"] == 8.84
