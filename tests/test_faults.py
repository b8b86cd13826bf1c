"""Faults under load: a gunicorn worker killed with SIGKILL, PostgreSQL restarted, and the `arena` import and
recompute jobs killed part way. Acknowledged votes survive, the site recovers by itself, an outage is a clear
503, and a killed job leaves nothing half-written."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from sqlalchemy import func, select

from arena import create_app
from arena.config import PROJECT_ROOT
from arena.db import make_engine, make_session_factory
from arena.models import Battle, Rating, RatingRun, Vote
from ratings.simulate import simulate, true_strengths
from tests.conftest import make_settings, parse_battle_page, skip_or_fail
from tests.gunicorn_server import GunicornServer, free_port, prepare_database, public_ids, stored_votes
from tests.votes_files import battle_records, write_jsonl

HTMX = {"HX-Request": "true"}
OUTAGE_MESSAGE = "cannot reach its database"


class VisitorLoad:
    """Visitors in threads, each with its own session: open a battle, vote, again, until stopped. Records every
    answer, and the vote URLs the server acknowledged (200 reveal)."""

    def __init__(self, base_url: str, visitors: int = 4) -> None:
        self.base_url = base_url
        self.visitors = visitors
        self.acked: list[str] = []
        self.statuses: Counter[int] = Counter()
        self.outage_answers: list[requests.Response] = []
        self.connection_errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _record(self, response: requests.Response) -> None:
        with self._lock:
            self.statuses[response.status_code] += 1
            if response.status_code == 503:
                self.outage_answers.append(response)

    def _visitor(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        with requests.Session() as http:
            while not self._stop.is_set():
                try:
                    page = http.get(f"{self.base_url}/", headers=HTMX, timeout=20)
                    self._record(page)
                    if page.status_code != 200:
                        time.sleep(0.05)
                        continue
                    action, csrf = parse_battle_page(page.text)
                    if 'action="/terms/accept"' in page.text:  # a new visitor accepts the terms first
                        self._record(http.post(f"{self.base_url}/terms/accept", data={"csrf_token": csrf}, timeout=20))
                        continue
                    outcome = ["model_a", "model_b", "tie", "both_bad"][int(rng.integers(4))]
                    vote = http.post(f"{self.base_url}{action}", data={"outcome": outcome, "csrf_token": csrf},
                                     headers=HTMX, timeout=20)  # fmt: skip
                    self._record(vote)
                    if vote.status_code == 200:
                        with self._lock:
                            self.acked.append(action)
                except requests.RequestException:
                    with self._lock:
                        self.connection_errors += 1
                    time.sleep(0.05)

    def start(self) -> VisitorLoad:
        self._threads = [threading.Thread(target=self._visitor, args=(k,), daemon=True) for k in range(self.visitors)]
        for thread in self._threads:
            thread.start()
        return self

    def acked_count(self) -> int:
        with self._lock:
            return len(self.acked)

    def wait_for_acks(self, more_than: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while self.acked_count() <= more_than:
            assert time.monotonic() < deadline, f"no vote acknowledged within {timeout} s: {self.statuses}"
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)


def assert_all_acknowledged_votes_stored(load: VisitorLoad, database_url: str) -> None:
    ids = public_ids(load.acked)
    assert len(ids) == len(load.acked), "a battle was acknowledged twice"
    found, total = stored_votes(database_url, ids)
    assert ids - found == set(), f"{len(ids - found)} acknowledged votes are missing"
    assert total >= len(ids)


@pytest.fixture
def load_server(database_url, demo_loaded, tmp_path) -> Iterator[GunicornServer]:
    server = GunicornServer(database_url, workers=2, threads=4, log_path=tmp_path / "gunicorn.log")
    with server:
        yield server


def test_sigkill_of_a_worker_loses_no_acknowledged_vote_and_the_master_replaces_it(load_server, database_url,
                                                                                  tmp_path):  # fmt: skip
    load = VisitorLoad(load_server.url).start()
    try:
        load.wait_for_acks(more_than=20)
        victim = load_server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        before_kill = load.acked_count()

        deadline = time.monotonic() + 30
        while not (len(pids := load_server.worker_pids()) == 2 and victim not in pids):
            assert time.monotonic() < deadline, "gunicorn did not replace the killed worker"
            time.sleep(0.1)
        # Both workers (the survivor and the new one) keep serving after the kill.
        load.wait_for_acks(more_than=before_kill + 40)
    finally:
        load.stop()

    assert set(load.statuses) == {200}, load.statuses
    # Only requests in flight on the killed worker's connections may fail, each visitor at most once or twice.
    assert load.connection_errors <= 2 * load.visitors
    assert_all_acknowledged_votes_stored(load, database_url)
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text(errors="replace")


# --- PostgreSQL restarted mid-load: a private throwaway cluster, never the shared server ---


def _pg_binary(name: str) -> str | None:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = shutil.which(name)
    return next(iter(candidates), found)


class PrivatePostgres:
    """A PostgreSQL cluster of our own, in a temporary directory, run as the `postgres` OS user."""

    def __init__(self) -> None:
        self.initdb, self.pg_ctl = _pg_binary("initdb"), _pg_binary("pg_ctl")
        if not (self.initdb and self.pg_ctl and shutil.which("runuser")):
            skip_or_fail("the PostgreSQL restart test needs initdb, pg_ctl and runuser")
        if os.geteuid() != 0:
            skip_or_fail("the PostgreSQL restart test runs initdb as the postgres user, which needs root")
        self.root = Path(tempfile.mkdtemp(prefix="arena-pg-"))
        shutil.chown(self.root, user="postgres")
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=timeout)

    def _ctl(self, action: str, *extra: str) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        self._as_postgres(self.pg_ctl, action, "-D", str(self.data), "-l", str(self.root / "server.log"),
                          "-o", options, "-w", "-t", "60", *extra)  # fmt: skip

    def start(self) -> PrivatePostgres:
        self._as_postgres(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        self._ctl("start")
        return self

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def restart(self) -> None:
        self._ctl("start")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("stop", "-m", "immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        yield cluster.start()
    finally:
        cluster.destroy()


def test_postgres_restart_mid_load_is_a_clear_503_and_the_site_recovers_by_itself(private_postgres, tmp_path):
    prepare_database(private_postgres.url)
    with GunicornServer(private_postgres.url, workers=2, threads=4, log_path=tmp_path / "gunicorn.log") as server:
        load = VisitorLoad(server.url).start()
        try:
            load.wait_for_acks(more_than=20)
            private_postgres.stop()
            outage_started = load.acked_count()
            deadline = time.monotonic() + 30
            while len(load.outage_answers) < 10:
                assert time.monotonic() < deadline, f"no 503 during the outage: {load.statuses}"
                time.sleep(0.05)
            assert load.acked_count() - outage_started <= load.visitors, "votes acknowledged with the database down"
            private_postgres.restart()
            # Nobody restarts the site: the pool's pre-ping replaces the dead connections on the next requests.
            back = load.acked_count()
            load.wait_for_acks(more_than=back + 40)
        finally:
            load.stop()

    assert set(load.statuses) <= {200, 503}, load.statuses
    assert load.connection_errors == 0
    for answer in load.outage_answers:
        assert answer.headers.get("Retry-After") == "5"
        assert OUTAGE_MESSAGE in answer.text
        assert "Traceback" not in answer.text and "OperationalError" not in answer.text
    assert_all_acknowledged_votes_stored(load, private_postgres.url)
    assert "Traceback" not in (tmp_path / "gunicorn.log").read_text(errors="replace")


# --- Jobs killed part way: no half-imported file, no partial rating run ---

BATTLES = 60_000


@pytest.fixture(scope="module")
def big_votes_file(tmp_path_factory) -> Path:
    rng = np.random.default_rng(6)
    names = [f"fault-model-{k:02d}" for k in range(30)]
    battles = simulate(true_strengths(len(names), rng), BATTLES, rng, n_voters=5_000)
    return write_jsonl(tmp_path_factory.mktemp("faults") / "battles.jsonl", battle_records(battles, names))


def _arena(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "arena.cli", *args], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _read_position(pid: int, path: Path) -> int | None:
    """How far process `pid` has read into `path` (its open file's offset), or None if it has it not open."""
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == str(path):
                info = (Path(f"/proc/{pid}/fdinfo") / fd.name).read_text()
                return int(info.split("pos:")[1].split()[0])
        except OSError:
            continue
    return None


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the job finished before it could be killed"


def _counts(database_url: str) -> dict[str, int]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            return {
                "battles": session.scalar(select(func.count()).select_from(Battle)),
                "votes": session.scalar(select(func.count()).select_from(Vote)),
                "runs": session.scalar(select(func.count()).select_from(RatingRun)),
                "ratings": session.scalar(select(func.count()).select_from(Rating)),
            }
    finally:
        engine.dispose()


def test_import_killed_part_way_leaves_nothing_and_a_rerun_imports_all(database_url, big_votes_file):
    size = big_votes_file.stat().st_size
    job = _arena("import", "votes", str(big_votes_file), "--database-url", database_url)
    deadline = time.monotonic() + 60
    while True:
        assert job.poll() is None, f"the import ended before a third of the file was read: {job.communicate()}"
        assert time.monotonic() < deadline, "the import never got a third of the way through the file"
        position = _read_position(job.pid, big_votes_file)
        if position is not None and position > size // 3:
            break
        time.sleep(0.01)
    # Killed while it runs: part way through the file, or (a poll that came late on a busy machine) past the
    # reading but before its transaction committed; _kill checks that it had not finished.
    _kill(job)

    assert _counts(database_url) == {"battles": 0, "votes": 0, "runs": 0, "ratings": 0}
    rerun = _arena("import", "votes", str(big_votes_file), "--database-url", database_url)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    counts = _counts(database_url)
    assert counts["battles"] == counts["votes"] == BATTLES


def test_recompute_killed_part_way_leaves_no_partial_run_and_a_rerun_succeeds(database_url, big_votes_file):
    imported = _arena("import", "votes", str(big_votes_file), "--database-url", database_url)
    assert imported.communicate(timeout=300) and imported.returncode == 0

    # Enough bootstrap rounds that the fit runs for several CPU seconds, so the kill lands inside it.
    job = _arena("ratings", "recompute", "--bootstrap", "5000", "--seed", "1", "--database-url", database_url)
    # Killed once it has done some work of its own (Python and numpy alone take about half a CPU second).
    deadline = time.monotonic() + 60
    while _cpu_seconds(job.pid) < 1.5:
        assert job.poll() is None, f"the recompute ended before it could be killed: {job.communicate()}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    _kill(job)
    assert _counts(database_url)["runs"] == 0
    assert _counts(database_url)["ratings"] == 0

    rerun = _arena(
        "ratings", "recompute", "--bootstrap", "200", "--seed", "1", "--json", "--database-url", database_url
    )
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    counts = _counts(database_url)
    assert counts["runs"] == 1
    assert counts["ratings"] >= 30


def test_a_database_that_refuses_connections_is_a_503_page_and_json_not_a_traceback():
    # Nothing listens on this port: every connection attempt is refused, as while PostgreSQL restarts.
    app = create_app(make_settings(f"postgresql://postgres@127.0.0.1:{free_port()}/arena", testing=False))
    client = app.test_client()
    page = client.get("/")
    assert page.status_code == 503
    assert page.headers["Retry-After"] == "5"
    assert OUTAGE_MESSAGE in page.get_data(as_text=True)
    assert "Traceback" not in page.get_data(as_text=True)
    fragment = client.get("/", headers=HTMX)
    assert fragment.status_code == 503 and OUTAGE_MESSAGE in fragment.get_data(as_text=True)
    api = client.get("/api/leaderboard")
    assert api.status_code == 503
    assert OUTAGE_MESSAGE in api.get_json()["error"]
    app.extensions["arena.engine"].dispose()
