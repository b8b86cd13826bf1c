"""What a presentation arm does to a reply's text: pure, deterministic functions of the stored texts, so the text a
voter was shown can always be rebuilt from the battle's replies and its arms (arena/voting/arms.py).

- no_helpline: the helpline boilerplate goes: every sentence (or line) that points to a crisis line, a hotline, an
  emergency number or "a professional" is dropped, and a heading left with nothing under it goes too.
- plain_text: markdown flattened to plain text: headings, list markers, emphasis, quotes, links and code marks
  removed; each heading, list item and paragraph its own paragraph.
- length_matched: the side is trimmed at a sentence end to the other side's length (in tokens, as the length
  covariate counts them), when it is the longer one; the shorter side is left as it is.

Change any rule and bump TRANSFORMS_VERSION: a battle stores the version its text was shown under."""

from __future__ import annotations

import re

from arena.voting.text_units import count_tokens, sentence_breaks

TRANSFORMS_VERSION = "arms/1"

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_HEADER = re.compile(r" {0,3}#{1,6}(?:[ \t]+|$)")
_LIST_MARKER = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+")
_QUOTE = re.compile(r" {0,3}(?:>[ \t]?)+")
_RULE = re.compile(r"[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_IMAGE_OR_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*{1,3}|(?<!\w)_{1,3}|_{1,3}(?!\w)|~~)")
_INLINE_CODE = re.compile(r"`+")
_TRAILING_HARD_BREAK = re.compile(r"(?:\\| {2,})$")
# A sentence that points to crisis help or to "a professional": the pasted safety boilerplate, not the reply's
# own words. Matched case-insensitively on one sentence (or one line without sentence ends, such as a list item
# naming a hotline and its number).
_HELPLINE = re.compile(
    r"\b(?:hotlines?|helplines?|crisis (?:line|text line|lifeline|service|team|centre|center)s?|lifeline|"
    r"samaritans|suicide (?:prevention|and crisis)|988|741741|116 ?123|emergency (?:services|number|room|line)|"
    r"call (?:911|999|112|000)|(?:reach out|talk|speak|turn) to (?:a |an )?(?:licensed |trained |qualified )?"
    r"(?:mental[- ]health )?(?:professional|counsell?or|therapist)s?|(?:seek|get|consider) (?:some )?"
    r"professional (?:help|support)|mental[- ]health (?:professional|provider|service)s?)\b",
    re.IGNORECASE,
)


def _lines_outside_fences(text: str) -> list[tuple[str, bool]]:
    """Each line with whether it is inside (or opens or closes) a fenced code block."""
    out, fence = [], ""
    for line in text.splitlines():
        match = _FENCE.match(line)
        if fence:
            out.append((line, True))
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
        elif match:
            fence = match.group(1)
            out.append((line, True))
        else:
            out.append((line, False))
    return out


def _sentences(line: str) -> list[str]:
    """The line cut after each sentence end, every piece kept (spaces included), so "".join gives the line back."""
    pieces, start = [], 0
    for stop, _ in sentence_breaks(line):
        pieces.append(line[start:stop])
        start = stop
    if start < len(line):
        pieces.append(line[start:])
    return pieces


def _lead_in(line: str) -> bool:
    """A line that introduces what follows: a heading, or a line ending in ':' (emphasis aside)."""
    return bool(_HEADER.match(line)) or _EMPHASIS.sub("", line).rstrip().endswith(":")


