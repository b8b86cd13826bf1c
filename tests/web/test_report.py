"""`arena analysis report`: a small arena (both databases) rated, analysed and reported; every number in its CSV
files is the one /api serves for that run; the HTML is self-contained; a new kind of effect stored in the
analysis shows up without code; bad targets exit 2 and a failed write leaves nothing behind."""

from __future__ import annotations

import csv
import json
import math
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from arena.cli import main
from arena.jobs.analysis import analyse
from arena.jobs.prediction import predict
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import AnalysisRun, RatingRun
from arena.web import report as report_job
from arena.web.report_tables import measures, resolve
from arena.web.study import is_per_unit, win_points
from tests.votes_files import synthetic_eq_battles, write_jsonl

SOURCE = "Synthetic battles for the report test, CC0"


def arena(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def reported(database_url, session_factory, tmp_path):
    """400 imported battles with EQ and style, a rating run with voter-clustered intervals, its analysis with a
    held-out prediction, and the report."""
    battles = synthetic_eq_battles(400, seed=5)
    for k, record in enumerate(battles[::2]):  # half on messages tagged Sadness: two boards beside the overall one
        record["conversation_a"] = [{"role": "user", "content": f"My cat died this morning ({k % 20})."}]
        record["category_tag"] = {"emotion_v0.1": ["Sadness"]}
    votes = write_jsonl(tmp_path / "votes.jsonl", battles)
    assert arena("import", "votes", str(votes), "--source", SOURCE, "--database-url", database_url).exit_code == 0
    run = recompute(session_factory, session_factory, RecomputeRequest(ci="cluster", rounds=50, seed=3))
    analysis = analyse(session_factory, session_factory, min_eq_battles=20, rounds=200)
    predict(session_factory, session_factory, folds=3, min_eq_battles=20)
    out = tmp_path / "report"
    result = arena("analysis", "report", "--out", str(out), "--json", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["run_id"] == run.run_id and summary["analysis_run_ids"] == [analysis["analysis_run_id"]]
    return out, run.run_id, analysis["analysis_run_id"]


def rows(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def same(cell: str, value) -> bool:
    """A CSV cell against the API's value, as the report writes it (exact numbers, JSON's true/false, null empty)."""
    if value is None:
        return cell == ""
    if isinstance(value, bool):
        return cell == ("true" if value else "false")
    if isinstance(value, (int, float)):
        return cell != "" and float(cell) == value
    return cell == str(value)


def api(client, path: str, cache: dict) -> dict:
    if path not in cache:
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data(as_text=True))
        cache[path] = response.get_json()
    return cache[path]


def assert_effects_are_the_apis(out, client, served: dict) -> list[dict]:
    """Each row of effects.csv against the record its `api` and `pointer` name (`served[""]`: the run's stored
    summary, for a row no API serves); the points of winning chance against /analysis's conversion."""
    effects = rows(out / "effects.csv")
    for row in effects:
        record = resolve(api(client, row["api"], served), row["pointer"])
        estimate, low, high = (resolve(record, "/" + f) for f in row["fields"].split(","))
        assert same(row["estimate"], estimate) and same(row["ci_low"], low) and same(row["ci_high"], high), row
        if row["section"] == "result/coefficients" and estimate is not None:
            keys = ("estimate", "ci_low", "ci_high") if is_per_unit(record) else (
                "estimate_std", "std_ci_low", "std_ci_high")  # fmt: skip
            for column, key in zip(("points", "points_low", "points_high"), keys, strict=True):
                assert float(row[column]) == round(win_points(record[key]), 2)
    return effects


def test_every_number_in_the_csv_files_is_the_apis(reported, client):
    out, run_id, analysis_id = reported
    served: dict = {}
    board_rows = rows(out / "leaderboard.csv")
    assert {r["board"] for r in board_rows} == {"overall", "Sadness", "Negative, low energy"}
    assert len(board_rows) == 3 * 8
    for row in board_rows:
        board = api(client, f"/api/leaderboard?{urlencode({'run': run_id, 'category': row['board']})}", served)
        assert board["run_id"] == run_id == int(row["run_id"])
        (rating,) = [r for r in board["ratings"] if r["model"] == row["model"]]
        for column, cell in row.items():
            if column in ("board", "run_id"):
                continue
            if column in rating:
                assert same(cell, rating[column]), (column, cell, rating[column])
            else:  # a pair the API serves as a list: [low, high]
                base, _, end = column.rpartition("_")
                pair = rating[base]
                assert same(cell, None if pair is None else pair[0 if end == "low" else 1]), (column, cell)
    # The latest board of the API is this run's (no other run was made).
    overall = api(client, f"/api/leaderboard?run={run_id}&category=overall", served)
    assert api(client, "/api/leaderboard", served)["ratings"] == overall["ratings"]

    effects = assert_effects_are_the_apis(out, client, served)
    analysis = api(client, f"/api/analysis?run={analysis_id}", served)
    assert analysis["rating_run_id"] == run_id and api(client, "/api/analysis", served) == analysis
    # Every coefficient, every EQ bin, the position and tie figures of the run: all there.
    coefficients = analysis["result"]["coefficients"]
    found = {r["pointer"] for r in effects if r["section"] == "result/coefficients"}
    assert found == {f"/result/coefficients/{k}" for k, c in enumerate(coefficients) if c["estimate"] is not None}
    assert {"eq_overall", "position_a"} <= {r["effect"] for r in effects if r["section"] == "result/coefficients"}
    assert sum(r["section"] == "result/eq_win_rate" for r in effects) == sum(
        b["n"] > 0 for b in analysis["result"]["eq_win_rate"])  # fmt: skip
    assert {"a_share", "position_a"} <= {r["effect"] for r in effects if r["section"] == "position"}

    # The analysis's own tables, the prediction's among them, hold the API's values.
    explanations = rows(out / "analysis-overall-prediction-explanations.csv")
    served_rows = {r["key"]: r for r in analysis["result"]["prediction"]["explanations"]}
    for row in explanations:
        assert same(row["log_loss"], served_rows[row["key"]].get("log_loss"))
    calibration = rows(out / "analysis-overall-prediction-explanations-calibration.csv")
    assert calibration and {r["of"] for r in calibration} <= {r["key"] for r in explanations}
    provenance = rows(out / "imported-files.csv")
    assert [(r["kind"], r["source"], r["rows"]) for r in provenance] == [("votes", SOURCE, "400")]

    # The analysis API by rating run; its refusals.
    assert client.get(f"/api/analysis?rating_run={run_id}").get_json()["analysis_run_id"] == analysis_id
    for path, status in ((f"/api/analysis?run={analysis_id + 5}", 404), ("/api/analysis?run=x", 400),
                         ("/api/analysis?category=nothing", 400), (f"/api/analysis?rating_run={run_id + 1}", 404),
                         (f"/api/reliability?run={run_id + 1}", 404), ("/api/reliability?run=0", 400),
                         (f"/api/reasons?run={run_id + 1}", 404), ("/api/reasons?run=-1", 400)):  # fmt: skip
        response = client.get(path)
        assert response.status_code == status and response.get_json()["error"], path
    assert client.get(f"/api/reliability?run={run_id}").get_json() == {
        "run_id": run_id,
        "computed_at": client.get("/api/reliability").get_json()["computed_at"],
        "reliability": None,
    }
    assert client.get(f"/api/reasons?run={run_id}").get_json()["run_id"] == run_id
    coefficients = client.get("/api/analysis").get_json()["result"]["coefficients"]
    assert math.isfinite(next(c for c in coefficients if c["feature"] == "eq_overall")["estimate"])


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.references: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.references += [value or "" for name, value in attrs if name in ("src", "href", "srcset", "action")]


def test_the_page_is_self_contained_and_a_new_kind_of_effect_appears_without_code(
    reported, client, session_factory, database_url, tmp_path
):
    out, run_id, analysis_id = reported
    html = (out / "report.html").read_text(encoding="utf-8")
    parser = Links()
    parser.feed(html)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert all(ref.startswith("#") for ref in parser.references), parser.references
    assert "url(" not in html and "@import" not in html
    assert parser.tags.count("svg") >= 2  # the board and the effects, inline
    board = client.get(f"/api/leaderboard?run={run_id}").get_json()
    code_version = client.get(f"/api/analysis?run={analysis_id}").get_json()["code_version"]
    for text in (f"rating run {run_id}", code_version, "--seed 3", "--bootstrap 50 --seed 3 --ci cluster",
                 "arena analysis eq --rating-run RUN --category overall --min-eq-battles 20 --seed 0",
                 "arena analysis predict --category overall --folds 3", SOURCE, "alpha = 0.01",
                 "resamples whole voters", "Replies a judge scored higher for emotional intelligence win"):  # fmt: skip
        assert text in html, text
    top = board["ratings"][0]
    assert f'<td class="num">{top["rating"]:.3f}</td>' in html
    markdown = (out / "report.md").read_text(encoding="utf-8")
    for title in ("## Methods", "## Data", "## Leaderboards", "## Effects: overall", "## Reproduce"):
        assert title in markdown and title[3:] in html
    for figure in ("figures/board-overall.svg", "figures/effects-overall.svg"):
        assert f"]({figure})" in markdown and (out / figure).read_text().lstrip().startswith("<svg")
    assert f"| 1 | {top['model']} | {top['rating']:.3f} |" in markdown

    # Another study stores a new kind of effect in the analysis: the report shows it, untaught.
    with session_factory() as session, session.begin():
        stored = session.get(AnalysisRun, analysis_id)
        edits = [{"dimension": "remove validation", "estimate": -0.41, "ci_low": -0.7, "ci_high": -0.12, "n": 64}]
        stored.result = {**stored.result, "edits": {"effects": edits}}
        # And repeats measured (as ratings.reliability.as_dict stores them), which this arena has none of.
        run = session.get(RatingRun, run_id)
        measure = {"n": 10, "value": 0.7, "ci": [0.4, 0.9]}
        voters = [{"repeats": 2, "agreed": 1, "rate": 0.5, "ci": [0.1, 0.9]}]
        measures = {"agreement": measure, "ceiling": {**measure, "value": 0.8}, "voters": voters}
        felt_heard = {"tagged": 3, "share": 0.3, "ci_low": 0.1, "ci_high": 0.6}
        reasons = {
            "votes_with_reasons": 9,
            "models": [{"model": "m1", "sides": 10, "rates": {"felt_heard": felt_heard}}],
        }
        run.summary = {**run.summary, "reliability": {"repeats": 12, "items": 8, **measures}, "reasons": reasons}
        run_summary = run.summary
    out = tmp_path / "again"
    assert arena("analysis", "report", "--out", str(out), "--database-url", database_url).exit_code == 0
    (row,) = [r for r in rows(out / "effects.csv") if r["section"] == "result/edits/effects"]
    assert (row["effect"], row["estimate"], row["ci_low"], row["ci_high"]) == ("remove validation", "-0.41", "-0.7",
                                                                               "-0.12")  # fmt: skip
    assert rows(out / "analysis-overall-edits-effects.csv")[0]["dimension"] == "remove validation"
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Estimates with 95% intervals: edits/effects" in html and "remove validation" in html
    effects = assert_effects_are_the_apis(out, client, {"": run_summary})
    (reason,) = [r for r in effects if r["source"] == "reasons"]
    assert (reason["effect"], reason["estimate"], reason["ci_high"]) == ("m1 / felt_heard", "0.3", "0.6")
    assert reason["api"] == f"/api/reasons?run={run_id}"
    assert rows(out / "reasons-models.csv")[0]["model"] == "m1" and "Why people voted" in html
    assert {r["effect"] for r in effects if r["source"] == "repeats"} >= {"agreement", "ceiling"}
    assert [(r["measure"], r["value"], r["ci_high"]) for r in rows(out / "reliability.csv")][:2] == [
        ("agreement", "0.7", "0.9"), ("ceiling", "0.8", "0.9")]  # fmt: skip
    assert rows(out / "reliability-voters.csv")[0]["rate"] == "0.5" and "How far people agree" in html


def test_bad_targets_exit_2_and_a_failed_write_leaves_nothing(reported, database_url, tmp_path, monkeypatch):
    out, run_id, _ = reported
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    for args, reason in (
        (["--out", str(a_file)], "is not a directory"),
        (["--out", str(tmp_path)], "is not empty and holds no earlier report"),
        (["--out", str(tmp_path / "new"), "--run", str(run_id + 99)], f"no rating run {run_id + 99}"),
    ):
        result = arena("analysis", "report", *args, "--database-url", database_url)
        assert result.exit_code == 2 and reason in result.output and len(result.output.strip().splitlines()) == 1
    assert a_file.read_text() == "keep me" and not (tmp_path / "new").exists()

    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real = report_job._write_files

    def fail_halfway(directory, files):
        real(directory, dict(list(files.items())[:3]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_job, "_write_files", fail_halfway)
    fresh = tmp_path / "fresh"
    for target in (fresh, out):  # a new directory, and an earlier report to replace
        result = arena("analysis", "report", "--out", str(target), "--database-url", database_url)
        assert result.exit_code == 2 and "No space left on device" in result.output
    assert not fresh.exists() and {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    monkeypatch.undo()
    assert arena("analysis", "report", "--out", str(out), "--database-url", database_url).exit_code == 0


def test_no_rating_run_is_one_line_exit_2(database_url, tmp_path):
    result = arena("analysis", "report", "--out", str(tmp_path / "r"), "--database-url", database_url)
    assert result.exit_code == 2 and result.output.strip() == (
        "arena: no rating run yet: run `arena ratings recompute` first")  # fmt: skip
    assert not (tmp_path / "r").exists()


def test_the_studies_shapes_are_read_as_estimates_with_intervals():
    """The shapes the other studies store (arms, edits, mediation, reason rates): each figure paired with its own
    interval, never one figure with another's."""
    arm = {"arm": "plain", "log_odds": 0.1, "ci_low": 0.0, "ci_high": 0.2, "points": 2.5, "points_low": 0.0,
           "points_high": 5.0}  # fmt: skip
    edit = {"dimension": "no_validation", "win_chance": 0.4, "ci_low": 0.3, "ci_high": 0.5, "effect_points": -10.0,
            "effect_ci_low": -20.0, "effect_ci_high": 0.0}  # fmt: skip
    mediation = {"mediator": "felt_heard", "indirect": {"estimate": 0.1, "ci_low": 0.0, "ci_high": 0.2}}
    rate = {"tagged": 3, "share": 0.3, "ci_low": 0.1, "ci_high": 0.6}
    document = {"arms": {"effects": [arm]}, "edits": [edit], "mediation": mediation,
                "reasons": [{"model": "m1", "rates": {"felt_heard": rate}}]}  # fmt: skip
    found = {(m.name, m.fields) for m in measures(document)}
    assert found == {
        ("plain / log_odds", ("log_odds", "ci_low", "ci_high")),
        ("plain / points", ("points", "points_low", "points_high")),
        ("no_validation / win_chance", ("win_chance", "ci_low", "ci_high")),
        ("no_validation / effect_points", ("effect_points", "effect_ci_low", "effect_ci_high")),
        ("indirect", ("estimate", "ci_low", "ci_high")),
        ("m1 / felt_heard", ("share", "ci_low", "ci_high")),
    }
