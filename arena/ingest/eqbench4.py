"""EQ-Bench 4 transcripts as reply records: a directory of `<model>/<n>.json` files (the layout of
`eqbench4/eqbench4_docs/transcripts/` in the EQ-bench/EQ-bench-site repository).

Each transcript opens with the simulated user's `starter`; its first assistant turn is the model's reply to it.
The folder name is the model's slug (as in EQ-Bench's own file names), `evaluated_model` its display name, and
the scenario's `category` becomes the prompt's situation tag. With `--turns first` (the default) later turns,
the persona's thoughts and the judges' scores stay behind: the arena needs one message and one reply. With
`--turns all` (`read_transcript`) the whole transcript is kept as well, checked strictly: the turns must
alternate assistant, user, ... from the model's answer to the starter, each with text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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


def _load(path: Path) -> tuple[str, dict]:
    where = f"{path.parent.name}/{path.name}"
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise TranscriptError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(doc, dict):
        raise TranscriptError(f"{where}: expected a JSON object")
    return where, doc


def transcript_record(path: Path) -> dict:
    """The reply record of one transcript file."""
    return _record(path, *_load(path))


def _record(path: Path, where: str, doc: dict) -> dict:
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


# What a transcript's conversation keeps beside its turns, as the file gives it (missing keys are left out: not
# every file has every judge field).
KEPT_FIELDS = ("dims", "abilities", "ability_score", "ability_samples", "pointwise_judge_model", "judge_analysis",
               "final_status", "persona_model", "num_turns", "title")  # fmt: skip


@dataclass(frozen=True)
class TranscriptTurn:
    idx: int  # the exchange: the person's message and the answer to it share one
    role: str  # 'user' (the persona) or 'assistant' (the model)
    content: str  # exactly as in the file
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Transcript:
    """One file in full: its reply record (as `transcript_record`), its scenario, every turn and what else it
    keeps."""

    where: str  # "<model>/<n>.json", for messages
    record: dict
    scenario: str
    turns: tuple[TranscriptTurn, ...]
    meta: dict
    initial_state: dict | None


def _persona_meta(turn: dict) -> dict:
    """The persona's hidden inner thoughts (which the model never saw): `thinking` and `monologue`, once if the
    two are the same text (as in every published file so far)."""
    thinking, monologue = turn.get("thinking"), turn.get("monologue")
    meta = {}
    if isinstance(thinking, str):
        meta["thinking"] = thinking
    if isinstance(monologue, str) and monologue != thinking:
        meta["monologue"] = monologue
    return meta


def _initial_state(where: str, doc: dict) -> dict | None:
    state = (doc.get("doc") or {}).get("initial_state") if isinstance(doc.get("doc"), dict) else None
    if state is None:
        return None
    if not isinstance(state, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in state.values()
    ):
        raise TranscriptError(f"{where}: doc.initial_state must map each feeling to a number")
    return state


def read_transcript(path: Path) -> Transcript:
    """The whole transcript of one file; TranscriptError (naming the file) if it is not one."""
    where, doc = _load(path)
    record = _record(path, where, doc)
    scenario = doc.get("scenario_id")
    if not isinstance(scenario, str) or not scenario.strip() or len(scenario) > 200:
        raise TranscriptError(f"{where}: no scenario_id (a string of at most 200 characters)")
    turns = doc.get("turns")
    if not isinstance(turns, list) or not turns:
        raise TranscriptError(f"{where}: 'turns' must be a non-empty list")
    kept = [TranscriptTurn(0, "user", doc["starter"])]
    for number, turn in enumerate(turns, start=1):
        expected = "assistant" if number % 2 else "user"
        if not isinstance(turn, dict):
            raise TranscriptError(f"{where}: turn {number} is not an object")
        role, content = turn.get("role"), turn.get("content")
        if role != expected:
            raise TranscriptError(
                f"{where}: turn {number} is {role!r} where {expected!r} was due (turns alternate assistant, user, "
                "... after the starter)"
            )
        if not isinstance(content, str) or not content.strip():
            raise TranscriptError(f"{where}: turn {number} ({role}) has no text")
        # Turn 1 answers the starter (exchange 0); turn 2 is the person's second message (exchange 1), and so on.
        idx = number // 2
        kept.append(TranscriptTurn(idx, role, content, _persona_meta(turn) if role == "user" else {}))
    meta = {key: doc[key] for key in KEPT_FIELDS if key in doc}
    state = _initial_state(where, doc)
    if state is not None:
        meta["initial_state"] = state
    return Transcript(where, record, scenario, tuple(kept), meta, state)


def read_full_transcripts(files: list[Path]) -> Iterator[tuple[int, Transcript]]:
    """`read_transcript` of each file, numbered by its position in `files` (as `read_transcripts`)."""
    for number, path in enumerate(files, start=1):
        try:
            yield number, read_transcript(path)
        except TranscriptError as exc:
            raise RecordError(number, str(exc)) from exc
