"""`arena analysis report`'s page in Chromium, offline, from a file: nothing fetched but the page itself, no console
error, its figures drawn (the wide one on a laptop, the narrow one on a phone)."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from arena.cli import main
from arena.db import make_engine, make_session_factory
from arena.jobs.analysis import analyse
from arena.jobs.recompute import RecomputeRequest, recompute
from tests.votes_files import synthetic_eq_battles, write_jsonl


def test_the_report_opens_offline_with_no_console_error(page, console_errors, sqlite_template, tmp_path):
    database = tmp_path / "arena.sqlite3"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    votes = write_jsonl(tmp_path / "votes.jsonl", synthetic_eq_battles(200, seed=2))
    assert CliRunner().invoke(main, ["import", "votes", str(votes), "--database-url", url]).exit_code == 0
    engine = make_engine(url)
    factory = make_session_factory(engine)
    recompute(factory, factory, RecomputeRequest(rounds=20))
    analyse(factory, factory, min_eq_battles=20, rounds=50)
    engine.dispose()
    out = tmp_path / "report"
    result = CliRunner().invoke(main, ["analysis", "report", "--out", str(out), "--database-url", url])
    assert result.exit_code == 0, result.output

    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.context.set_offline(True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto((out / "report.html").as_uri())
    assert requested == [(out / "report.html").as_uri()]
    assert page.locator("#effects-overall svg.chart-wide").is_visible()
    assert page.locator("#leaderboards svg.chart-wide").is_visible()
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.locator("#effects-overall svg.chart-narrow").is_visible()
    assert not page.locator("#effects-overall svg.chart-wide").is_visible()
    assert console_errors == []
