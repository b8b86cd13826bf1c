"""Read records from JSONL, JSON-array, CSV or Parquet files, streaming, with the line (or row) number of each.

A record that cannot be read stops the reading (RecordError), unless the caller passes `on_error`: then each
unreadable record is handed to it and reading goes on. Damage to the file itself (a broken JSON array, bytes
that are not UTF-8 in a CSV, a file that is not Parquet) always stops it."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson

from arena.ingest.json_array import ArrayError, array_elements, starts_with_array

FORMATS = ("jsonl", "json", "csv", "parquet")
# .json is told by its content: a JSON array (FastChat's clean_battle_*.json) or JSON lines.
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": None, ".csv": "csv", ".parquet": "parquet"}


# A reason quoting a huge or multi-line value still fits on the one line the CLI prints.
MAX_REASON = 300


class RecordError(ValueError):
    """A record that cannot be read; carries its line number. The message is one line of bounded length."""

    def __init__(self, line: int, message: str) -> None:
        message = " ".join(message.splitlines())
        if len(message) > MAX_REASON:
            message = message[: MAX_REASON - 3] + "..."
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message

    def __reduce__(self):
        # Made again from its parts when it crosses from a worker process (parsed_battles).
        return RecordError, (self.line, self.reason)


OnError = Callable[[RecordError, dict | None], None] | None


def _refuse(on_error: OnError, error: RecordError, record: dict | None = None) -> None:
    """Raise the error, or hand it (with the record when it could be read) to the caller and go on."""
    if on_error is None:
        raise error
    on_error(error, record)


# Deeper records are refused: nothing legitimate nests this far, and Python's recursion limit is near.
MAX_DEPTH = 64


def _check_values(line: int, record: dict) -> None:
    """Refuse NUL characters (PostgreSQL cannot store them in text; refusing them here keeps both backends
    alike) and nesting deeper than MAX_DEPTH. Iterative, so a hostile nest cannot exhaust the stack."""
    stack = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RecordError(line, f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, str):
            if "\x00" in value:
                raise RecordError(line, "contains a NUL character (\\u0000), which text fields cannot hold")
        elif isinstance(value, dict):
            stack.extend((k, depth) for k in value)
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def detect_format(path: Path, given: str | None = None) -> str:
    if given:
        if given not in FORMATS:
            raise ValueError(f"unknown format {given!r} (use {', '.join(FORMATS)})")
        return given
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"cannot tell the format of {path.name} from its extension; pass --format")
    found = _SUFFIXES[suffix]
    if found is None:
        found = "json" if starts_with_array(path) else "jsonl"
    return found


def read_records(path: Path, fmt: str, on_error: OnError = None) -> Iterator[tuple[int, dict, int]]:
    """Yield (line number, record, bytes read so far) for each record."""
    if fmt == "jsonl":
        yield from _jsonl(path, on_error)
    elif fmt == "json":
        yield from _json_array(path, on_error)
    elif fmt == "csv":
        yield from _csv(path, on_error)
    else:
        yield from _parquet(path, on_error)


def _json_record(number: int, raw: bytes) -> dict:
    """One JSON object (a line of JSONL or an element of an array), checked."""
    try:
        record = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise RecordError(number, f"not valid UTF-8 ({bad.reason} at byte {bad.start})") from bad
        raise RecordError(number, f"not valid JSON ({exc.msg}, column {exc.colno})") from exc
    if not isinstance(record, dict):
        raise RecordError(number, f"expected a JSON object, got {type(record).__name__}")
    # Cheap tests on the raw text first: \u0000 is the only way JSON spells NUL.
    if b"\\u0000" in raw or raw.count(b"[") + raw.count(b"{") > MAX_DEPTH:
        _check_values(number, record)
    return record


def _jsonl(path: Path, on_error: OnError) -> Iterator[tuple[int, dict, int]]:
    done = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            done += len(raw)
            if not raw.strip():
                continue
            try:
                record = _json_record(number, raw)
            except RecordError as exc:
                _refuse(on_error, exc)
                continue
            yield number, record, done


def _json_array(path: Path, on_error: OnError) -> Iterator[tuple[int, dict, int]]:
    try:
        for number, raw, done in array_elements(path):
            try:
                record = _json_record(number, raw)
            except RecordError as exc:
                _refuse(on_error, exc)
                continue
            yield number, record, done
    except ArrayError as exc:
        raise RecordError(exc.line, str(exc)) from exc


def _csv(path: Path, on_error: OnError) -> Iterator[tuple[int, dict, int]]:
    with path.open("rb") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        reader = csv.DictReader(text)
        # csv counts physical lines; a quoted cell may span several, and a record is named by its first line.
        start = 2
        try:
            for record in reader:
                try:
                    if None in record:
                        raise RecordError(start, "more cells than the header has columns")
                    _check_values(start, record)
                except RecordError as exc:
                    _refuse(on_error, exc)
                else:
                    yield start, {k: v for k, v in record.items() if v not in ("", None)}, raw.tell()
                start = reader.line_num + 1
        except UnicodeDecodeError as exc:
            raise RecordError(reader.line_num + 1, f"not valid UTF-8 ({exc.reason})") from exc
        except csv.Error as exc:
            raise RecordError(reader.line_num, f"malformed CSV ({exc})") from exc


def _parquet(path: Path, on_error: OnError) -> Iterator[tuple[int, dict, int]]:
    try:
        import pyarrow.parquet as pq
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
        raise RecordError(0, "reading Parquet needs pyarrow (pip install 'eq-arena[export]')") from exc
    try:
        parquet = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise RecordError(1, f"not a readable Parquet file ({exc})") from exc
    total_rows = max(parquet.metadata.num_rows, 1)
    size = path.stat().st_size
    number = 0
    for batch in parquet.iter_batches(batch_size=10_000):
        for record in batch.to_pylist():
            number += 1
            try:
                _check_values(number, record)
            except RecordError as exc:
                _refuse(on_error, exc)
                continue
            yield number, {k: v for k, v in record.items() if v is not None}, size * number // total_rows
