"""The house's map (README "For developers") holds: each capability package imports only the layers its
docstring allows, and ratings/ imports nothing of arena/. Imports inside functions count too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = {"models", "db", "config", "taxonomy", "hashing", "vote_counts"}
ALLOWED = {
    "ingest": CORE | {"ingest"},
    "voting": CORE | {"voting", "ingest"},
    "jobs": CORE | {"jobs", "ingest", "voting"},
    "llm": CORE | {"llm", "ingest", "voting"},
}


def arena_imports(path: Path) -> set[str]:
    """The arena subpackage or module named by every import in a file (`arena.jobs.x` -> `jobs`)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        found.update(name.split(".")[1] for name in names if name.startswith("arena.") and name.count(".") >= 1)
        found.update("arena" for name in names if name == "arena")
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_capability_package_imports_only_the_layers_below_it(package):
    for path in sorted((ROOT / "arena" / package).glob("*.py")):
        stray = arena_imports(path) - ALLOWED[package]
        assert not stray, f"{path.relative_to(ROOT)} imports arena.{', arena.'.join(sorted(stray))}"


def test_the_rating_engine_imports_nothing_of_the_service():
    for path in sorted((ROOT / "ratings").glob("*.py")):
        assert not arena_imports(path), f"{path.relative_to(ROOT)} imports arena"
