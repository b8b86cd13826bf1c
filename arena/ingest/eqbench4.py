"""EQ-Bench 4 transcripts as reply records: a directory of `<model>/<n>.json` files (the layout of
`eqbench4/eqbench4_docs/transcripts/` in the EQ-bench/EQ-bench-site repository).

Each transcript opens with the simulated user's `starter`; its first assistant turn is the model's reply to it.
The folder name is the model's slug (as in EQ-Bench's own file names), `evaluated_model` its display name, and
the scenario's `category` becomes the prompt's situation tag. Later turns, the persona's thoughts and the
judges' scores stay behind: the arena needs one message and one reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from arena.ingest.records import RecordError


class TranscriptError(ValueError):
    """A transcript that cannot become a reply record; the message names its file."""


def transcript_files(directory: Path) -> list[Path]:
    """`<model>/<n>.json` files in a stable order (model, then transcript number); index.json and anything
    else not numbered is skipped."""
    files = [p for p in directory.glob("*/*.json") if p.stem.isdigit()]
    return sorted(files, key=lambda p: (p.parent.name, int(p.stem)))


def transcript_record(path: Path) -> dict:
    """The reply record of one transcript file."""
    where = f"{path.parent.name}/{path.name}"
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise TranscriptError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(doc, dict):
        raise TranscriptError(f"{where}: expected a JSON object")
    starter = doc.get("starter")
    if not isinstance(starter, str) or not starter.strip():
        raise TranscriptError(f"{where}: no opening user message ('starter')")
    turns = doc.get("turns") if isinstance(doc.get("turns"), list) else []
    reply = next((t.get("content") for t in turns if isinstance(t, dict) and t.get("role") == "assistant"), None)
    if not isinstance(reply, str) or not reply.strip():
        raise TranscriptError(f"{where}: no assistant turn")
    core = (doc.get("doc") or {}).get("core_issue") or {}
    category = doc.get("category") or core.get("category")
    record = {
        "prompt": starter,
        "model": path.parent.name,
        "model_name": doc.get("evaluated_model") or path.parent.name,
        "reply": reply,
        "external_id": doc.get("scenario_id"),
    }
    if isinstance(category, str) and category:
        record["situation"] = category
    return record


def read_transcripts(files: list[Path]) -> Iterator[tuple[int, dict, int]]:
    """Records in the shape `import_replies` reads; the 'line' is the file's position in `files` (so a
    RecordError can be traced back to its file)."""
    for number, path in enumerate(files, start=1):
        try:
            yield number, transcript_record(path), number
        except TranscriptError as exc:
            raise RecordError(number, str(exc)) from exc
