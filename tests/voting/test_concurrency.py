"""One vote per battle under real concurrency: a threaded HTTP server, 8 client threads, racing duplicates."""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select

from arena.models import Battle, Vote
from tests.conftest import parse_battle_page

BATTLES = 200
DUPLICATES = 50
THREADS = 8


def test_200_votes_and_50_racing_duplicates(live_server, demo_loaded, session_factory):
    visitor = requests.Session()
    forms = []
    for _ in range(BATTLES):
        page = visitor.get(f"{live_server}/", timeout=30)
        assert page.status_code == 200
        forms.append(parse_battle_page(page.text))
    assert len({action for action, _ in forms}) == BATTLES

    rng = random.Random(7)
    outcomes = ["model_a", "model_b", "tie", "both_bad"]
    posts = [(action, csrf, rng.choice(outcomes)) for action, csrf in forms]
    posts += [(action, csrf, rng.choice(outcomes)) for action, csrf in rng.sample(forms, DUPLICATES)]
    rng.shuffle(posts)
    cookies = visitor.cookies.get_dict()

    def post(job):
        action, csrf, outcome = job
        with requests.Session() as s:
            s.cookies.update(cookies)
            r = s.post(
                f"{live_server}{action}",
                data={"outcome": outcome, "csrf_token": csrf},
                allow_redirects=False,
                timeout=60,
            )
        return action, r.status_code, r.text

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(post, posts))

    statuses = [status for _, status, _ in results]
    assert statuses.count(303) == BATTLES, sorted(set(statuses))
    assert statuses.count(409) == DUPLICATES
    for _, status, body in results:
        if status == 409:
            assert re.search("already has a vote", body)
    by_battle: dict[str, list[int]] = {}
    for action, status, _ in results:
        by_battle.setdefault(action, []).append(status)
    assert all(sorted(s) in ([303], [303, 409]) for s in by_battle.values())

    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Vote)) == BATTLES
        assert s.scalar(select(func.count()).select_from(Battle).where(Battle.status == "voted")) == BATTLES
