"""The vote import's records, read and checked into ParsedBattle items: here, or by worker processes.

Reading and checking a record in Python (orjson's parse, then parse_battle) costs about 25 us; one process doing
that and the staging COPY is a floor near 40,000 votes/s, while PostgreSQL idles waiting for it. A JSON-lines
file big enough to pay for starting workers (PARALLEL_FROM_BYTES) is therefore cut into chunks of whole lines
that worker processes parse; the importing process takes their results in file order and only looks up ids and
writes the staging rows. Results, errors and the order they come in are those of the serial reading, so the
import's outcome is the same either way.
"""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import orjson

from arena.ingest.battle_records import parse_battle
from arena.ingest.catalog import CatalogError
from arena.ingest.records import OnError, RecordError, _json_record

# A checked record as the import stages it is a plain tuple, its StagedBattle's values with the metadata and the
# conversation already turned into JSON text (per-record work a worker can take):
#   (line, question_id, derived_id, model_a, model_b, outcome, tstamp, judge_key, language, prompt_text, emotions,
#    meta_json, counts, exclusion_reason, turns, conversation_json, reasons, anony)
# Plain, because it crosses from a worker to the importing process: unpickling a named tuple per record took
# three times as long, in the process that is the import's bottleneck.
ParsedBattle = tuple


class Refused(NamedTuple):
    """A record parse_battle refused; `record` goes to --skip-invalid's report."""

    error: RecordError
    record: dict | None


class Unreadable(NamedTuple):
    """A line the reader could not read (not JSON, not an object, ...): the reader's on_error takes it."""

    error: RecordError


Item = ParsedBattle | Refused | Unreadable
# Each item comes with the bytes of the file read so far (the progress bar's position).
Progress = Iterator[tuple[Item, int]]


def meta_json(meta: dict) -> str:
    """The battle's metadata as JSON text: orjson, several times faster than json.dumps on every record (the
    same values, without the spaces); json.dumps for what orjson refuses (integers beyond 64 bits, which a CSV
    or Parquet cell can give, and lone surrogates)."""
    try:
        return orjson.dumps(meta).decode()
    except TypeError:
        return json.dumps(meta, ensure_ascii=False)


def parse_one(line: int, record: dict, now: float, hash_judge: Callable[[str], str], file_scope: str | None) -> Item:
    try:
        staged = parse_battle(record, now, hash_judge, file_scope)
    except (ValueError, CatalogError, RecursionError) as exc:
        # RecursionError: JSON text in a CSV or Parquet cell, nested beyond what Python parses.
        reason = "a nested value is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        return Refused(RecordError(line, reason), record)
    s, meta = staged, staged.meta
    return (
        line, s.question_id, s.derived_id, s.model_a, s.model_b, s.outcome, s.tstamp, s.judge_key, s.language,
        s.prompt_text, s.emotions, meta_json(meta) if meta else "{}", s.counts, s.exclusion_reason, s.turns,
        s.conversation.as_json() if s.conversation is not None else None, s.reasons,
        meta.get("anony") if meta else None,
    )  # fmt: skip


def parsed_here(
    records: Iterable[tuple[int, dict, int]], now: float, hash_judge: Callable[[str], str], file_scope: str | None
) -> Progress:
    """The records of any reader (read_records), parsed in this process."""
    for line, record, done in records:
        yield parse_one(line, record, now, hash_judge, file_scope), done


@dataclass(frozen=True)
class JsonLinesFile:
    """A JSON-lines file for parsed_in_workers; `on_error` as read_records takes it (None: a bad line stops)."""

    path: Path
    on_error: OnError = None
    workers: int = 2


# Below this size a file is parsed in the importing process by default: starting workers costs about a tenth of
# a second, and small imports (a day's export) gain nothing.
PARALLEL_FROM_BYTES = 32 * 2**20
# Bytes (whole lines) per chunk: big enough that handing a chunk over costs little beside parsing it (tens of
# milliseconds), small enough that the first rows reach COPY early and the chunks in flight hold little memory.
CHUNK_BYTES = 2 * 2**20


def default_workers(path: Path) -> int:
    """One worker per core (at most 4) for a big file: the importing process and PostgreSQL use the cores while
    the workers wait on their queues, and on two cores more workers would only take turns. 1: no workers."""
    if path.stat().st_size < PARALLEL_FROM_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def _chunks(path: Path, size: int) -> Iterator[tuple[int, bytes, int]]:
    """(number of the chunk's first line, whole lines, bytes read after it): cut at line ends only."""
    line, done = 1, 0
    with path.open("rb") as handle:
        rest = b""
        while block := handle.read(size):
            block = rest + block
            end = block.rfind(b"\n") + 1
            if end == 0:  # one line longer than a block: read on
                rest = block
                continue
            chunk, rest = block[:end], block[end:]
            done += len(chunk)
            yield line, chunk, done
            line += chunk.count(b"\n")
        if rest:
            yield line, rest, done + len(rest)


# Set in each worker by _start_worker: what parse_battle needs besides the record.
_context: tuple[float, Callable[[str], str], str | None, bool] | None = None


def _start_worker(now: float, hash_judge: Callable[[str], str], file_scope: str | None, stop_at_error: bool) -> None:
    global _context
    # Every object inherited from the importing process is left alone by this one's collector: a garbage cycle
    # holding an old database connection, collected here, would close that socket from the child.
    gc.freeze()
    _context = (now, hash_judge, file_scope, stop_at_error)


def _parse_chunk(first_line: int, chunk: bytes) -> list[Item]:
    """A chunk's items, in order, as records.read_records and parse_one would give them one by one. Without an
    on_error the import stops at its first error, so the chunk does too (nothing after it would be used)."""
    now, hash_judge, file_scope, stop_at_error = _context
    items: list[Item] = []
    # Split at b"\n" only, as the serial reader does (a lone \r is whitespace between JSON tokens).
    for number, raw in enumerate(chunk.split(b"\n"), start=first_line):
        if not raw.strip():
            continue
        try:
            record = _json_record(number, raw)
        except RecordError as exc:
            items.append(Unreadable(exc))
            if stop_at_error:
                break
            continue
        item = parse_one(number, record, now, hash_judge, file_scope)
        items.append(item)
        if stop_at_error and type(item) is Refused:
            break
    return items


def parsed_in_workers(
    source: JsonLinesFile, now: float, hash_judge: Callable[[str], str], file_scope: str | None, *,
    stop_at_error: bool,
) -> Progress:  # fmt: skip
    """The file's items in file order, parsed by `source.workers` processes a chunk at a time, at most two chunks
    per worker in flight (memory stays flat however big the file). Unreadable lines go to the source's on_error or
    stop the import, as read_records does. An exception in a worker (MissingSecret: the file names voters and no
    key is set) is raised here; leaving early (an error, the caller's exception) cancels the chunks not started
    and waits for the workers to end, so nothing outlives the import."""
    workers = source.workers
    # fork: the workers inherit parse_battle's arguments (hash_judge is a closure over the site key) and start
    # in milliseconds. They only parse: the importing process's database connection is never used by them, and
    # they leave with os._exit, so nothing of it is closed or flushed from a child.
    pool = ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker,
        initargs=(now, hash_judge, file_scope, stop_at_error),
    )  # fmt: skip
    pending: deque[tuple[Future, int]] = deque()
    chunks = _chunks(source.path, CHUNK_BYTES)
    try:
        while True:
            while len(pending) < 2 * workers and (chunk := next(chunks, None)) is not None:
                first_line, data, done = chunk
                pending.append((pool.submit(_parse_chunk, first_line, data), done))
            if not pending:
                return
            future, done = pending.popleft()
            for item in future.result():
                if type(item) is Unreadable:
                    if source.on_error is None:
                        raise item.error
                    source.on_error(item.error, None)
                    continue
                yield item, done
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
