"""The `arena` command run as an operator runs it: a subprocess of this Python."""

from __future__ import annotations

import os
import subprocess
import sys


def run_arena(*args: str, env: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "arena.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
