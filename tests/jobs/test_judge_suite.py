"""`arena judge agreement --suite`: on the site's votes and judge scores (SQLite and PostgreSQL) and on the LLMFAO
crowd and GPT-4 files."""

from __future__ import annotations

import csv
import json
import re

import pytest

from arena.db import transaction
from arena.models import Battle, EqScore, Model, Prompt, Reply, Vote
from tests.arena_cli import run_arena
from tests.shared_data import shared_file

INTERVAL = re.compile(r"\d\.\d{3} \[-?\d\.\d{3}, -?\d\.\d{3}\]")
METRICS = ("accuracy, with ties", "accuracy, without ties", "Brier score", "board rank correlation, Spearman",
           "board rank correlation, Kendall", "row-wise rank correlation", "separability of the judge's board",
           "separability of the human board", "self-family preference")  # fmt: skip


def seed_site(factory) -> list[tuple[str, str, str]]:
    """Four models (two of the judge's provider), 24 voted battles with judge scores; returns (model A's
    provider, model B's provider, outcome) per battle whose vote counts."""
    models = [("gpt-a", "openai"), ("gpt-b", "openai"), ("claude", "anthropic"), ("llama", "meta")]
    counted = []
    with transaction(factory) as session:
        rows = [Model(slug=slug, display_name=slug.title(), provider=provider) for slug, provider in models]
        session.add_all([*rows, Model(slug="judge-x", display_name="Judge", provider="openai", active=False)])
        session.flush()
        outcomes = ["model_a", "model_b", "tie", "both_bad"]
        for i in range(24):
            a, b = rows[i % 4], rows[(i + 1 + i // 4) % 4]
            if a is b:
                b = rows[(i + 2) % 4]
            prompt = Prompt(text=f"I feel alone tonight ({i}).", source="curated", content_hash=f"suite-{i}")
            session.add(prompt)
            session.flush()
            ra, rb = (
                Reply(prompt_id=prompt.id, model_id=a.id, text="a"),
                Reply(prompt_id=prompt.id, model_id=b.id, text="b"),
            )
            session.add_all([ra, rb])
            session.flush()
            battle = Battle(public_id=f"s{i}", prompt_id=prompt.id, reply_a_id=ra.id, reply_b_id=rb.id,
                            model_a_id=a.id, model_b_id=b.id, status="voted")  # fmt: skip
            session.add(battle)
            session.flush()
            outcome = outcomes[i % 4]
            counts = i != 23  # one excluded vote: not an item
            reason = None if counts else "too_fast"
            session.add(Vote(battle_id=battle.id, model_a_id=a.id, model_b_id=b.id, outcome=outcome,
                             counts_for_leaderboard=counts, exclusion_reason=reason))  # fmt: skip
            # The judge prefers the openai reply, else A.
            score_a = 8.0 if a.provider == "openai" or b.provider != "openai" else 4.0
            session.add_all([EqScore(reply_id=ra.id, judge="judge-x", criterion="overall", score=score_a),
                             EqScore(reply_id=rb.id, judge="judge-x", criterion="overall", score=6.0)])  # fmt: skip
            if counts:
                counted.append((a.provider, b.provider, outcome))
    return counted


def test_the_suite_on_the_sites_votes(database_url, session_factory):
    counted = seed_site(session_factory)
    result = run_arena("judge", "agreement", "--suite", "--judge-model", "judge-x", "--json", "--bootstrap", "60",
                       "--database-url", database_url)  # fmt: skip
    assert result.returncode == 0, result.stderr
    suite = json.loads(result.stdout)
    assert suite["source"] == "site" and suite["items"] == len(counted) == 23 and suite["models"] == 4
    # The judge always picks A here (A scores 8 against 6, or 4 against an openai B's 6: then B).
    judge = [1 if (a != "openai" and b == "openai") else 0 for a, b, _ in counted]
    human = [{"model_a": 0, "model_b": 1}.get(o, 2) for _, _, o in counted]
    assert suite["accuracy"]["value"] == pytest.approx(sum(j == h for j, h in zip(judge, human, strict=True)) / 23,
                                                      abs=1e-4)  # fmt: skip
    decisive = [(j, h) for j, h in zip(judge, human, strict=True) if h != 2]
    assert suite["accuracy_without_ties"]["n"] == len(decisive)
    mixed = [(a == "openai") != (b == "openai") for a, b, _ in counted]
    assert suite["self_family_preference"]["n"] == sum(mixed)
    assert suite["self_family_preference"]["judge_share"] == 1.0  # the judge always backs its own family
    assert suite["swap_flip_rate"]["value"] is None and "one reply at a time" in suite["swap_flip_rate"]["reason"]
    for key in ("accuracy", "brier", "board_spearman", "row_spearman", "separability"):
        low, high = suite[key]["ci"]
        assert low is not None and low <= high

    text = run_arena("judge", "agreement", "--suite", "--judge-model", "judge-x", "--bootstrap", "60",
                     "--database-url", database_url)  # fmt: skip
    assert text.returncode == 0, text.stderr
    for label in METRICS:
        line = next(line for line in text.stdout.splitlines() if label in line)
        assert INTERVAL.search(line), line
    assert "not available: the judge scores one reply at a time" in text.stdout

    nobody = run_arena("judge", "agreement", "--suite", "--judge-model", "nobody", "--json", "--bootstrap", "20",
                       "--database-url", database_url)  # fmt: skip
    assert nobody.returncode == 0 and json.loads(nobody.stdout)["items"] == 0


def test_the_suite_on_llmfao_prints_every_metric_with_an_interval():
    crowd = shared_file("llmfao/crowd-comparisons.csv")
    result = run_arena("judge", "agreement", "--suite", "--llmfao", str(crowd.parent), "--bootstrap", "100")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("GPT-4 (LLMFAO) on llmfao: 2139 pairs, 8931 human votes, 59 models")
    for label in (*METRICS, "human-human agreement, with ties", "human-human agreement, without ties",
                  "ceiling for any judge, with ties", "ceiling for any judge, without ties"):  # fmt: skip
        line = next(line for line in lines if label in line)
        assert INTERVAL.search(line), line
    # LLMFAO judged each pair in one order: the flip rate says so rather than inventing a figure.
    assert "flip rate when the replies are swapped" in result.stdout and "one order only" in result.stdout

    as_json = run_arena("judge", "agreement", "--suite", "--llmfao", str(crowd.parent), "--bootstrap", "50", "--json")
    suite = json.loads(as_json.stdout)
    # Accuracy with ties counted again straight from the two files.
    with crowd.open(newline="") as handle:
        votes = list(csv.DictReader(handle))
    with (crowd.parent / "gpt4-crowd-comparisons.csv").open(newline="") as handle:
        verdict = {r["id"]: r["winner"] for r in csv.DictReader(handle)}
    agree = sum(v["winner"] == verdict[v["id"]] for v in votes)
    assert suite["accuracy"]["value"] == pytest.approx(agree / len(votes), abs=1e-4)
    humans = suite["humans"]
    assert humans["agreement"]["value"] <= humans["ceiling"]["value"] <= humans["ceiling_bound"]["value"] + 0.01


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--llmfao", "."), "--llmfao needs --suite"),
        (("--suite",), "--judge-model SLUG is required"),
        (("--suite", "--llmfao", "/nonexistent-llmfao"), "no crowd-comparisons.csv in /nonexistent-llmfao"),
        (("--suite", "--llmfao", ".", "--judge-model", "x"), "leave out --judge-model"),
    ],
)
def test_bad_input_exits_2_with_one_line(args, reason):
    result = run_arena("judge", "agreement", *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr
