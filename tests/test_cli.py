"""The `arena` command as an operator runs it: the installed console script, real databases."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from arena.db import make_engine, make_session_factory
from arena.migrate import current_revision, head_revision
from arena.models import Prompt, Reply
from tests.arena_cli import run_arena
from tests.gunicorn_server import free_port


@pytest.fixture
def instance(tmp_path) -> dict:
    """Keep the default database and the demo secret out of the checkout."""
    return {"ARENA_INSTANCE_PATH": str(tmp_path / "instance")}


def installed_script() -> Path:
    """The `arena` console script pip installed for this Python (a virtual environment's bin/, the system's or the
    user's scripts folder), found without PATH: `.venv/bin/python -m pytest` runs with no environment activated."""
    schemes = [sysconfig.get_default_scheme(), f"{os.name}_user"]
    for folder in dict.fromkeys(sysconfig.get_path("scripts", scheme) for scheme in schemes):
        script = Path(folder) / ("arena.exe" if os.name == "nt" else "arena")
        if script.exists():
            return script
    pytest.fail(f"no arena console script beside {sys.executable}: install the project (pip install -e .)")


def test_console_script_is_installed():
    result = subprocess.run([str(installed_script()), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("init-db", "demo", "serve"):
        assert command in result.stdout


def test_init_db_upgrades_to_head_and_is_idempotent(empty_database_url):
    first = run_arena("init-db", "--database-url", empty_database_url)
    assert first.returncode == 0, first.stderr
    assert f"to revision {head_revision()}" in first.stdout
    second = run_arena("init-db", "--database-url", empty_database_url)
    assert second.returncode == 0 and "already at" in second.stdout
    engine = make_engine(empty_database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_init_db_takes_the_url_from_the_environment(tmp_path):
    url = f"sqlite:///{tmp_path / 'env.sqlite3'}"
    result = run_arena("init-db", env={"ARENA_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "env.sqlite3").exists()


@pytest.mark.parametrize(
    ("url", "reason"),
    [("nonsense://", "not a valid database URL"), ("postgresql://nobody@127.0.0.1:1/none", "cannot open the database")],
)
def test_bad_database_url_exits_2_with_one_line(url, reason):
    result = run_arena("init-db", "--database-url", url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0], result.stderr


def one_line_refusal(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [["init-db"], ["demo", "--port", "1"], ["serve"], ["export", "--out", "out"]])
def test_a_sqlite_path_in_a_missing_directory_is_refused_and_creates_nothing(tmp_path, instance, command):
    url = f"sqlite:///{tmp_path / 'typo' / 'arena.sqlite3'}"
    env = {**instance, "ARENA_SECRET_KEY": "x" * 32}
    before = set(tmp_path.rglob("*"))
    result = subprocess.run([sys.executable, "-m", "arena.cli", *command, "--database-url", url], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env={**os.environ, **env})  # fmt: skip
    line = one_line_refusal(result)
    assert "no directory" in line and str(tmp_path / "typo") in line
    assert set(tmp_path.rglob("*")) == before


@pytest.mark.parametrize("command", [["serve"], ["export", "--out", "out"], ["ratings", "recompute"]])
def test_a_mistyped_sqlite_file_leaves_no_file_behind(tmp_path, instance, command):
    url = f"sqlite:///{tmp_path / 'arena-typo.sqlite3'}"
    env = {**instance, "ARENA_SECRET_KEY": "x" * 32}
    before = set(tmp_path.rglob("*"))
    result = subprocess.run([sys.executable, "-m", "arena.cli", *command, "--database-url", url], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60, env={**os.environ, **env})  # fmt: skip
    line = one_line_refusal(result)
    assert "no database at" in line and "arena init-db" in line
    assert set(tmp_path.rglob("*")) == before


def test_a_postgresql_url_without_the_extra_names_the_extra_and_the_url_form(tmp_path):
    # The postgres extra (psycopg) missing, as after `pip install -e .`: the import of psycopg fails.
    program = (
        "import sys; sys.modules['psycopg'] = None; from arena.cli import main; "
        "sys.argv = ['arena', 'init-db', '--database-url', 'postgresql://arena@127.0.0.1:5432/arena']; main()"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    line = one_line_refusal(result)
    assert "postgres extra" in line and "pip install -e '.[postgres]'" in line
    assert "postgresql://USER:PASSWORD@HOST:5432/DATABASE" in line
    wrong_scheme = run_arena("init-db", "--database-url", "postgres://arena@127.0.0.1/arena")
    assert "postgresql://USER:PASSWORD@HOST:5432/DATABASE" in one_line_refusal(wrong_scheme)


def test_demo_loads_once_and_reset_reloads(database_url, instance):
    first = run_arena("demo", "--no-serve", "--database-url", database_url, env=instance)
    assert first.returncode == 0, first.stderr
    assert "6 models, 48 prompts, 288 replies added" in first.stdout
    second = run_arena("demo", "--no-serve", "--database-url", database_url, env=instance)
    assert "0 models, 0 prompts, 0 replies added" in second.stdout
    reset = run_arena("demo", "--no-serve", "--reset", "--database-url", database_url, env=instance)
    assert "6 models, 48 prompts, 288 replies added" in reset.stdout
    engine = make_engine(database_url)
    with make_session_factory(engine)() as s:
        assert s.scalar(select(func.count()).select_from(Prompt)) == 48
        assert s.scalar(select(func.count()).select_from(Reply)) == 288
    engine.dispose()


def test_serve_refuses_to_start_without_a_secret(database_url, instance):
    env = {**instance, "ARENA_SECRET_KEY": ""}
    result = run_arena("serve", "--database-url", database_url, "--port", "0", env=env, timeout=60)
    assert result.returncode == 2
    assert "ARENA_SECRET_KEY is required" in result.stderr


@pytest.mark.parametrize(
    "setting, value",
    [
        ("ARENA_SECRET_KEY", "x"),
        ("ARENA_SECRET_KEY", "x" * 40),
        ("ARENA_ADMIN_TOKEN", "a"),
        ("ARENA_ADMIN_TOKEN", "short-admin-token"),
    ],
)
def test_serve_refuses_to_start_with_a_weak_secret(database_url, instance, setting, value):
    env = {**instance, "ARENA_SECRET_KEY": "test-secret-key-not-for-production", setting: value}
    result = run_arena("serve", "--database-url", database_url, "--port", "0", env=env, timeout=60)
    assert result.returncode == 2
    line = result.stderr.strip()
    assert len(line.splitlines()) == 1 and f"{setting} is too weak" in line
    assert "secrets.token_urlsafe(32)" in line


def test_serve_production_refuses_bad_settings_and_a_busy_port_in_one_line(database_url, instance):
    """Checked before either service starts: one line on stderr, exit 2, nothing left running."""
    weak = run_arena("serve", "--production", "--database-url", database_url, "--port", "0",
                     env={**instance, "ARENA_SECRET_KEY": "x"}, timeout=60)  # fmt: skip
    assert weak.returncode == 2 and len(weak.stderr.strip().splitlines()) == 1
    assert "ARENA_SECRET_KEY is too weak" in weak.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**instance, "ARENA_SECRET_KEY": "test-secret-key-not-for-production"}
        busy = run_arena("serve", "--production", "--database-url", database_url, "--port", str(port), env=env,
                         timeout=60)  # fmt: skip
    assert busy.returncode == 2 and len(busy.stderr.strip().splitlines()) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr


def test_weak_secrets_are_refused_outside_demo_and_tests():
    from arena import create_app
    from arena.config import ConfigError, Settings

    for weak in ("x", "x" * 64, "abab" * 10, "correct-horse"):
        with pytest.raises(ConfigError, match="ARENA_SECRET_KEY is too weak"):
            create_app(Settings(database_url="sqlite://", secret_key=weak))
    with pytest.raises(ConfigError, match="ARENA_ADMIN_TOKEN is too weak"):
        create_app(Settings(database_url="sqlite://", secret_key="test-secret-key-not-for-production",
                            admin_token="a"))  # fmt: skip
    # Tests and the demo (no secret required of it) are exempt; a generated pair passes.
    Settings(secret_key="x", admin_token="a", testing=True).checked_secrets()
    Settings(secret_key="x", require_secret=False).checked_secrets()
    import secrets

    Settings(secret_key=secrets.token_urlsafe(32), admin_token=secrets.token_urlsafe(18)).checked_secrets()
    Settings(secret_key="d5243193dfbd1c154ca4b479bb2ae3d4").checked_secrets()  # token_hex(16)


def test_serve_refuses_an_unmigrated_database(tmp_path, instance):
    env = {**instance, "ARENA_SECRET_KEY": "x" * 32}
    result = run_arena("serve", "--database-url", f"sqlite:///{tmp_path / 'new.sqlite3'}", env=env, timeout=60)
    assert result.returncode == 2 and "arena init-db" in result.stderr


def test_demo_serves_a_battle_on_a_fresh_default_database(instance):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "arena.cli", "demo", "--port", str(port)],
        env={**os.environ, **instance, "ARENA_DATABASE_URL": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, page = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                page = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert page is not None and page.status_code == 200
        assert "Reply A" in page.text and "A is better" in page.text
        assert (Path(instance["ARENA_INSTANCE_PATH"]) / "arena.sqlite3").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_demo_on_a_busy_port_exits_2_with_one_line_before_announcing_a_url(tmp_path):
    import socket

    from tests.arena_cli import run_arena

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
        result = run_arena("demo", "--port", str(port), "--database-url", url)
    assert result.returncode == 2
    assert "cannot listen on" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "http://" not in result.stdout
