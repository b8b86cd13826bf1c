"""Your ranking (/me/ranking): votes cast through the site by one visitor, fitted on request, shrunk toward the
crowd, visible to that visitor's session alone, gone with their data and absent from the API and exports."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from sqlalchemy import select

from arena.models import Battle, Model
from tests.arena_cli import run_arena
from tests.conftest import SECRET, parse_battle_page
from tests.e2e.test_accessibility import recompute_ratings

FAVOURITE = "demo-brief"
RANK_ROW = re.compile(r"<tr[^>]*>\s*<td>(\d+)</td>\s*<td>([^<]+)")


def battle_models(app, session_factory, action: str) -> tuple[str, str]:
    public_id = app.extensions["arena.battle_ids"].unsign(action.split("/")[2])
    with session_factory() as s:
        battle = s.scalars(select(Battle).where(Battle.public_id == public_id)).one()
        return battle.model_a.slug, battle.model_b.slug


def vote_until(
    client, app, session_factory, pick, votes: int, favourite_seen: int = 0, favourite=FAVOURITE, models_seen: int = 0
):
    """Vote through the site with `pick(slug_a, slug_b) -> outcome` until `votes` votes are cast, the favourite
    was in at least `favourite_seen` of them and at least `models_seen` different models were shown."""
    cast = seen = 0
    shown: set[str] = set()
    while cast < votes or seen < favourite_seen or len(shown) < models_seen:
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        a, b = battle_models(app, session_factory, action)
        seen += favourite in (a, b)
        shown |= {a, b}
        response = client.post(action, data={"outcome": pick(a, b), "csrf_token": csrf})
        assert response.status_code == 303
        cast += 1
        assert cast < 200, "the favourite never came up"
    return cast


def for_favourite(favourite=FAVOURITE):
    return lambda a, b: "model_a" if a == favourite else "model_b" if b == favourite else "tie"


def display_name(session_factory, slug: str) -> str:
    with session_factory() as s:
        return s.scalar(select(Model.display_name).where(Model.slug == slug))


def your_ranking(html: str) -> list[str]:
    """The model names of the "Your ranking" table, best first."""
    yours = html.split('id="yours-title"', 1)[1].split("</table>", 1)[0]
    return [name.strip() for _, name in RANK_ROW.findall(yours)]


def crowd_ranking(html: str) -> list[str]:
    crowd = html.split('id="crowd-title"', 1)[1].split("</table>", 1)[0]
    return [name.strip() for _, name in RANK_ROW.findall(crowd)]


def test_fewer_than_ten_votes_say_how_many_more(client, app, demo_loaded, session_factory):
    assert "You have no votes yet" in client.get("/me/ranking").get_data(as_text=True)
    vote_until(client, app, session_factory, for_favourite(), 7)
    page = client.get("/me/ranking")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "You have 7 votes: 3 more are needed" in html
    assert 'id="yours-title"' not in html
    assert page.headers["Cache-Control"] == "private, no-store"


def test_ten_votes_for_a_favourite_put_it_on_top(client, app, demo_loaded, session_factory):
    # Without a crowd board the ranking lists the models this visitor judged, so all six must come up.
    vote_until(client, app, session_factory, for_favourite(), 10, favourite_seen=3, models_seen=6)
    page = client.get("/me/ranking")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    names = your_ranking(html)
    assert len(names) == 6 and names[0] == display_name(session_factory, FAVOURITE)
    # No crowd snapshot yet: the rest sit level, and the crowd's column says so.
    assert "No crowd leaderboard yet" in html
    assert 'aria-current="page">Your ranking</a>' in html


def test_the_reveal_links_to_the_ranking_from_the_tenth_vote(client, app, demo_loaded, session_factory):
    vote_until(client, app, session_factory, for_favourite(), 8)
    for expected in (False, True):  # the ninth vote's reveal, then the tenth's
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        reveal = client.post(action, data={"outcome": "tie", "csrf_token": csrf}, headers={"HX-Request": "true"})
        assert reveal.status_code == 200
        assert ('href="/me/ranking"' in reveal.get_data(as_text=True)) is expected


def test_the_crowd_prior_keeps_unjudged_models_at_the_crowd_position(
    client, app, demo_loaded, session_factory, database_url
):
    # The crowd: another visitor's votes favouring the structured guide, then a recompute.
    crowd = app.test_client()
    vote_until(crowd, app, session_factory, for_favourite("demo-structured-guide"), 40)
    recompute_ratings(database_url)
    # This visitor votes only on battles between two models, so four of the six are never judged by them.
    judged = {"demo-fixer", "demo-brief"}
    cast = 0
    while cast < 10:
        action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
        a, b = battle_models(app, session_factory, action)
        if {a, b} == judged:
            outcome = "model_a" if a == "demo-fixer" else "model_b"
            assert client.post(action, data={"outcome": outcome, "csrf_token": csrf}).status_code == 303
            cast += 1
    html = client.get("/me/ranking").get_data(as_text=True)
    yours, theirs = your_ranking(html), crowd_ranking(html)
    assert sorted(yours) == sorted(theirs) and len(yours) == 6
    fixer, brief = display_name(session_factory, "demo-fixer"), display_name(session_factory, "demo-brief")
    # Unjudged models keep the crowd's scores, so they stay in the crowd's order among themselves.
    assert [n for n in yours if n not in (fixer, brief)] == [n for n in theirs if n not in (fixer, brief)]
    assert yours.index(fixer) < yours.index(brief)
    assert html.count('<span class="tag">not judged</span>') == 4
    assert "Of the 1 pair among the 2 models" in html


def test_another_visitor_sees_their_own_ranking_not_this_one(client, app, demo_loaded, session_factory):
    vote_until(client, app, session_factory, for_favourite(), 10, favourite_seen=3)
    other = app.test_client()
    html = other.get("/me/ranking").get_data(as_text=True)
    assert "You have no votes yet" in html and 'id="yours-title"' not in html
    vote_until(other, app, session_factory, for_favourite("demo-fixer"), 10, favourite_seen=3, favourite="demo-fixer")
    assert your_ranking(other.get("/me/ranking").get_data(as_text=True))[0] == display_name(
        session_factory, "demo-fixer"
    )
    assert your_ranking(client.get("/me/ranking").get_data(as_text=True))[0] == display_name(session_factory, FAVOURITE)


def test_deleting_your_data_deletes_your_ranking(client, app, demo_loaded, session_factory):
    vote_until(client, app, session_factory, for_favourite(), 10)
    assert 'id="yours-title"' in client.get("/me/ranking").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/privacy").get_data(as_text=True)).group(1)
    assert client.post("/privacy/delete", data={"confirm": "yes", "csrf_token": csrf}).status_code == 303
    html = client.get("/me/ranking").get_data(as_text=True)
    assert "You have no votes yet" in html and 'id="yours-title"' not in html


def test_the_ranking_is_not_in_the_api_or_the_export(client, app, demo_loaded, session_factory, database_url, tmp_path):
    vote_until(client, app, session_factory, for_favourite(), 10)
    assert client.get("/api/me/ranking").status_code == 404
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert not [p for p in paths if "ranking" in p or "/me" in p]
    out = tmp_path / "export"
    assert run_arena("export", "--format", "jsonl", "--out", str(out), "--database-url", database_url).returncode == 0
    files = [path for path in out.rglob("*") if path.is_file()]
    assert files and not [path.name for path in files if "ranking" in path.name or "personal" in path.name]
    columns = {key for path in files if path.suffix == ".jsonl" for line in path.read_text().splitlines()
               for key in json.loads(line)}  # fmt: skip
    assert columns and not [c for c in columns if "personal" in c or "my_" in c or "ranking" in c]


@pytest.mark.parametrize("path", ["/me/ranking?visitor=x", "/me/ranking/1"])
def test_no_visitor_id_in_the_address(client, demo_loaded, path):
    response = client.get(path)
    # A query string is ignored (the cookie decides); there is no per-id address.
    assert response.status_code == (200 if "?" in path else 404)


def test_the_full_page_imports_no_rating_engine(client, app, demo_loaded, session_factory, database_url):
    # The page with a fit on it, served in a fresh interpreter to the same visitor (their session cookie): the
    # fit is pure Python, so numpy, scipy and choix stay out of the worker.
    vote_until(client, app, session_factory, for_favourite(), 10)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    script = f"""
import sys
from arena import create_app
from arena.config import Settings
app = create_app(Settings(database_url={database_url!r}, secret_key={SECRET!r}, testing=True,
                          rate_limit_enabled=False, require_terms=False, count_unverified=True))
client = app.test_client()
client.set_cookie({app.config["SESSION_COOKIE_NAME"]!r}, {cookie!r})
assert 'id="yours-title"' in client.get("/me/ranking").get_data(as_text=True), "no ranking shown"
heavy = [m for m in ("litellm", "numpy", "scipy", "choix", "pyarrow") if m in sys.modules]
assert not heavy, f"the ranking page imported {{heavy}}"
print("ok")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr
