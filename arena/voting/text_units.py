"""Text units shared by the reply features (arena/jobs/features.py) and the presentation arms
(arena/voting/arm_transforms.py): approximate tokens, and where a line of prose ends a sentence. Plain regular
expressions over English, changed only with the feature set's version (covariates counted under different rules
are not comparable)."""

from __future__ import annotations

import re
from collections.abc import Iterable

_TOKEN = re.compile(r"\w+|[^\w\s]")
_ASCII_SYMBOLS = "".join(chr(i) for i in range(128) if re.fullmatch(r"[^\w\s]", chr(i)))
_SYMBOL_TO_SPACE = str.maketrans(_ASCII_SYMBOLS, " " * len(_ASCII_SYMBOLS))
_DROP_SYMBOLS = str.maketrans("", "", _ASCII_SYMBOLS)


def count_tokens(text: str) -> int:
    """Approximate token count: the number of pieces matching \\w+|[^\\w\\s], i.e. each run of word characters is one
    token and so is every other non-space character ("don't!" is 4). No tokenizer can be downloaded here; this
    tracks BPE counts well enough for a length covariate and never changes with a library upgrade. Counted over
    the whole text, code included, as LMArena does."""
    if not text.isascii():
        return len(_TOKEN.findall(text))
    # Same count without building hundreds of match strings (about 3x faster): word runs are what split() finds once
    # every symbol is a space, and each symbol is one token.
    return len(text.translate(_SYMBOL_TO_SPACE).split()) + len(text) - len(text.translate(_DROP_SYMBOLS))


# A candidate sentence end: a run of . ! ? (closing quotes or brackets may follow) before the end of the line or
# before whitespace and a next word that does not start lower-case ("e.g. this", "'why me?' she asked" go on).
_SENTENCE_END = re.compile(r"([.!?]+)[\"')\]]*(?=\s+[^\sa-z]|\s*$)")
# A "." after one of these abbreviations ends no sentence: "Dr. Lee", "e.g. Monday".
_ABBREVIATION = re.compile(r"(?:^|\W)(?:e\.g|i\.e|vs|dr|mr|mrs|ms|st)$", re.IGNORECASE)  # run on the 5 chars before


def sentence_breaks(prose: str) -> Iterable[tuple[int, str]]:
    """(offset just after the sentence, its final . ! ? run) for each sentence end within one line of prose (see
    _SENTENCE_END, _ABBREVIATION): where the features' split_sentences cuts, and where an arm may trim a reply."""
    for match in _SENTENCE_END.finditer(prose):
        end = match.group(1)
        if end == "." and _ABBREVIATION.search(prose[max(0, match.start() - 5) : match.start()]):
            continue
        yield match.end(), end
