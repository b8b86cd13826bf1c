"""Several app hosts on one machine, as README's "Several app hosts" describes them: each host a network namespace
of its own running gunicorn, HAProxy in front (round robin, health checks, `X-Forwarded-For`), one PostgreSQL
reached through PgBouncer in transaction mode (`?pgbouncer=true`), and one Redis for the limits and counters.

Everything is started here and stopped again: the namespaces and their veth links, a PgBouncer, a Redis and an
HAProxy of the run's own on free ports; nothing of the machine's own services changes but a database created on
the PostgreSQL server. Needs root (namespaces), `ip`, `haproxy` and `pgbouncer` (`apt-get install haproxy
pgbouncer`). Used by tests/test_multi_host.py and tests/benchmarks/multi_host_bench.py.

Plus the visitors that load it: threads that each open a battle through the proxy and vote, timing the page and the
vote apart and keeping every vote the site acknowledged, so a run can check that none was lost.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy import make_url, text

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank
from arena.models import Base
from tests.gunicorn_server import GunicornServer, free_port, prepare_database
from tests.http_visitor import BATTLE_INPUT, CSRF_INPUT, VOTE_ACTION, Visitor

TOOLS = ("ip", "haproxy", "pgbouncer")
HOST_PORT = 8000


def missing_tools() -> list[str]:
    missing = [tool for tool in TOOLS if not shutil.which(tool) and not Path(f"/usr/sbin/{tool}").exists()]
    if os.geteuid() != 0:
        missing.append("root (network namespaces)")
    return missing


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


def wait_for_port(host: str, port: int, process: subprocess.Popen, what: str, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout} s")


@dataclass
class Namespace:
    """A network namespace linked to the root one by a veth pair: the root side is `gateway`, the host `address`."""

    name: str
    gateway: str
    address: str

    def create(self) -> None:
        self.delete()
        outside, inside = f"{self.name}o", f"{self.name}i"
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", outside, "type", "veth", "peer", "name", inside)
        run("ip", "link", "set", inside, "netns", self.name)
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", outside)
        run("ip", "link", "set", outside, "up")
        run("ip", "netns", "exec", self.name, "ip", "addr", "add", f"{self.address}/24", "dev", inside)
        run("ip", "netns", "exec", self.name, "ip", "link", "set", inside, "up")
        run("ip", "netns", "exec", self.name, "ip", "link", "set", "lo", "up")

    def delete(self) -> None:
        # Deleting the namespace deletes its end of the pair, and with it the root end.
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", f"{self.name}o"], capture_output=True)


class NamespacedGunicorn(GunicornServer):
    """gunicorn inside a namespace, bound to the namespace's address."""

    def __init__(self, namespace: Namespace, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.namespace = namespace
        self.port = HOST_PORT
        self.url = f"http://{namespace.address}:{HOST_PORT}"

    def command(self) -> list[str]:
        command = super().command()
        command[command.index("-b") + 1] = f"{self.namespace.address}:{HOST_PORT}"
        return ["ip", "netns", "exec", self.namespace.name, *command]

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once: a host that dies, nothing flushed or finished."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    # Nothing of a test host's needs a graceful end, and a graceful one waits on the proxy's idle connections.
    stop = kill


@dataclass
class Topology:
    """N app hosts behind HAProxy, PgBouncer (transaction mode) in front of `database_url`, one Redis."""

    database_url: str
    workdir: Path
    hosts: int = 2
    workers: int = 1
    threads: int = 4
    env: dict[str, str] = field(default_factory=dict)
    pool_size: int = 20
    # False: the database is already migrated and holds the demo bank (a test module prepares it once).
    prepare: bool = True

    def __post_init__(self) -> None:
        tag = os.getpid() % 10_000
        subnet = 100 + os.getpid() % 100
        self.namespaces = [Namespace(f"eqa{tag}h{k}", f"10.{subnet}.{k}.1", f"10.{subnet}.{k}.2")
                           for k in range(1, self.hosts + 1)]  # fmt: skip
        self.processes: list[subprocess.Popen] = []
        self.pgbouncer_dir: Path | None = None
        self.servers: list[NamespacedGunicorn] = []
        self.pgbouncer_port = free_port()
        self.redis_port = free_port()
        self.proxy_port = free_port()
        # HAProxy terminates TLS, as in production: the hosts mark the session cookie Secure behind a proxy.
        self.url = f"https://127.0.0.1:{self.proxy_port}"
        self.certificate = self.workdir / "proxy.pem"

    # The services every host reaches on its own veth gateway.
    def _listen_addresses(self) -> list[str]:
        return ["127.0.0.1", *(ns.gateway for ns in self.namespaces)]

    def _spawn(self, command: list[str], log: str, **kwargs) -> subprocess.Popen:
        out = (self.workdir / log).open("ab")
        process = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def start(self) -> Topology:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.prepare:
            prepare_database(self.database_url)
        try:
            for namespace in self.namespaces:
                namespace.create()
            self._start_redis()
            self._start_pgbouncer()
            self._start_hosts()
            self._start_haproxy()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_redis(self) -> None:
        process = self._spawn(["redis-server", "--port", str(self.redis_port), "--bind", *self._listen_addresses(),
                               "--save", "", "--appendonly", "no", "--protected-mode", "no"], "redis.log")  # fmt: skip
        wait_for_port("127.0.0.1", self.redis_port, process, "redis-server")

    def _start_pgbouncer(self) -> None:
        url = make_url(self.database_url)
        # PgBouncer runs as the postgres user, who cannot enter pytest's private temporary folders.
        folder = self.pgbouncer_dir = Path(tempfile.mkdtemp(prefix="eqa-pgbouncer-"))
        (folder / "userlist.txt").write_text(f'"{url.username or "postgres"}" ""\n')
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"arena = host={url.host or '127.0.0.1'} port={url.port or 5432} dbname={url.database}"
            f" user={url.username or 'postgres'}\n"
            "[pgbouncer]\n"
            f"listen_addr = {','.join(self._listen_addresses())}\n"
            f"listen_port = {self.pgbouncer_port}\n"
            "unix_socket_dir =\n"
            "auth_type = trust\n"
            f"auth_file = {folder / 'userlist.txt'}\n"
            "pool_mode = transaction\n"
            f"default_pool_size = {self.pool_size}\n"
            "max_client_conn = 1000\n"
            f"logfile = {folder / 'pgbouncer.log'}\n"
        )
        for path in (folder, *folder.iterdir()):
            path.chmod(0o777 if path.is_dir() else 0o666)
        # PgBouncer will not run as root; -u drops to the database's own system user.
        process = self._spawn(["pgbouncer", "-u", "postgres", str(folder / "pgbouncer.ini")], "pgbouncer.out")
        wait_for_port("127.0.0.1", self.pgbouncer_port, process, "pgbouncer")

    def host_database_url(self, namespace: Namespace) -> str:
        user = make_url(self.database_url).username or "postgres"
        return f"postgresql://{user}@{namespace.gateway}:{self.pgbouncer_port}/arena?pgbouncer=true"

    def _start_hosts(self) -> None:
        for k, namespace in enumerate(self.namespaces, start=1):
            env = {"ARENA_REDIS_URL": f"redis://{namespace.gateway}:{self.redis_port}/0", "ARENA_PROXY_HOPS": "1",
                   **self.env}  # fmt: skip
            server = NamespacedGunicorn(namespace, self.host_database_url(namespace), workers=self.workers,
                                        threads=self.threads, log_path=self.workdir / f"host{k}.log",
                                        extra_env=env, production_config=True)  # fmt: skip
            self.servers.append(server.start())

    def _start_haproxy(self) -> None:
        servers = "\n".join(
            f"    server host{k} {ns.address}:{HOST_PORT} check inter 500ms fall 2 rise 2"
            for k, ns in enumerate(self.namespaces, start=1)
        )
        key = self.workdir / "proxy.key"
        run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(self.certificate))  # fmt: skip
        bundle = self.workdir / "proxy-bundle.pem"
        bundle.write_text(self.certificate.read_text() + key.read_text())
        config = self.workdir / "haproxy.cfg"
        config.write_text(
            "global\n    maxconn 2000\n"
            "defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n"
            "    timeout check 2s\n    option forwardfor\n    option redispatch\n    retries 2\n"
            # Only a request that never reached a host is sent to another: a vote is never sent twice.
            "    retry-on conn-failure\n"
            f"frontend site\n    bind 127.0.0.1:{self.proxy_port} ssl crt {bundle}\n"
            "    http-request set-header X-Forwarded-Proto https\n    default_backend hosts\n"
            "backend hosts\n    balance roundrobin\n    option httpchk GET /static/favicon.svg\n"
            "    http-response set-header X-Served-By %[srv_name]\n"
            f"{servers}\n"
        )
        process = self._spawn(["haproxy", "-db", "-f", str(config)], "haproxy.log")
        wait_for_port("127.0.0.1", self.proxy_port, process, "haproxy")
        deadline = time.monotonic() + 20
        while len(self.serving_hosts()) < len(self.servers) and time.monotonic() < deadline:
            time.sleep(0.2)

    def serving_hosts(self, tries: int = 8) -> set[str]:
        """Which hosts answer through the proxy (its header names the server)."""
        seen = set()
        for _ in range(tries):
            try:
                response = requests.get(f"{self.url}/static/favicon.svg", timeout=5, verify=str(self.certificate))
            except requests.RequestException:
                continue
            if response.ok:
                seen.add(response.headers.get("X-Served-By", "?"))
        return seen

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        for server in self.servers:
            server.stop()
        for namespace in self.namespaces:
            namespace.delete()
        if self.pgbouncer_dir is not None:
            shutil.copy(self.pgbouncer_dir / "pgbouncer.log", self.workdir / "pgbouncer.log")
            shutil.rmtree(self.pgbouncer_dir, ignore_errors=True)

    def __enter__(self) -> Topology:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()


