"""What the proof-of-work costs: an honest browser (Chromium, desktop and a phone's CPU), a script, the server.

Run from the repository root (not part of the default test run):

    python -m tests.benchmarks.pow_bench [--difficulty 60000] [--runs 5] [--throttle 1,4] [--workers 0]

- Browser: the real site (demo data, the site's CSP) in Debian's Chromium; each run is a new visitor who opens a
  battle, and the time is from the page's load to the solution in the accept form, with the CPU slowed by each
  `--throttle` factor (Chrome's own CPU throttling; 4x is its "mid-tier mobile" preset). `--workers` caps the
  widget's workers (0: the widget's default, one per core, here `os.cpu_count()`).
- Script: the same challenge solved by the `altcha` package in one Python process (hashlib's PBKDF2, native
  code): what a script pays per identity on one core.
- Server: issuing and verifying one challenge (both on the web worker).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import altcha
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from arena import create_app
from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank, read_demo_bank
from arena.migrate import upgrade
from arena.voting import proof_of_work
from tests.conftest import make_settings
from tests.e2e.conftest import CHROMIUM, CHROMIUM_FLAGS


def serve(database_url: str, difficulty: int):
    engine = make_engine(database_url)
    upgrade(engine)
    with transaction(make_session_factory(engine)) as session:
        load_demo_bank(session, read_demo_bank())
    engine.dispose()
    app = create_app(make_settings(database_url, require_terms=True, count_unverified=False,
                                   pow_difficulty=difficulty))  # fmt: skip
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def browser_solves(base: str, runs: int, throttle: float, workers: int) -> list[float]:
    seconds = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 390, "height": 844})
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": throttle})
            if workers:
                cores = f"Object.defineProperty(navigator, 'hardwareConcurrency', {{get: () => {workers}}})"
                page.add_init_script(cores)
            page.goto(base + "/", wait_until="load")
            start = page.evaluate("performance.now()")
            # Polled from here: the site's CSP forbids the string evaluation wait_for_function needs.
            solution = page.locator("form.terms-accept input[name=altcha]")
            while not solution.input_value(timeout=180_000):
                time.sleep(0.02)
            seconds.append((page.evaluate("performance.now()") - start) / 1000)
            context.close()
        browser.close()
    return seconds


def script_solves(difficulty: int, runs: int) -> list[float]:
    keys = proof_of_work.Secrets.from_secret("bench")
    seconds = []
    for k in range(runs):
        challenge = altcha.Challenge.from_dict(proof_of_work.new_challenge(keys, f"visitor-{k}", difficulty))
        start = time.perf_counter()
        assert altcha.solve_challenge(challenge, timeout=600) is not None
        seconds.append(time.perf_counter() - start)
    return seconds


def server_costs(difficulty: int, runs: int = 200) -> tuple[float, float]:
    """(ms to issue a challenge, ms to verify a solution)."""
    keys = proof_of_work.Secrets.from_secret("bench")
    start = time.perf_counter()
    challenges = [proof_of_work.new_challenge(keys, "visitor", difficulty) for _ in range(runs)]
    issue = (time.perf_counter() - start) / runs * 1000
    challenge = altcha.Challenge.from_dict(challenges[0])
    payload = altcha.Payload(challenge, altcha.solve_challenge(challenge, timeout=600)).to_base64()
    start = time.perf_counter()
    for _ in range(runs):
        proof_of_work.check_solution(keys, "visitor", payload)
    return issue, (time.perf_counter() - start) / runs * 1000


def describe(seconds: list[float]) -> str:
    ordered = sorted(seconds)
    return (f"median {statistics.median(ordered):6.2f} s   min {ordered[0]:6.2f}   max {ordered[-1]:6.2f}"
            f"   (n={len(ordered)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--difficulty", type=int, default=make_settings("sqlite://").pow_difficulty)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--throttle", default="1,4", help="CPU slow-down factors, comma separated")
    parser.add_argument("--workers", type=int, default=0)
    args = parser.parse_args()

    issue, verify = server_costs(args.difficulty)
    print(f"difficulty {args.difficulty} ({proof_of_work.ALGORITHM}, {proof_of_work.ITERATIONS} iterations an "
          f"attempt; a solve takes 0-{args.difficulty} attempts, {args.difficulty // 2} on average)")  # fmt: skip
    print(f"server: issue a challenge {issue:.3f} ms, verify a solution {verify:.3f} ms")
    print(f"script (altcha package, one core):       {describe(script_solves(args.difficulty, args.runs))}")
    with tempfile.TemporaryDirectory() as directory:
        server, base = serve(f"sqlite:///{Path(directory) / 'pow.sqlite3'}", args.difficulty)
        try:
            workers = args.workers or os.cpu_count()
            for factor in (float(x) for x in args.throttle.split(",")):
                label = f"browser, CPU {factor:g}x slower, {workers} workers:"
                print(f"{label:<41}{describe(browser_solves(base, args.runs, factor, args.workers))}")
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
