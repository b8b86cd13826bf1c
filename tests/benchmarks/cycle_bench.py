"""Battle+vote cycles/s of this checkout against an older one, side by side on one machine, every defence on.

Run from the repository root (not part of the default test run):

    git worktree add --detach ../wt-old 85d148d     # the code before the proof-of-work and cohort work
    python -m tests.benchmarks.cycle_bench --old-tree ../wt-old [--rounds 4] [--seconds 20] [--visitors 12]
                                           [--workers 2] [--threads 2] [--rate-limits memory|redis]

Each checkout runs its own code (its own PYTHONPATH and working directory) under gunicorn -k gthread on SQLite: a
database migrated and loaded with the demo bank by that checkout, copied fresh for every run. Runs alternate
old/new, the order swapped each round, so both meet the same machine load. In a run, `--visitors` closed-loop
visitors (threads of this process, each with one keep-alive connection and its own session) first become voters
as a browser does (the terms accepted, with the proof-of-work solved where the site asks for one), then load
GET / as htmx does and post a vote, again and again, for a warm-up and then `--seconds`.

Every defence stays on, with the sites' own defaults: terms, proof-of-work (votes of a visitor who skipped it would
not count), the identity cap, the minimum dwell, repeats, retired keys, the identity-leak check; rate limits are
checked on every request against limits set too high to be reached (closed-loop visitors vote far faster than a
person, so real limits would refuse them), in memory or in Redis. Jobs are off in both (the recompute is not
the vote path). Prints cycles/s and the cycle's p50/p95 (GET + POST) per run, then the median over the rounds.
"""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests import http_visitor
from tests.gunicorn_server import SECRET, child_pids, free_port
from tests.http_visitor import BATTLE_INPUT, CSRF_INPUT, VOTE_ACTION

UNREACHED_LIMIT = "1000000 per minute"
WARM_UP_SECONDS = 3
OUTCOMES = ("model_a", "model_b", "tie", "both_bad")


class Visitor(http_visitor.Visitor):
    """One browser on the site under test."""

    def __init__(self, port: int) -> None:
        super().__init__(f"http://127.0.0.1:{port}")

    def request(self, method: str, path: str, form: dict | None = None, headers: dict | None = None):
        status, text, _ = super().request(method, path, form=form, headers=headers)
        return status, text

    def become_voter(self) -> None:
        """Accept the terms as a browser would, paying the proof-of-work where the site asks for one."""
        status, page = self.request("GET", "/", headers={"HX-Request": "true"})
        token = CSRF_INPUT.search(page)
        if status != 200 or token is None:
            raise RuntimeError(f"first battle page: {status}")
        if 'action="/terms/accept"' not in page:
            return
        form = {"csrf_token": token.group(1)}
        if battle := BATTLE_INPUT.search(page):
            form["battle"] = battle.group(1)
        status, challenge = self.request("GET", "/terms/challenge")
        if status == 200:
            import json

            from tests.conftest import answer

            form["altcha"] = answer(json.loads(challenge))
        status, _ = self.request("POST", "/terms/accept", form=form)
        if status not in (200, 303):
            raise RuntimeError(f"terms accept: {status}")

    def cycle(self, number: int) -> tuple[float, float]:
        """One battle and its vote; returns the page's and the vote's seconds."""
        started = time.perf_counter()
        status, page = self.request("GET", "/", headers={"HX-Request": "true"})
        page_s = time.perf_counter() - started
        action, token = VOTE_ACTION.search(page), CSRF_INPUT.search(page)
        if status != 200 or action is None or token is None:
            raise RuntimeError(f"battle page {status}")
        started = time.perf_counter()
        status, _ = self.request("POST", action.group(1), form={"outcome": OUTCOMES[number % 4],
                                 "csrf_token": token.group(1)},
                                 headers={"HX-Request": "true", "X-CSRFToken": token.group(1)})  # fmt: skip
        if status != 200:
            raise RuntimeError(f"vote {status}")
        return page_s, time.perf_counter() - started


