"""What an edit may change and how it is checked: the EI dimensions an editor model is asked to change, one at a
time, and the checks that keep everything else equal (length within 5% of characters, the same formatting).

An edit that fails a check is refused: never stored as an edit, recorded as an EditError with its reason. Pure
text functions, no database and no litellm, so the command can validate a dimension before it imports anything."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Each dimension: what the editor is asked to do, in the words it is sent (and README's table repeats).
DIMENSIONS: dict[str, str] = {
    "remove_validation": (
        "Remove every sentence or phrase that validates or acknowledges the person's feelings (for example "
        "'that sounds really hard', 'it makes sense you feel this way'), replacing it with neutral content of the "
        "same length about the situation itself. Keep all advice, questions and information as they are."
    ),
    "add_premature_advice": (
        "Add concrete advice or a fix for the problem early in the reply, before the person has been heard (for "
        "example 'You should talk to your manager tomorrow'), making room by shortening other sentences so the "
        "length stays the same. Keep the reply's validation and questions otherwise as they are."
    ),
    "add_question_back": (
        "End the reply with one open, caring question back to the person about how they feel or what they need "
        "(for example 'What part of this is weighing on you most?'), making room by shortening other sentences so "
        "the length stays the same. If it already ends with such a question, make the question more open and "
        "personal instead. Change nothing else."
    ),
}

# The edit's length (characters, outer whitespace stripped) may differ from the original's by at most this share.
LENGTH_TOLERANCE = 0.05

EDITOR_PROMPT = """You edit replies to people's emotional messages for a controlled experiment.
Change exactly ONE thing in the reply, as instructed, and keep everything else the same: the tone, the facts,
the language, the order of ideas, the paragraphs (the same number, separated the same way), any list items,
headings, bold or italic markers and line breaks. The edited reply must be between {low} and {high} characters
long (the original is {length}). Never mention that the reply was edited.
Instruction: {instruction}
Answer with the edited reply only, between <edited> and </edited>."""

_EDITED = re.compile(r"<edited>\s*(.*?)\s*</edited>", re.DOTALL | re.IGNORECASE)


class EditRefused(ValueError):
    """An edit the checks refuse; `kind` is its error type (stored in EditError)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def editor_messages(dimension: str, prompt_text: str, reply_text: str) -> list[dict[str, str]]:
    """What the editor model is sent: the instruction and bounds, the person's message and the reply. No model names."""
    length = len(reply_text.strip())
    low, high = length_bounds(length)
    system = EDITOR_PROMPT.format(low=low, high=high, length=length, instruction=DIMENSIONS[dimension])
    user = (f"The person wrote:\n<message>\n{prompt_text}\n</message>\n\n"
            f"The reply to edit:\n<reply>\n{reply_text.strip()}\n</reply>")  # fmt: skip
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def length_bounds(length: int) -> tuple[int, int]:
    """The shortest and longest edit (in characters) allowed for an original of `length` characters."""
    slack = int(length * LENGTH_TOLERANCE)
    return length - slack, length + slack


def edited_text(answer: str) -> str:
    """The edit inside the editor's <edited> tags (the whole answer when it used none), outer whitespace stripped."""
    found = _EDITED.search(answer)
    return (found.group(1) if found else answer).strip()


_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+", re.MULTILINE)
_NUMBERED_ITEM = re.compile(r"^\s*\d+[.)]\s+", re.MULTILINE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s", re.MULTILINE)
_QUOTE = re.compile(r"^\s{0,3}>", re.MULTILINE)
_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


@dataclass(frozen=True)
class Formatting:
    """The markdown a reader sees at a glance, counted: an edit must keep every count."""

    paragraphs: int
    lines: int
    list_items: int
    numbered_items: int
    headings: int
    quotes: int
    strong: int  # ** or __ pairs' markers
    emphasis: int  # single * or _ markers outside list bullets
    code: int  # backticks

    @classmethod
    def of(cls, text: str) -> Formatting:
        text = text.strip()
        body = _LIST_ITEM.sub("", text)
        strong = body.count("**") + body.count("__")
        single = body.replace("**", "").replace("__", "")
        return cls(
            paragraphs=len([p for p in _PARAGRAPH_BREAK.split(text) if p.strip()]),
            lines=len([line for line in text.splitlines() if line.strip()]),
            list_items=len(_LIST_ITEM.findall(text)),
            numbered_items=len(_NUMBERED_ITEM.findall(text)),
            headings=len(_HEADING.findall(text)),
            quotes=len(_QUOTE.findall(text)),
            strong=strong,
            emphasis=len(re.findall(r"(?<![\w*])\*(?!\s)|(?<!\w)_(?=\w)", single)),
            code=text.count("`"),
        )

    def differences(self, other: Formatting) -> list[str]:
        return [f"{name} {getattr(self, name)} -> {getattr(other, name)}"
                for name in self.__dataclass_fields__ if getattr(self, name) != getattr(other, name)]  # fmt: skip


def check_edit(original: str, edit: str) -> dict[str, int]:
    """Raise EditRefused unless `edit` differs from `original`, is within LENGTH_TOLERANCE of its length in
    characters and keeps its formatting; returns the lengths (for the edit's metadata)."""
    original, edit = original.strip(), edit.strip()
    if not edit:
        raise EditRefused("empty_edit", "the editor returned no text")
    if edit == original:
        raise EditRefused("unchanged", "the editor returned the reply unchanged")
    low, high = length_bounds(len(original))
    if not low <= len(edit) <= high:
        raise EditRefused(
            "length_changed",
            f"the edit is {len(edit)} characters, the original {len(original)}: outside {low}-{high} (5%)",
        )
    before, after = Formatting.of(original), Formatting.of(edit)
    if before != after:
        changed = ", ".join(before.differences(after))
        raise EditRefused("formatting_changed", f"the edit changed the formatting: {changed}")
    return {"original_chars": len(original), "edit_chars": len(edit)}
