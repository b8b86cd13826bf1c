"""Playwright drives Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail

CHROMIUM = "/usr/bin/chromium"
# Without these, Chromium keeps trying to reach Google's hosts, which this closed network refuses.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        skip_or_fail(f"browser tests need Debian's Chromium at {CHROMIUM} (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


@pytest.fixture
def console_errors(page) -> list[str]:
    """Console errors, CSP violations included, collected while the test runs."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


# A slow phone link (the issues' "Fast 3G"-like figure): 150 ms round trip, 1.6 Mbit/s each way.
RTT_MS = 150
THROUGHPUT = 1_600_000 / 8  # bytes per second


def throttle(page) -> None:
    """Put the page behind the slow link, with the cache off so every file crosses it."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": RTT_MS,
                                                   "downloadThroughput": THROUGHPUT,
                                                   "uploadThroughput": THROUGHPUT})  # fmt: skip
