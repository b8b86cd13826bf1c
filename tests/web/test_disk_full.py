"""A full disk under SQLite: the write fails as SQLITE_FULL, the visitor gets a 503 with Retry-After saying so,
nothing stored is lost, and the site recovers by itself once there is room again. The disk is a real 4 MB tmpfs,
so the test needs root (as CI runs)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import func, select

from arena import create_app
from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.demo import load_demo_bank
from arena.models import Battle, Vote
from tests.conftest import make_settings, parse_battle_page, skip_or_fail

# A vote without htmx answers with a redirect to its reveal.
REVEAL_REDIRECT = 303


@pytest.fixture
def small_disk(tmp_path) -> Path:
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        skip_or_fail("mounting a small tmpfs to fill needs root")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if result.returncode != 0:
        skip_or_fail(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write one file until the disk refuses (ENOSPC); returns it so the room can be given back."""
    filler = disk / "filler"
    try:
        with open(filler, "wb") as handle:
            while True:
                handle.write(b"\0" * 4096)
                handle.flush()
    except OSError:
        pass
    return filler


def test_a_full_sqlite_disk_is_a_503_with_retry_after_and_loses_nothing(small_disk, sqlite_template):
    path = small_disk / "arena.sqlite3"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        load_demo_bank(session)
    engine.dispose()
    app = create_app(make_settings(url))
    client = app.test_client()
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    assert (
        client.post(action, data={"outcome": "model_a", "csrf_token": csrf}).status_code == 303
    )  # the no-JS redirect to the reveal

    filler = fill(small_disk)
    # Each page stores a new battle: with no room left, one of the next few writes must fail.
    answers = [client.get("/") for _ in range(20)]
    full = [r for r in answers if r.status_code == 503]
    assert full, [r.status_code for r in answers]
    assert all(r.status_code in (200, 503) for r in answers)
    assert full[0].headers["Retry-After"] == "60"
    assert "no room for new data" in full[0].get_data(as_text=True)

    filler.unlink()
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    assert (
        client.post(action, data={"outcome": "model_b", "csrf_token": csrf}).status_code == 303
    )  # the no-JS redirect to the reveal
    with make_session_factory(app.extensions["arena.engine"])() as session:
        assert session.scalar(select(func.count()).select_from(Vote)) == 2
        assert session.scalar(select(func.count()).select_from(Battle)) >= 2
        assert session.scalar(select(func.count()).select_from(Battle).where(Battle.status == "voted")) == 2
    app.extensions["arena.engine"].dispose()
