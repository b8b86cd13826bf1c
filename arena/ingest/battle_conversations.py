"""LMArena's multi-turn fields, read on import and written on export.

The fields, as LMArena's arena-human-preference-140k dataset card defines them
(https://huggingface.co/datasets/lmarena-ai/arena-human-preference-140k, "Overview"):
- `conversation_a` / `conversation_b`: the whole conversation of this vote, every turn, as {role, content} messages
  (140k gives content as typed parts; the 100k release, FastChat's files and Kaggle's 55k as text);
- `turn` (the 100k release and FastChat): how many user turns the conversation has;
- `evaluation_session_id`: one person's continuous conversation, which may hold several votes;
- `evaluation_order`: the n-th vote of that session, from 1 (new models are drawn after each vote);
- `full_conversation`: the session's conversation up to and including this vote, with the context from its
  earlier votes; one entry per exchange, {"user": message, "model_side_a": message, "model_side_b": message}
  (the shape public readers of the 140k Parquet files unpack, e.g. `item.get("user")`).

A multi-turn record (both conversations alternating user / assistant, more than one exchange on a side) becomes a
shared conversation of turn rows: each exchange's user message on side 'both' when the two sides agree on it,
else one per side; each side's answer on its side. A record that only names a session becomes a 'single'
conversation carrying the session (its one exchange stays in the battle's metadata, as before). Anything else
(including conversations that do not alternate, which the arena cannot hold as exchanges) imports as before.
"""

from __future__ import annotations

import json
from typing import NamedTuple

SESSION_FIELDS = ("evaluation_session_id", "evaluation_order", "full_conversation")


class StagedConversation(NamedTuple):
    mode: str  # 'shared' or 'single'
    session: str | None
    order: int | None
    # (exchange from 0, side 'a' | 'b' | 'both', role, content, author 'visitor' | 'model')
    turns: list[tuple[int, str, str, str, str]]
    exchanges: int
    full_conversation: list | None

    def as_json(self) -> str:
        return json.dumps(
            {"mode": self.mode, "session": self.session, "order": self.order, "turns": self.turns,
             "full": self.full_conversation},
            ensure_ascii=False,
        )  # fmt: skip


def _text(content) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # 140k's typed parts
        return "\n".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return None


def exchanges(messages) -> list[tuple[str, str | None]] | None:
    """[(user message, answer or None)] of a conversation that alternates user / assistant from a user message
    (the last answer may be missing); None for any other shape."""
    if not isinstance(messages, list) or not messages:
        return None
    out: list[tuple[str, str | None]] = []
    for k, message in enumerate(messages):
        expected = "user" if k % 2 == 0 else "assistant"
        if (
            not isinstance(message, dict)
            or message.get("role") != expected
            or not isinstance(message.get("content"), str)
        ):
            return None
        if expected == "user":
            out.append((message["content"], None))
        else:
            out[-1] = (out[-1][0], message["content"])
    return out


def _session(value) -> str | None:
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("evaluation_session_id must be a string")
    value = str(value)
    if len(value) > 128:
        raise ValueError("evaluation_session_id is longer than 128 characters")
    return value


def _order(value) -> int | None:
    if value in (None, ""):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"evaluation_order must be a whole number from 1; got {value!r}")
    return value


def _full_conversation(value) -> list | None:
    if value is None:
        return None
    if isinstance(value, str):  # CSV cells and our Parquet strings carry it as JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"full_conversation is not valid JSON ({exc.msg})") from exc
    if not isinstance(value, list) or not all(isinstance(e, dict) for e in value):
        raise ValueError("full_conversation must be a list of exchanges (objects)")
    if not value:
        return None
    out = []
    for entry in value:
        kept = {}
        for key, message in entry.items():
            if isinstance(message, dict) and "content" in message:
                text = _text(message["content"])
                if text is None:
                    raise ValueError(f"full_conversation: {key} has no text content")
                message = {"role": message.get("role"), "content": text}
            kept[key] = message
        out.append(kept)
    return out


def conversation_plan(record: dict, meta: dict) -> StagedConversation | None:
    """The conversation a record carries, or None (import as before). A multi-turn record's conversation_a/_b
    move out of `meta` into the plan's turns (they are not stored twice)."""
    session = _session(record.get("evaluation_session_id"))
    order = _order(record.get("evaluation_order"))
    full = _full_conversation(record.get("full_conversation"))
    a, b = exchanges(meta.get("conversation_a")), exchanges(meta.get("conversation_b"))
    if a and b and max(len(a), len(b)) > 1:
        turns: list[tuple[int, str, str, str, str]] = []
        for k in range(max(len(a), len(b))):
            users = {side: ex[k][0] for side, ex in (("a", a), ("b", b)) if k < len(ex)}
            if len(users) == 2 and users["a"] == users["b"]:
                turns.append((k, "both", "user", users["a"], "visitor"))
            else:
                turns.extend((k, side, "user", text, "visitor") for side, text in users.items())
            for side, ex in (("a", a), ("b", b)):
                if k < len(ex) and ex[k][1] is not None:
                    turns.append((k, side, "assistant", ex[k][1], "model"))
        del meta["conversation_a"], meta["conversation_b"]
        return StagedConversation("shared", session, order, turns, max(len(a), len(b)), full)
    if session is None and order is None and full is None:
        return None
    return StagedConversation("single", session, order, [], 1, full)


def full_conversation_entry(a: list[dict], b: list[dict]) -> list[dict]:
    """One vote's exchanges in full_conversation's shape, from the two sides' messages."""
    sides = [exchanges(a) or [], exchanges(b) or []]
    entries = []
    for k in range(max(len(sides[0]), len(sides[1]))):
        entry: dict = {}
        user = next((ex[k][0] for ex in sides if k < len(ex)), None)
        if user is not None:
            entry["user"] = {"role": "user", "content": user}
        for name, ex in (("model_side_a", sides[0]), ("model_side_b", sides[1])):
            if k < len(ex) and ex[k][1] is not None:
                entry[name] = {"role": "assistant", "content": ex[k][1]}
        entries.append(entry)
    return entries
