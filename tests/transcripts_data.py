"""The 56 real EQ-Bench 4 transcripts of ../shared/data/eqbench4_transcripts (read in place, never copied), and
a loader that imports them whole (as `arena import replies DIR --format eqbench4 --turns all` does) in-process."""

from __future__ import annotations

import json
from pathlib import Path

from arena.db import transaction
from arena.ingest.eqbench4 import read_full_transcripts, transcript_files
from arena.ingest.transcript_import import import_transcripts
from tests.shared_data import shared_file


def transcripts_dir() -> Path:
    return shared_file("eqbench4_transcripts")


def transcript_docs() -> dict[str, dict]:
    """{"<model slug>/<n>.json": the parsed file} for every transcript."""
    return {f"{p.parent.name}/{p.name}": json.loads(p.read_text(encoding="utf-8"))
            for p in transcript_files(transcripts_dir())}  # fmt: skip


def load_transcripts(session_factory, models: list[str] | None = None):
    """Import the transcripts (only those of `models`' folders, if given) with every turn."""
    files = [p for p in transcript_files(transcripts_dir()) if models is None or p.parent.name in models]
    with transaction(session_factory) as session:
        return import_transcripts(session, read_full_transcripts(files))
