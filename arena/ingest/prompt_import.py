"""Import prompts from files (DESIGN §5): {"text": ..., "emotions": [EmoNet names or {"name", "intensity"}],
"situation", "need", "language"}, only text required. A prompt whose content hash is already stored (or that
appeared earlier in the same file) is left as it is, so a re-import adds nothing.

`prompt_fields` validates the optional fields for every importer that creates prompts (the reply importer too),
so a value the database would refuse is reported with its line instead of failing the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from arena.ingest.catalog import CatalogError, emotion_tags, get_or_create_prompt
from arena.ingest.records import RecordError

MAX_TEXT = 20_000
# The widths of the prompt table's columns (arena/models.py).
MAX_LABEL = 100
MAX_LANGUAGE = 16


@dataclass(frozen=True)
class PromptImportSummary:
    read: int
    added: int
    kept: int

    def __str__(self) -> str:
        return f"{self.read} prompts read: {self.added} added, {self.kept} already present"


def required_text(line: int, record: dict, field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(line, f"{field} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise RecordError(line, f"{field} is longer than {MAX_TEXT} characters")
    return value


def _optional_label(line: int, record: dict, field: str, limit: int) -> str | None:
    value = record.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value.strip()) > limit:
        raise RecordError(line, f"{field} must be a string of at most {limit} characters")
    return value.strip() or None


def _emotions(line: int, value) -> list:
    """A list of names or {"name", "intensity"} objects; in a CSV cell, names separated by ';' or ',', each
    optionally followed by ':intensity' (e.g. "Sadness:2; Shame")."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        tags = []
        for item in value.replace(";", ",").split(","):
            name, _, intensity = item.partition(":")
            if not name.strip():
                continue
            if not intensity.strip():
                tags.append(name)
            elif intensity.strip() in ("0", "1", "2"):
                tags.append({"name": name, "intensity": int(intensity)})
            else:
                raise RecordError(line, f"emotion {name.strip()!r}: intensity must be 0, 1 or 2, got {intensity!r}")
        return tags
    if not isinstance(value, list):
        raise RecordError(line, "emotions must be a list of EmoNet category names")
    return value


def prompt_fields(line: int, record: dict) -> dict:
    """The optional fields of a new prompt, validated (also when the prompt turns out to exist already, so a
    file's verdict never depends on what the database holds): emotions, situation, need, language."""
    try:
        tags = emotion_tags(_emotions(line, record.get("emotions")))
    except CatalogError as exc:
        raise RecordError(line, str(exc)) from exc
    return {
        "emotions": [{"name": name, "intensity": intensity} for name, intensity in tags],
        "situation": _optional_label(line, record, "situation", MAX_LABEL),
        "need": _optional_label(line, record, "need", MAX_LABEL),
        "language": _optional_label(line, record, "language", MAX_LANGUAGE) or "en",
    }


def import_prompts(
    session: Session, records: Iterable[tuple[int, dict, int]], source: str = "imported"
) -> PromptImportSummary:
    """Import all records in the session's transaction (the caller commits). Raises RecordError on the first
    bad record; the caller then rolls back and nothing is written."""
    read = added = 0
    for line, record, _ in records:
        read += 1
        text = required_text(line, record, "text")
        try:
            _, created = get_or_create_prompt(session, text, source=source, **prompt_fields(line, record))
        except CatalogError as exc:
            raise RecordError(line, str(exc)) from exc
        added += created
    return PromptImportSummary(read, added, read - added)