def emptied(database_url: str) -> str:
    """The database with every row gone and the demo bank loaded again (cheaper than migrating anew)."""
    engine = make_engine(database_url)
    try:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        with transaction(make_session_factory(engine)) as session:
            load_demo_bank(session)
    finally:
        engine.dispose()
    return database_url


def create_database(base_url: str, name: str) -> str:
    """A database of the run's own on `base_url`'s server (created if missing); its URL."""
    url = make_url(base_url).set(database=name)
    admin = make_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url.render_as_string(hide_password=False)


@dataclass
class StormResult:
    seconds: float
    cycles: int = 0
    page_ms: list[float] = field(default_factory=list)
    vote_ms: list[float] = field(default_factory=list)
    errors: int = 0
    acked: list[str] = field(default_factory=list)  # vote URLs the site acknowledged
    served_by: dict[str, int] = field(default_factory=dict)

    def p95(self, values: list[float]) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]

    def summary(self) -> str:
        return (f"{self.cycles} cycles in {self.seconds:.1f} s ({self.cycles / self.seconds:.1f}/s), page p95 "
                f"{self.p95(self.page_ms):.0f} ms, vote p95 {self.p95(self.vote_ms):.0f} ms, {self.errors} errors, "
                f"served by {dict(sorted(self.served_by.items()))}")  # fmt: skip


