"""Stream the elements of a top-level JSON array (FastChat's clean_battle_*.json, written with indent=2) one at a
time, so a file of any size is read in flat memory. Each element is cut out by matching its brackets, skipping
strings, and parsed alone with orjson."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

CHUNK = 1 << 20
# A whole string (escapes included) or one bracket. A string still open at the end of the buffer matches up to
# there without its closing quote, which tells the scanner to read more before deciding anything.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.S)
_SPACE = b" \t\r\n"
_SCALAR_END = re.compile(rb"[,\]]")


class ArrayError(ValueError):
    """The file is not a JSON array; carries the line where reading stopped."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


def starts_with_array(path: Path) -> bool:
    """True when the first character other than whitespace (or a byte-order mark) is '['."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(b"\xef\xbb\xbf").lstrip(_SPACE)
    return head[:1] == b"["


def _element_end(buffer: bytes, start: int) -> int | None:
    """The index just past the element opening at `start`, or None when the buffer ends inside it."""
    opener = buffer[start : start + 1]
    if opener == b'"':
        token = _TOKEN.match(buffer, start)
        closed = len(token.group()) > 1 and token.group()[-1:] == b'"' and token.end() < len(buffer)
        return token.end() if closed else None
    if opener not in (b"{", b"["):
        # A scalar element: it ends at the next comma or closing bracket.
        match = _SCALAR_END.search(buffer, start)
        return None if match is None else match.start()
    depth = 0
    for token in _TOKEN.finditer(buffer, start):
        kind = token.group()
        if kind[:1] == b'"':
            if len(kind) < 2 or kind[-1:] != b'"' or token.end() == len(buffer):
                return None  # the string may go on in the next chunk
            continue
        depth += 1 if kind in (b"{", b"[") else -1
        if depth == 0:
            return token.end()
    return None


class _Reader:
    """A sliding window over the file: `data[pos:]` is unread, `line` is the line number at `data[counted]`."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.data = handle.read(CHUNK).removeprefix(b"\xef\xbb\xbf")
        self.done = len(self.data)
        self.eof = not self.data
        self.pos = self.counted = 0
        self.line = 1

    def fill(self) -> bool:
        """Read more (at least as much as is held, so a huge element is read in few steps); False at the end."""
        if self.eof:
            return False
        more = self.handle.read(max(CHUNK, len(self.data) - self.pos))
        self.line_at(self.pos)
        self.data, self.pos, self.counted = self.data[self.pos :] + more, 0, 0
        self.done += len(more)
        self.eof = not more
        return bool(more)

    def peek(self) -> bytes:
        """The next byte that is not whitespace (b"" at the end), reading more as often as needed."""
        while True:
            while self.pos < len(self.data) and self.data[self.pos] in _SPACE:
                self.pos += 1
            if self.pos < len(self.data) or not self.fill():
                return self.data[self.pos : self.pos + 1]

    def line_at(self, pos: int) -> int:
        self.line += self.data.count(b"\n", self.counted, pos)
        self.counted = pos
        return self.line

    def element_end(self) -> int | None:
        while True:
            end = _element_end(self.data, self.pos)
            if end is not None or not self.fill():
                return end


def array_elements(path: Path) -> Iterator[tuple[int, bytes, int]]:
    """Yield (line where the element starts, its raw bytes, bytes read so far) for each element."""
    with path.open("rb") as handle:
        reader = _Reader(handle)
        if reader.peek() != b"[":
            raise ArrayError(1, "not a JSON array (expected '[')")
        reader.pos += 1
        first = True
        while True:
            head = reader.peek()
            if head == b"]" and first:
                return
            if not first:
                if head == b"]":
                    return
                if head != b",":
                    what = "the file ends early" if head == b"" else "expected ',' or ']' between elements"
                    raise ArrayError(reader.line_at(reader.pos), f"the JSON array is broken ({what})")
                reader.pos += 1
                head = reader.peek()
            if head in (b"", b"]", b","):
                what = "the file ends early" if head == b"" else f"{head.decode()!r} where an element should be"
                raise ArrayError(reader.line_at(reader.pos), f"the JSON array is broken ({what})")
            line = reader.line_at(reader.pos)
            end = reader.element_end()
            if end is None:
                raise ArrayError(line, "the JSON array is broken (the file ends inside an element)")
            yield line, reader.data[reader.pos : end], reader.done
            reader.pos, first = end, False
