"""Paths to ../shared/data (read by tests and benchmarks; never copied into the project)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from tests.conftest import skip_or_fail

SHARED_DATA = Path(os.environ.get("ARENA_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def shared_file(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.exists():
        skip_or_fail(f"shared data file {path} is missing (set ARENA_SHARED_DATA)")
    return path


def llmfao_crowd_votes() -> list[tuple[str, str, str, str]]:
    """(left model, right model, winner as model_a/model_b/tie, worker) for each LLMFAO crowd vote."""
    winner = {"left": "model_a", "right": "model_b", "tie": "tie"}
    with shared_file("llmfao/crowd-comparisons.csv").open(newline="", encoding="utf-8") as handle:
        return [(r["left"], r["right"], winner[r["winner"]], r["worker"]) for r in csv.DictReader(handle)]