@dataclass
class Run:
    label: str
    seconds: float = 0.0
    cycle_s: list[float] = field(default_factory=list)
    page_s: list[float] = field(default_factory=list)
    vote_s: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0

    @property
    def cpu_ms_per_cycle(self) -> float:
        return self.server_cpu_s * 1000 / max(1, len(self.cycle_s))

    @property
    def cycles_per_s(self) -> float:
        return len(self.cycle_s) / self.seconds

    def quantile(self, q: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.cycle_s if values is None else values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes used so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def drive(port: int, visitors: int, seconds: float, run: Run, workers: list[int]) -> None:
    """Closed-loop visitors: become voters, warm up, then cycle for `seconds`; figures into `run`, with the CPU time
    the `workers` used meanwhile (what a cycle costs the server, whatever else the machine is doing)."""
    clients = [Visitor(port) for _ in range(visitors)]
    for client in clients:
        client.become_voter()
    lock = threading.Lock()
    warm_until = time.perf_counter() + WARM_UP_SECONDS
    stop_at = warm_until + seconds

    def loop(client: Visitor) -> None:
        number = 0
        while (now := time.perf_counter()) < stop_at:
            number += 1
            try:
                page_s, vote_s = client.cycle(number)
            except (OSError, http.client.HTTPException, RuntimeError) as error:
                with lock:
                    run.errors.append(str(error))
                client.connection.close()
                continue
            if now >= warm_until and time.perf_counter() <= stop_at:
                with lock:
                    run.page_s.append(page_s)
                    run.vote_s.append(vote_s)
                    run.cycle_s.append(page_s + vote_s)

    threads = [threading.Thread(target=loop, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, warm_until - time.perf_counter()))
    cpu_before = cpu_seconds(workers)
    time.sleep(max(0.0, stop_at - time.perf_counter()))
    run.server_cpu_s = cpu_seconds(workers) - cpu_before
    for thread in threads:
        thread.join()
    for client in clients:
        client.connection.close()
    run.seconds = seconds


def site_env(tree: Path, database_url: str, rate_limits: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env.update(PYTHONPATH=str(tree), ARENA_DATABASE_URL=database_url, ARENA_SECRET_KEY=SECRET, ARENA_JOBS="off",
               ARENA_INSTANCE_PATH=str(Path(database_url.removeprefix("sqlite:///")).parent),
               ARENA_RATE_LIMIT_ENABLED="1", ARENA_RATE_LIMIT_BATTLE=UNREACHED_LIMIT,
               ARENA_RATE_LIMIT_VOTE=UNREACHED_LIMIT, ARENA_RATE_LIMIT_NETWORK=UNREACHED_LIMIT)  # fmt: skip
    if rate_limits == "redis":
        env["ARENA_REDIS_URL"] = redis_url
    return env


def prepare_template(tree: Path, path: Path) -> None:
    """A migrated database with the demo bank, made by `tree`'s own code."""
    script = "import sys; from tests.gunicorn_server import prepare_database; prepare_database(sys.argv[1])"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARENA_")}
    env["PYTHONPATH"] = str(tree)
    subprocess.run([sys.executable, "-c", script, f"sqlite:///{path}"], cwd=tree, env=env, check=True)


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def one_run(label: str, tree: Path, template: Path, tmp: Path, round_: int, args) -> Run:
    db = tmp / f"{label}-{round_}.sqlite3"
    shutil.copyfile(template, db)
    if args.rate_limits == "redis":
        flush_redis(args.redis_url)
    port = free_port()
    log = (tmp / f"gunicorn-{label}-{round_}.log").open("wb")
    command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", str(args.workers), "--threads",
               str(args.threads), "-b", f"127.0.0.1:{port}", "arena:create_app()"]  # fmt: skip
    process = subprocess.Popen(command, cwd=tree, env=site_env(tree, f"sqlite:///{db}", args.rate_limits,
                               args.redis_url), stdout=log, stderr=log, start_new_session=True)  # fmt: skip
    run = Run(label)
    try:
        deadline = time.monotonic() + 60
        while len(child_pids(process.pid)) < args.workers or not _responds(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn for {label} did not start; see {log.name}")
            time.sleep(0.2)
        drive(port, args.visitors, args.seconds, run, child_pids(process.pid))
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
    tracebacks = Path(log.name).read_text(errors="replace").count("Traceback")
    if tracebacks:
        run.errors.append(f"{tracebacks} tracebacks in {log.name}")
    return run


def _responds(port: int) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", "/terms")
        return connection.getresponse().status == 200
    except OSError:
        return False


def commit_of(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    return out.stdout.strip()[:70]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-tree", type=Path, required=True, help="a checkout of the older code")
    parser.add_argument("--new-tree", type=Path, default=Path.cwd(), help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--visitors", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rate-limits", choices=["memory", "redis"], default="memory")
    parser.add_argument("--redis-url", default=os.environ.get("ARENA_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
                        help="flushed before every run (with --rate-limits redis)")  # fmt: skip
    args = parser.parse_args()
    trees = {"old": args.old_tree.resolve(), "new": args.new_tree.resolve()}
    for label, tree in trees.items():
        if not (tree / "arena" / "__init__.py").is_file():
            raise SystemExit(f"--{label}-tree {tree}: not a checkout of this project")
    if not 1 <= args.rounds <= 50 or not 1 <= args.seconds <= 600 or not 1 <= args.visitors <= 256:
        raise SystemExit("--rounds must be 1..50, --seconds 1..600 and --visitors 1..256")

    print(f"cycle_bench: {args.visitors} closed-loop visitors, gunicorn -k gthread -w {args.workers} --threads "
          f"{args.threads}, SQLite, rate limits checked in {args.rate_limits}, {args.seconds:g} s per run after a "
          f"{WARM_UP_SECONDS} s warm-up, {os.cpu_count()} cores shared with the visitors")  # fmt: skip
    for label, tree in trees.items():
        print(f"  {label}: {tree} ({commit_of(tree)})")
    runs: dict[str, list[Run]] = {"old": [], "new": []}
    with tempfile.TemporaryDirectory(prefix="arena-cycles-") as tmp:
        tmp = Path(tmp)
        templates = {}
        for label, tree in trees.items():
            templates[label] = tmp / f"{label}-template.sqlite3"
            prepare_template(tree, templates[label])
        print(f"{'round':>5} {'code':>4} {'cycles/s':>9} {'p50 ms':>7} {'p95 ms':>7} {'page p95':>9} "
              f"{'vote p95':>9} {'cpu ms/cycle':>12} {'errors':>6}")  # fmt: skip
        for round_ in range(1, args.rounds + 1):
            order = ("old", "new") if round_ % 2 else ("new", "old")
            for label in order:
                run = one_run(label, trees[label], templates[label], tmp, round_, args)
                runs[label].append(run)
                print(f"{round_:>5} {label:>4} {run.cycles_per_s:>9.1f} {run.quantile(0.5):>7.1f} "
                      f"{run.quantile(0.95):>7.1f} {run.quantile(0.95, run.page_s):>9.1f} "
                      f"{run.quantile(0.95, run.vote_s):>9.1f} {run.cpu_ms_per_cycle:>12.2f} "
                      f"{len(run.errors):>6}", flush=True)  # fmt: skip
                for error in run.errors[:3]:
                    print(f"      {error}")
    medians = {label: statistics.median(r.cycles_per_s for r in rs) for label, rs in runs.items()}
    for label, rs in runs.items():
        p50 = statistics.median(r.quantile(0.5) for r in rs)
        p95 = statistics.median(r.quantile(0.95) for r in rs)
        cpu = statistics.median(r.cpu_ms_per_cycle for r in rs)
        figures = ", ".join(f"{r.cycles_per_s:.0f}" for r in rs)
        print(f"{label}: median {medians[label]:.1f} cycles/s (runs {figures}), cycle p50 {p50:.1f} ms, "
              f"p95 {p95:.1f} ms, server CPU {cpu:.2f} ms per cycle")  # fmt: skip
    print(f"new / old: {medians['new'] / medians['old']:.2f}")
    failed = any(r.errors for rs in runs.values() for r in rs)
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
