"""The recompute job and the `arena ratings recompute` command load what they need (SQLAlchemy, numpy, scipy,
choix), not the web stack or Alembic: a cron job's recompute on a small site is dominated by imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

UNWANTED = ("flask", "werkzeug", "jinja2", "alembic", "mako")


def _loaded(code: str) -> list[str]:
    check = f"import sys\n{code}\nprint(__import__('json').dumps(sorted(m for m in {UNWANTED!r} if m in sys.modules)))"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path) -> str:
    """A migrated, empty SQLite database (the command checks the schema before anything else)."""
    path = tmp_path / "arena.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_importing_the_recompute_job_loads_no_flask_or_alembic():
    assert _loaded("import arena.jobs.recompute") == []


def test_the_recompute_command_loads_no_flask_or_alembic(sqlite_url):
    url = sqlite_url
    # No votes: the command stops with its one-line reason (exit 2) after the schema check and the job's imports.
    run = (
        "from arena.cli import main\n"
        "try:\n"
        f"    main(['ratings', 'recompute', '--database-url', {url!r}], standalone_mode=False)\n"
        "except Exception as exc:\n"
        "    assert 'no counted votes' in str(exc), exc\n"
        "import arena.jobs.recompute\n"
    )
    assert _loaded(run) == []


def test_the_command_line_loads_numpy_only_in_the_command():
    """`arena ratings recompute` sets BLAS to one thread before the job's imports load numpy; that only works
    while nothing the command line imports first loads numpy."""
    check = "import sys\nimport arena.cli\nprint('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "False"


def test_the_recompute_command_runs_blas_on_one_thread_unless_told_otherwise(sqlite_url):
    url = sqlite_url
    check = (
        "import os\n"
        "from arena.cli import main\n"
        "try:\n"
        f"    main(['ratings', 'recompute', '--database-url', {url!r}], standalone_mode=False)\n"
        "except Exception:\n"
        "    pass\n"
        "print(os.environ.get('OPENBLAS_NUM_THREADS'))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    for chosen, expected in ((None, "1"), ("2", "2")):
        run_env = env if chosen is None else {**env, "OPENBLAS_NUM_THREADS": chosen}
        result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True,
                                timeout=120, env=run_env)  # fmt: skip
        assert result.stdout.strip().splitlines()[-1] == expected