def strip_helplines(text: str) -> str:
    """The text without helpline boilerplate (see _HELPLINE): matching sentences dropped, a line (or list item)
    left empty dropped, and a lead-in left with nothing under it dropped too (a heading whose section, or a line
    ending in ':' whose block, lost every line). Runs of blank lines left behind are closed up; code blocks and
    every untouched line stay exactly as they were, so a reply without boilerplate comes back unchanged."""
    lines = _lines_outside_fences(text)
    kept: list[str | None] = []  # None: removed
    changed = False
    for line, code in lines:
        if code or not _HELPLINE.search(line):
            kept.append(line)
            continue
        changed = True
        marker = _LIST_MARKER.match(line) or _QUOTE.match(line)
        prefix = line[: marker.end()] if marker else line[: len(line) - len(line.lstrip())]
        body = "".join(piece for piece in _sentences(line[len(prefix) :]) if not _HELPLINE.search(piece)).strip()
        kept.append(prefix + body if body else None)
    if not changed:
        return text
    for k, (line, code) in enumerate(lines):
        if code or kept[k] is None or not line.strip() or not _lead_in(line):
            continue
        # The lead-in's first block: the lines after it (blank lines straight after it skipped) up to a blank line.
        removed, emptied, started = False, True, False
        for j in range(k + 1, len(lines)):
            other = lines[j][0]
            if not other.strip():
                if started:
                    break
                continue
            started = True
            if kept[j] is None:
                removed = True
            elif kept[j].strip():
                emptied = False
                break
        if removed and emptied:
            kept[k] = None
    return _close_up([line for line in kept if line is not None])


def _close_up(lines: list[str]) -> str:
    """Lines joined, at most one blank line between blocks, none at either end."""
    out: list[str] = []
    for line in lines:
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
            continue
        out.append(line)
    while out and out[-1] == "":
        out.pop()
    return "\n".join(out)


def _flatten_line(line: str) -> tuple[str, bool]:
    """One line as plain text, and whether it is a block of its own (a heading or a list item); a line without
    markdown comes back as it was."""
    own_block = False
    if _QUOTE.match(line):
        line = _QUOTE.sub("", line, count=1)
    if _RULE.match(line):
        return "", True
    if header := _HEADER.match(line):
        line, own_block = line[header.end() :].rstrip().rstrip("#").rstrip(), True
    elif marker := _LIST_MARKER.match(line):
        line, own_block = line[marker.end() :], True
    line = _IMAGE_OR_LINK.sub(r"\1", line)
    line = _INLINE_CODE.sub("", line)
    line = _EMPHASIS.sub("", line)
    if _TRAILING_HARD_BREAK.search(line):
        line = _TRAILING_HARD_BREAK.sub("", line)
    return line, own_block


def flatten_markdown(text: str) -> str:
    """The text as plain prose: no headings, list markers, emphasis, block quotes, rules, links (their words stay)
    or code marks (code lines stay, as lines). Each heading and list item becomes a paragraph of its own, so the
    page renders no formatting at all; a reply without markdown comes back unchanged."""
    out: list[str] = []
    for line, code in _lines_outside_fences(text):
        if code:
            if not _FENCE.match(line):
                out.append(line)
            continue
        flat, own_block = _flatten_line(line)
        if own_block:
            if out and out[-1].strip():
                out.append("")
            if flat.strip():
                out += [flat.strip(), ""]
            continue
        out.append(flat)
    return text if out == text.splitlines() else _close_up(out)


def trim_to_length(text: str, target_tokens: int) -> str:
    """The longest beginning of `text` that ends at a sentence end (or a line end) and has at most `target_tokens`
    tokens; the first sentence if even that is longer (a reply is never emptied); the text itself if it is not
    longer than the target."""
    if count_tokens(text) <= target_tokens:
        return text
    cuts: list[int] = []
    offset = 0
    for line, code in _lines_outside_fences(text):
        if not code and line.strip():
            cuts += [offset + stop for stop, _ in sentence_breaks(line)]
            cuts.append(offset + len(line.rstrip()))
        offset += len(line) + 1
    best = None
    for cut in sorted(set(cuts)):
        prefix = text[:cut].rstrip()
        if not prefix.strip():
            continue
        if count_tokens(prefix) > target_tokens:
            return best if best is not None else prefix
        best = prefix
    return best if best is not None else text


def match_lengths(own: str, other: str) -> str:
    """length_matched: `own` trimmed at a sentence end to `other`'s length when it is the longer of the two."""
    return trim_to_length(own, count_tokens(other))
