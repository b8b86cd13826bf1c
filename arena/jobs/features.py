"""Reply features for style control: how much do length, formatting, sycophancy and emotional-intelligence style
drive human preference? Each feature is a pure function of the reply text, so a Bradley-Terry fit can use the
A-minus-B differences as covariates. The rules are deliberately simple and listed here (regexes and word lists over
English): an analysis needs covariates that are stable and explainable more than clever. Change any rule and bump
FEATURE_SET_VERSION, because covariates computed under different rules are not comparable."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from arena.voting.text_units import count_tokens, sentence_breaks

FEATURE_SET_VERSION = "reply-features/1"


@dataclass(frozen=True)
class Feature:
    name: str
    doc: str  # one line saying exactly what is counted
    compute: Callable[[str], float]


# --- tokens -----------------------------------------------------------------------------------------------------

# count_tokens lives with the sentence ends in arena/voting/text_units.py (the presentation arms measure and cut
# replies with them too); imported here, where the features have always named it.


# --- markdown structure -----------------------------------------------------------------------------------------

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_HEADER = re.compile(r" {0,3}(#{1,6})(?:[ \t]|$)")
_ORDERED_ITEM = re.compile(r"[ \t]*\d{1,9}[.)][ \t]+\S")  # "1.5 hours" fails: the marker needs a space after it
_UNORDERED_ITEM = re.compile(r"[ \t]*[-*+][ \t]+\S")
_THEMATIC_BREAK = re.compile(r"[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$")  # "- - -" is a rule, not a list item
_BOLD_STARS = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
# "__" may not touch a word character, so snake__case is not bold (as in CommonMark, which the site renders).
_BOLD_UNDERSCORES = re.compile(r"(?<!\w)__(?=\S)(.+?)(?<=\S)__(?!\w)")
_BLOCKQUOTE = re.compile(r" {0,3}>")


def _outside_fences(text: str) -> Iterable[str]:
    """Lines not inside a fenced code block. A fence closes on the same character repeated at least as often; an
    unclosed fence runs to the end of the text, as CommonMark renders it."""
    fence = ""
    for line in text.splitlines():
        match = _FENCE.match(line) if ("`" in line or "~" in line) else None
        if fence:
            if match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
                fence = ""
        elif match:
            fence = match.group(1)
        else:
            yield line


def _list_kind(line: str) -> str | None:
    if _ORDERED_ITEM.match(line):
        return "ordered"
    if _UNORDERED_ITEM.match(line) and not _THEMATIC_BREAK.match(line):
        return "unordered"
    return None


def _bold_spans(line: str) -> tuple[int, int]:
    stars = len(_BOLD_STARS.findall(line)) if "**" in line else 0
    underscores = len(_BOLD_UNDERSCORES.findall(line)) if "__" in line else 0
    return stars, underscores


# --- sentences --------------------------------------------------------------------------------------------------

_LIST_MARKER = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<!\w)_+|_+(?!\w)")  # "_x_" and "__x__", not snake_case
_TYPOGRAPHIC = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class _Parsed:
    lines: tuple[str, ...]  # outside code fences, inline code removed
    sentences: tuple[str, ...]  # as split_sentences returns them
    ends: tuple[str, ...]  # each sentence's final . ! ? run, "" if it has none
    lowered: tuple[str, ...]  # the sentences lower-cased: every word list is lower-case
    speech: str  # lowered joined by "\n": where phrases are searched
    starts: tuple[int, ...]  # offset of each sentence in speech


def split_sentences(text: str) -> list[str]:
    """The reply's own sentences, in order. Fenced code, blockquote and header lines are dropped (code is not prose,
    a quote is the user's words or a script rather than the reply speaking, a header is a label). Every other line
    is its own unit, so list items never merge with their neighbours; its list marker, inline code and * / _
    emphasis are removed, curly quotes become straight ones, and it is cut after sentence-final punctuation (see
    arena.voting.text_units.sentence_breaks). Pieces without a word character (rules, stray symbols) are dropped."""
    return list(_parse(text).sentences)


@lru_cache(maxsize=256)
def _parse(text: str) -> _Parsed:
    """Shared by every feature; cached because reply_features asks for the same text eleven times."""
    lines: list[str] = []
    sentences: list[str] = []
    ends: list[str] = []
    for raw in _outside_fences(text.translate(_TYPOGRAPHIC)):
        line = _INLINE_CODE.sub("", raw) if "`" in raw else raw
        lines.append(line)
        first = line.lstrip()[:1]
        if not first or (first in "#>" and (_BLOCKQUOTE.match(line) or _HEADER.match(line))):
            continue
        marker = _LIST_MARKER.match(line) if first in "-*+0123456789" else None
        prose = line[marker.end() :] if marker else line
        if "*" in prose:
            prose = prose.replace("*", "")
        if "_" in prose:
            prose = _UNDERSCORE_EMPHASIS.sub("", prose)
        start = 0
        for stop, end in sentence_breaks(prose):
            sentence = prose[start:stop].strip()
            if _WORD.search(sentence):
                sentences.append(sentence)
                ends.append(end)
            start = stop
        sentence = prose[start:].strip()
        if _WORD.search(sentence):
            sentences.append(sentence)
            ends.append("")
    # One lower() for all; it never makes a "\n" but can change a length ("İ"), so offsets come from its output.
    speech = "\n".join(sentences).lower()
    lowered = tuple(speech.split("\n")) if sentences else ()
    starts, offset = [], 0
    for sentence in lowered:
        starts.append(offset)
        offset += len(sentence) + 1
    return _Parsed(tuple(lines), tuple(sentences), tuple(ends), lowered, speech, tuple(starts))


# --- phrase lists -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Phrase:
    triggers: tuple[str, ...]  # literals, one of which every match contains: the regex only runs if one is present
    pattern: re.Pattern[str]


def _phrase(triggers: str | tuple[str, ...], pattern: str) -> _Phrase:
    """A lower-case phrase that must start and end on a word boundary. Small regexes behind a substring check are
    several times faster than one case-insensitive alternation, which tries every phrase at every character; and
    the leading boundary is checked in _matches because a leading \\b stops re from jumping to a literal prefix."""
    return _Phrase(triggers if isinstance(triggers, tuple) else (triggers,), re.compile(rf"(?:{pattern})\b"))


def _matches(phrases: tuple[_Phrase, ...], speech: str) -> list[tuple[int, int]]:
    """Spans of non-overlapping matches, earliest first, so "I'm so sorry to hear" is one apology, not two."""
    spans = sorted(
        m.span()
        for p in phrases
        if any(t in speech for t in p.triggers)
        for m in p.pattern.finditer(speech)
        if m.start() == 0 or not _WORD.match(speech, m.start() - 1)
    )
    kept: list[tuple[int, int]] = []
    for start, stop in spans:
        if not kept or start >= kept[-1][1]:
            kept.append((start, stop))
    return kept


_INTENSIFIER = r"(?:(?:really|so|very|incredibly|genuinely|truly|deeply|completely|totally|perfectly|entirely) )?"
_HARD = (
    r"(?:hard|painful|exhausting|difficult|tough|awful|overwhelming|lonely|scary|frightening|heartbreaking|"
    r"frustrating|stressful|draining|isolating|upsetting|devastating|horrible|terrible|rough|brutal|heavy|"
    r"disorienting|confusing|unfair)"
)
_VALIDATION = (
    _phrase("sense", r"(?:that|it|this) makes (?:(?:so much|a lot of|total|complete|perfect) )?sense"),
    _phrase("understandable", r"understandable"),
    _phrase("no wonder", r"no wonder"),
    _phrase("of course you", r"of course you"),
    _phrase(
        "valid", r"(?:your|these|those|the) (?:feelings?|emotions?|reactions?) (?:is|are) " + _INTENSIFIER + "valid"
    ),
    _phrase(
        ("okay to", "ok to", "alright to", "all right to", "normal to", "natural to", "human to"),
        r"(?:it's|it is|that's|that is) " + _INTENSIFIER + r"(?:okay|ok|alright|all right|normal|natural|human) to",
    ),
    _phrase("would", r"(?:anyone|anybody|most people) would(?! be (?:so )?lucky)"),  # "would be lucky" is flattery
    _phrase("anyone in your", r"anyone in your (?:position|place|shoes|situation)"),
    _phrase(("sound", "must"), r"(?:sounds?|must (?:be|feel|have been|have felt)) " + _INTENSIFIER + _HARD),
    _phrase("every right to", r"every right to"),
    _phrase("allowed to", r"you(?:'re| are) " + _INTENSIFIER + r"allowed to"),
    _phrase("i can", r"i can (?:see|understand) why"),
    _phrase(
        ("normal", "natural", "human"),
        r"(?:a|such a|such|very|completely|perfectly) (?:normal|natural|human) (?:reaction|response|parts?|thing)",
    ),
)
_APOLOGY = (
    _phrase("sorry", r"i(?:'m| am) (?:(?:so|very|truly|really|deeply|terribly|incredibly) )*sorry"),
    # Not "tell him you're sorry": that is advice about someone else's apology.
    _phrase("sorry", r"(?<!you're )(?<!you are )sorry (?:to hear|for your loss|about|that|you)"),
    _phrase("apologi", r"i apologi[sz]e"),
    _phrase("condolences", r"my (?:(?:deepest|sincere|sincerest|heartfelt) )?condolences"),
)
_PRAISE = (
    r"amazing|incredible|perfect|wonderful|awesome|brilliant|a hero|a legend|a star|a saint|a superstar|a genius|"
    r"the best"
)
_SYCOPHANCY = (
    _phrase("right", r"you(?:'re| are| were) (?:absolutely|so|totally|completely|100%|one hundred percent) right"),
    _phrase("in the right", r"you(?:'re| are) (?:so )?in the right"),
    _phrase("deserve", r"(?:don't|doesn't|didn't|never) deserved? you"),
    _phrase(
        (
            "amazing",
            "incredible",
            "perfect",
            "wonderful",
            "awesome",
            "brilliant",
            "hero",
            "legend",
            "star",
            "saint",
            "genius",
            "the best",
        ),
        r"you(?:'re| are| were)(?: (?:clearly|truly|honestly|literally|just|so|such))? (?:an? )?(?:" + _PRAISE + ")",
    ),  # fmt: skip
    _phrase("nothing wrong", r"you did (?:absolutely |literally )?nothing wrong"),
    _phrase("lucky", r"(?:would be|was|were|is|are) (?:so )?lucky to have (?:a \w+ like )?you"),
    _phrase("lucky", r"(?:anyone|they|he|she)(?: would|'d) be (?:so )?lucky"),
    _phrase("proud of you", r"(?:so|really|incredibly|super) proud of you"),
    _phrase("got this", r"you(?:'ve| have) got this"),
    _phrase("you deserve", r"you deserve (?:the world|so much better|better|everything)"),
    _phrase("blame you", r"(?:nobody|no one|no-one) (?:can|could) (?:possibly )?blame you"),
    _phrase("handling", r"handling (?:it|this|everything) (?:perfectly|amazingly|brilliantly|like a (?:pro|champ))"),
)
_REFERRAL = (
    _phrase("therap", r"therap(?:ist|ists|y)"),
    _phrase("counsel", r"counsell?(?:or|ors|ing)"),
    _phrase("psych", r"psychologists?|psychiatrists?"),
    _phrase("doctor", r"doctors?"),
    _phrase("gp", r"gps?"),
    _phrase("physician", r"physicians?"),
    _phrase("mental", r"mental[- ]health (?:professional|provider|service|team)s?"),
    # "a professional" only as a noun: not "a professional athlete".
    _phrase(
        "professional",
        r"professional (?:help|support)|an? professional(?=\s*(?:[.,;:!?)]|$)|\s+(?:about|who|if|for|to|and|or|"
        r"can|could|will|would|might|may|at|in|like|soon|now|too|today|first|early)\b)",
    ),
    _phrase("support group", r"support groups?"),
    _phrase(("hotline", "helpline"), r"hotlines?|helplines?"),
    _phrase("crisis", r"crisis (?:line|text line|service|team)s?"),
    _phrase("988", r"988"),
    _phrase("samaritans", r"samaritans"),
)

# Curated imperative verbs: words that, opening a sentence, almost always give an instruction. "mark" is left out
# because it is also a name; "do", "have" and "never" are handled apart because they also open questions.
_IMPERATIVE_VERBS = frozenset((
    "accept", "act", "add", "agree", "allow", "apply", "archive", "arrange", "ask", "avoid", "be", "block", "book",
    "break", "breathe", "bring", "build", "buy", "call", "cancel", "celebrate", "change", "check", "choose", "clear",
    "confirm", "consider", "contact", "cook", "create", "cut", "decide", "delegate", "delete", "draft", "drink",
    "drop", "eat", "email", "enjoy", "escalate", "fill", "find", "focus", "follow", "forget", "forgive", "gather",
    "get", "give", "go", "hire", "hold", "honor", "honour", "invite", "join", "jot", "journal", "keep", "laugh",
    "lean", "learn", "leave", "let", "limit", "list", "look", "lower", "make", "meet", "message", "move", "mute",
    "name", "note", "notice", "offer", "open", "pack", "pause", "phone", "pick", "plan", "postpone", "practice",
    "practise", "prepare", "prioritise", "prioritize", "protect", "put", "reach", "read", "rehearse", "remember",
    "remind", "remove", "repeat", "reply", "request", "respond", "rest", "return", "review", "ring", "save", "say",
    "schedule", "search", "see", "send", "set", "share", "sign", "sit", "skip", "sleep", "smile", "sort", "speak",
    "spend", "start", "stay", "step", "stick", "stop", "swap", "switch", "take", "talk", "tell", "text", "think",
    "treat", "trust", "try", "turn", "unfollow", "unplug", "use", "visit", "volunteer", "wait", "walk", "watch",
    "write",
))  # fmt: skip
_AUXILIARY_IMPERATIVES = frozenset(("do", "don't", "never", "have"))  # "Do something kind", "Don't reply tonight"
_SUBJECTS = frozenset(("you", "i", "we", "they", "he", "she", "it", "people", "anyone", "your"))  # "Do you...?"
# A listed word followed by one of these is a noun or a name: "Work is work", "Change can be slow".
_COPULAS = frozenset((
    "is", "was", "are", "were", "can", "could", "will", "would", "has", "had", "might", "may", "must", "should", "does",
    "did",
))  # fmt: skip
_FIRST_WORDS = re.compile(r"([a-z]+(?:'[a-z]+)?)(?:\s+([a-z']+))?")
# Words that may come before the imperative: connectives freely, ordinals and times only with a comma ("First,
# call her"), because "Next step" is a noun phrase.
_LEAD_IN = re.compile(
    r"(?:(?:and|so|then|now|also|just|please|maybe|perhaps|gently)\s+|"
    r"(?:first|second|third|next|finally|instead|meanwhile|today|tonight|tomorrow|for now|honestly|above all|"
    r"most importantly|in the meantime)[,:]\s+)*"
)
# An opening clause before the instruction: "If it gets too much, step outside", "Next year, cook", "For Monday:".
_OPENING_CLAUSE = re.compile(
    r"(?:(?:if|when|once|before|after|while|whenever|until)\b[^,]*,|(?:[\w'-]+ ){0,3}[\w'-]+[,:])\s+"
)
_ADVICE = (
    # Not regret ("you should have known") or praise ("you should be proud").
    _phrase(
        "you should",
        r"you should(?! have (?:\w+ed|been|done|known|seen|said|gone|had|told|felt|made|kept|thought|taken|given|"
        r"left)\b)(?! be (?:\w+ )?proud\b)",
    ),
    _phrase(
        ("you could", "you might", "you may"),
        r"you (?:could|might|may)(?: also| even| want to| wish to)? (?:" + "|".join(sorted(_IMPERATIVE_VERBS)) + ")",
    ),
    _phrase(("suggest", "recommend"), r"i(?:'d| would)? (?:suggest|recommend)"),
    _phrase("help to", r"it (?:might|may|could|can|would) help to"),
    _phrase(
        ("worth", "helpful", "useful", "good to"),
        r"it (?:might|may|could|can|would) be (?:worth|helpful|useful|good) to",
    ),
    _phrase("consider", r"consider(?=\s+\w)"),  # not "things to consider:"
    _phrase("make sure", r"make sure"),
)


def _is_imperative(words: str) -> bool:
    match = _FIRST_WORDS.match(words)
    if match is None:
        return False
    first, second = match.group(1), match.group(2) or ""
    if second in _COPULAS:
        return False
    return first in _IMPERATIVE_VERBS or (first in _AUXILIARY_IMPERATIVES and second not in _SUBJECTS)


def _opens_with_imperative(sentence: str) -> bool:
    """Imperative verb first, after optional lead-in words ("Then, call her") or one opening clause."""
    rest = sentence[_LEAD_IN.match(sentence).end() :]
    if _is_imperative(rest):
        return True
    clause = _OPENING_CLAUSE.match(rest)
    if clause is None:
        return False
    rest = rest[clause.end() :]
    return _is_imperative(rest[_LEAD_IN.match(rest).end() :])


def _sentences_with(phrases: tuple[_Phrase, ...], parsed: _Parsed) -> set[int]:
    return {bisect_right(parsed.starts, start) - 1 for start, _ in _matches(phrases, parsed.speech)}


# --- the features -----------------------------------------------------------------------------------------------


def style_counts(text: str) -> dict:
    """LMArena "conv_metadata"-style markdown counts for one reply, outside fenced code, plus its tokens."""
    headers = {f"h{level}": 0 for level in range(1, 7)}
    lists = {"ordered": 0, "unordered": 0}
    bold = {"**": 0, "__": 0}
    for line in _parse(text).lines:
        header = _HEADER.match(line)
        if header:
            headers[f"h{len(header.group(1))}"] += 1
        elif kind := _list_kind(line):
            lists[kind] += 1
        stars, underscores = _bold_spans(line)
        bold["**"] += stars
        bold["__"] += underscores
    return {"tokens": count_tokens(text), "header_count": headers, "list_count": lists, "bold_count": bold}


def _headers(text: str) -> float:
    return sum(1 for line in _parse(text).lines if _HEADER.match(line))


def _list_items(text: str) -> float:
    return sum(1 for line in _parse(text).lines if _list_kind(line))


def _bold(text: str) -> float:
    return sum(sum(_bold_spans(line)) for line in _parse(text).lines)


def _questions(text: str) -> float:
    return sum(1 for end in _parse(text).ends if "?" in end)


def _exclamations(text: str) -> float:
    return sum(1 for end in _parse(text).ends if "!" in end)


def _phrase_count(phrases: tuple[_Phrase, ...]) -> Callable[[str], float]:
    return lambda text: len(_matches(phrases, _parse(text).speech))


def _advice(text: str) -> float:
    parsed = _parse(text)
    advised = _sentences_with(_ADVICE, parsed)
    # A question is counted as a question: "what could you try?" explores rather than instructs.
    return sum(
        1
        for i, end in enumerate(parsed.ends)
        if "?" not in end and (i in advised or _opens_with_imperative(parsed.lowered[i]))
    )


def _referral(text: str) -> float:
    return len(_sentences_with(_REFERRAL, _parse(text)))


FEATURES: tuple[Feature, ...] = (
    Feature("tokens", "word-character runs plus single other non-space characters, whole text", count_tokens),
    Feature("headers", "ATX header lines (# to ######, up to 3 spaces indent) outside fenced code", _headers),
    Feature(
        "list_items", "lines opening with -, *, + or 1. / 1) and a space (any indent), outside fenced code", _list_items
    ),
    Feature("bold", "bold spans **x** and __x__ within one line, outside fenced and inline code", _bold),
    Feature(
        "questions", "sentences whose final punctuation contains ? (code, blockquotes, headers excluded)", _questions
    ),
    Feature(
        "validation",
        "occurrences of listed phrases treating feelings as legitimate ('no wonder', 'that makes sense')",
        _phrase_count(_VALIDATION),
    ),
    Feature(
        "apology",
        "occurrences of listed apology/sympathy formulas ('I'm sorry', 'sorry to hear', 'condolences')",
        _phrase_count(_APOLOGY),
    ),
    Feature(
        "advice",
        "non-question sentences opening with a listed imperative verb or using a listed advice phrase",
        _advice,
    ),
    Feature(
        "referral",
        "sentences naming a listed source of professional help (therapist, counsellor, GP, helpline, 988...)",
        _referral,
    ),
    Feature(
        "sycophancy",
        "occurrences of listed flattery/agreement formulas ('you're so right', 'so proud of you')",
        _phrase_count(_SYCOPHANCY),
    ),
    Feature(
        "exclamations",
        "sentences whose final punctuation contains ! (code, blockquotes, headers excluded)",
        _exclamations,
    ),
)


def reply_features(text: str) -> dict[str, float]:
    """Every feature of FEATURES for one reply, in FEATURES order."""
    return {feature.name: float(feature.compute(text)) for feature in FEATURES}
