"""The report of records an import skipped as invalid: one JSON line per record with its line, reason and (when
it could be read) the record itself, so each one can be fixed and imported again. Written under a temporary
name and moved into place only when the import commits, so a failed import leaves no report claiming rows."""

from __future__ import annotations

from pathlib import Path

import orjson

from arena.ingest.records import RecordError


def default_report_path(source: Path) -> Path:
    """Beside the input: votes.jsonl -> votes.jsonl.skipped.jsonl."""
    return source.with_name(source.name + ".skipped.jsonl")


class SkipReport:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = path.with_name(path.name + ".partial")
        self._handle = self._partial.open("wb")
        self.count = 0

    def __call__(self, error: RecordError, record: dict | None) -> None:
        entry = {"line": error.line, "reason": error.reason, "record": record}
        self._handle.write(orjson.dumps(entry, default=str) + b"\n")
        self.count += 1

    def keep(self) -> None:
        self._handle.close()
        self._partial.replace(self.path)

    def discard(self) -> None:
        self._handle.close()
        self._partial.unlink(missing_ok=True)