def storm(url: str, *, visitors: int, seconds: float, rate: float | None = None, verify: str | None = None,
          during: list[tuple[float, callable]] | None = None) -> StormResult:  # fmt: skip
    """Visitors that open a battle (as htmx does) and vote, each on its own session, through `url` for `seconds`.
    With `rate`, the visitors together aim at that many cycles a second (each waits out its share); `during`
    runs callables at the given offsets (a host killed mid-storm). `verify` names the proxy's certificate."""
    result = StormResult(seconds=seconds)
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    interval = visitors / rate if rate else 0.0

    def visitor() -> None:
        browser = Visitor(url, cafile=verify, timeout=10)
        next_at = time.monotonic()
        while time.monotonic() < stop_at:
            if interval:
                next_at += interval
            try:
                started = time.monotonic()
                status, page, headers = browser.request("GET", "/", headers={"HX-Request": "true"})
                page_ms = (time.monotonic() - started) * 1000
                action, token = VOTE_ACTION.search(page), CSRF_INPUT.search(page)
                if status == 200 and token and 'action="/terms/accept"' in page:
                    # A new visitor accepts the terms once (the hosts count unverified votes), then has a battle.
                    battle = BATTLE_INPUT.search(page)
                    form = {"csrf_token": token.group(1), **({"battle": battle.group(1)} if battle else {})}
                    browser.request("POST", "/terms/accept", form=form)
                    continue
                if status != 200 or not action or not token:
                    raise RuntimeError(f"battle page {status}")
                started = time.monotonic()
                form = {"outcome": "model_a", "csrf_token": token.group(1)}
                # A vote is posted once: a retry on a lost connection could be a second post of a vote the dead
                # host had stored.
                headers_out = {"HX-Request": "true", "X-CSRFToken": token.group(1)}
                vote_status, _, _ = browser.request("POST", action.group(1), form=form, headers=headers_out,
                                                    retry_lost=False)  # fmt: skip
                vote_ms = (time.monotonic() - started) * 1000
                with lock:
                    result.page_ms.append(page_ms)
                    host = headers.get("X-Served-By", "?")
                    result.served_by[host] = result.served_by.get(host, 0) + 1
                    if vote_status == 200:
                        result.vote_ms.append(vote_ms)
                        result.acked.append(action.group(1))
                        result.cycles += 1
                    else:
                        result.errors += 1
            except (OSError, http.client.HTTPException, RuntimeError):
                browser.close()
                with lock:
                    result.errors += 1
            if interval:
                time.sleep(max(0.0, next_at - time.monotonic()))
        browser.close()

    threads = [threading.Thread(target=visitor, daemon=True) for _ in range(visitors)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for offset, action in sorted(during or [], key=lambda item: item[0]):
        time.sleep(max(0.0, began + offset - time.monotonic()))
        action()
    for thread in threads:
        thread.join(timeout=seconds + 30)
    result.seconds = time.monotonic() - began
    return result
