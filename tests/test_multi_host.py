"""Two app hosts (network namespaces) behind HAProxy, PostgreSQL through PgBouncer in transaction mode, one Redis
(tests/multi_host.py starts and stops them all). What a second host must not break: the new-identity cap and the
proof-of-work hold whichever host a request reaches, and a host killed mid-storm loses no acknowledged vote.
The sustained-rate figure (100 cycles/s for 5 minutes) is tests/benchmarks/multi_host_bench.py's."""

from __future__ import annotations

import re

import pytest
import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import func, make_url, select

from arena.db import make_engine, make_session_factory
from arena.models import VisitorProof
from tests.conftest import POSTGRES_URL, answer, skip_or_fail
from tests.gunicorn_server import prepare_database, public_ids, stored_votes
from tests.multi_host import CSRF_INPUT, Topology, create_database, emptied, missing_tools, storm

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def migrated() -> str:
    if missing := missing_tools():
        skip_or_fail(f"the multi-host test needs {', '.join(missing)} (apt-get install haproxy pgbouncer)")
    if not POSTGRES_URL:
        skip_or_fail("the multi-host test needs ARENA_TEST_DATABASE_URL")
    url = create_database(POSTGRES_URL, f"{make_url(POSTGRES_URL).database}_hosts")
    prepare_database(url)
    return url


@pytest.fixture
def database(migrated) -> str:
    return emptied(migrated)


class FromAddress(HTTPAdapter):
    """Connections from one loopback address: a visitor on a network of its own (the site hashes the /24)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def visitor(topology: Topology, address: str) -> requests.Session:
    session = requests.Session()
    session.mount("https://", FromAddress(address))
    # As a browser does: flask-wtf checks the Referer of a form posted over HTTPS.
    session.headers["Referer"] = f"{topology.url}/"
    return session


def get(topology, session, path, **kwargs):
    return session.get(f"{topology.url}{path}", verify=str(topology.certificate), timeout=10, **kwargs)


def post(topology, session, path, data):
    return session.post(f"{topology.url}{path}", data=data, verify=str(topology.certificate), timeout=10,
                        allow_redirects=False)  # fmt: skip


@pytest.fixture
def limited(database, tmp_path):
    env = {"ARENA_RATE_LIMIT_ENABLED": "1", "ARENA_NEW_VISITORS_PER_NETWORK_HOUR": "3",
           "ARENA_POW_DIFFICULTY": "1000", "ARENA_COUNT_UNVERIFIED": "0"}  # fmt: skip
    with Topology(database, tmp_path / "hosts", env=env, prepare=False) as topology:
        yield topology


def test_the_identity_cap_and_the_proof_of_work_hold_across_hosts(limited, database):
    # Five new visitors from one network commit to voting; the proxy sends their requests to both hosts in turn.
    statuses, hosts = [], set()
    for _ in range(5):
        session = visitor(limited, "127.0.1.1")
        page = get(limited, session, "/")
        accepted = post(limited, session, "/terms/accept", {"csrf_token": CSRF_INPUT.search(page.text).group(1)})
        statuses.append(accepted.status_code)
        hosts |= {page.headers["X-Served-By"], accepted.headers["X-Served-By"]}
    assert hosts == {"host1", "host2"}
    assert statuses == [303, 303, 303, 429, 429]  # one count in Redis: apart, neither host reaches 3

    # A challenge served by one host is solved and accepted by another; the same solution does not serve a
    # second visitor (it is bound to the first one's key, whichever host checks it).
    first = visitor(limited, "127.0.2.1")
    token = CSRF_INPUT.search(get(limited, first, "/").text).group(1)
    challenge = get(limited, first, "/terms/challenge")
    solution = answer(challenge.json())
    accepted = post(limited, first, "/terms/accept", {"csrf_token": token, "altcha": solution})
    assert accepted.status_code == 303
    assert challenge.headers["X-Served-By"] != accepted.headers["X-Served-By"]
    second = visitor(limited, "127.0.3.1")
    token = CSRF_INPUT.search(get(limited, second, "/").text).group(1)
    replayed = post(limited, second, "/terms/accept", {"csrf_token": token, "altcha": solution})
    assert replayed.status_code == 400 and "Not accepted" in replayed.text
    engine = make_engine(database)
    try:
        with make_session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(VisitorProof)) == 1
    finally:
        engine.dispose()


def test_a_host_killed_mid_storm_loses_no_acknowledged_vote(database, tmp_path):
    with Topology(database, tmp_path / "hosts", env={"ARENA_RATE_LIMIT_ENABLED": "0"}, prepare=False) as topology:
        victim = topology.servers[0]
        result = storm(topology.url, visitors=6, seconds=8, verify=str(topology.certificate),
                       during=[(3, victim.kill)])  # fmt: skip
        print(result.summary())
        assert topology.serving_hosts() == {"host2"}
    ids = public_ids(result.acked)
    found, stored = stored_votes(database, ids)
    assert result.served_by.get("host1") and result.served_by.get("host2")
    assert len(ids) >= 20 and ids <= found
    # A vote may be stored and never acknowledged (its host died, or the run ended, before the answer left):
    # at most one per visitor.
    assert stored - len(ids) <= 6
    assert re.search(r"\d+ cycles", result.summary())
