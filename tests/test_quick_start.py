"""README's Quick start: exactly two commands, both setting up the same virtual environment and naming every
program by its path in it (nothing assumed on PATH but python3), and `.ci/run` runs the test one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SET_UP = "python3 -m venv .venv && .venv/bin/pip install -e "


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_quick_start_is_two_commands_in_one_virtual_environment():
    demo, tests = quick_start_commands()
    assert demo == SET_UP + ". && .venv/bin/arena demo"
    assert tests == SET_UP + '".[test]" && .venv/bin/python -m pytest'
    for command in (demo, tests):
        programs = [step.split()[0] for step in command.split("&&")]
        # Only python3 comes from PATH; everything else is the virtual environment's own.
        assert programs[0] == "python3" and all(p.startswith(".venv/bin/") for p in programs[1:]), programs


def test_ci_runs_the_readme_test_command_verbatim():
    _, tests = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()
    assert "/.venv/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_readme_says_which_redis_database_the_tests_flush():
    # The default in tests/conftest.py, whatever this run's environment overrides it with.
    conftest = (ROOT / "tests" / "conftest.py").read_text(encoding="utf-8")
    database = re.search(r'"ARENA_TEST_REDIS_URL", "redis://[^"]*/(\d+)"', conftest).group(1)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"(and flush) Redis database {database}" in readme and "ARENA_TEST_REDIS_URL" in readme
