"""What the export writes for battles that have a conversation row: every turn of each side (transcript battles:
each side's own simulated person's messages), the evaluation session and order, and full_conversation (LMArena's
multi-turn fields, see arena.ingest.battle_conversations).

Read in chunks as the battles stream past in id order, so memory holds one chunk, not the arena: turn rows with one
query per chunk, each side's messages by arena.voting.conversations.side_messages (the one reader of a shared
conversation's turns); transcript battles through the ORM and battle_conversation. Single-turn battles never pass
through here."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from types import SimpleNamespace
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased, selectinload

from arena.ingest.battle_conversations import full_conversation_entry
from arena.models import Battle, Conversation, ConversationScore, Prompt, Reply, Turn
from arena.voting.conversations import battle_conversation, score_owner, side_messages

CHUNK = 2_000


@dataclass
class ExportedConversation:
    mode: str
    # Each side's messages; None for an imported single exchange that brought no conversation.
    conversation_a: list[dict] | None
    conversation_b: list[dict] | None
    session: str | None
    order: int | None
    full_conversation: list[dict] | None
    private: bool  # a message of it carries a private moderation flag (crisis, personal data)
    # The conversation judge's scores of each side: {judge: {"turns": [{"exchange": k, criterion: score, ...}],
    # "conversation": {criterion: score, ...}}} (arena judge --conversations).
    eq_conversation_a: dict | None = None
    eq_conversation_b: dict | None = None


class _Turn(NamedTuple):
    """A turn row as side_messages reads it."""

    idx: int
    side: str
    role: str
    content: str
    author: str


def _private(meta: dict | None, private_flags: set[str]) -> bool:
    flags = (meta or {}).get("moderation_flags") or ()
    return any(f in private_flags or str(f).split(":", 1)[0] in private_flags for f in flags)


def _messages(side) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in side]


def _single(prompt: str | None, text: str | None) -> list[dict] | None:
    if prompt is None or text is None:
        return None
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": text}]


def _judge_scores(session: Session) -> dict[tuple[int, str], dict]:
    """(conversation id, side) -> {judge: {"turns": [...], "conversation": {...}}}, every stored score."""
    out: dict[tuple[int, str], dict] = {}
    turns: dict[tuple[int, str, str, int], dict] = {}
    rows = session.execute(
        select(ConversationScore.conversation_id, ConversationScore.side, ConversationScore.judge,
               ConversationScore.scope, ConversationScore.exchange, ConversationScore.criterion,
               ConversationScore.score).order_by(ConversationScore.judge, ConversationScore.exchange)
    )  # fmt: skip
    for conversation_id, side, judge, scope, exchange, criterion, score in rows:
        entry = out.setdefault((conversation_id, side), {}).setdefault(judge, {"turns": [], "conversation": {}})
        if scope == "conversation":
            entry["conversation"][criterion] = score
            continue
        key = (conversation_id, side, judge, exchange)
        if key not in turns:
            turns[key] = {"exchange": exchange}
            entry["turns"].append(turns[key])
        turns[key][criterion] = score
    return out


class ConversationReader:
    """`get(battle_id)`: the battle's conversation as exported, or None when it has no conversation row. Asked in
    increasing battle id order (as the export streams), it loads CHUNK conversations at a time."""

    def __init__(self, session: Session, private_flags: set[str]) -> None:
        self.session, self.private_flags = session, private_flags
        self.ids = list(
            session.scalars(
                select(Conversation.battle_id)
                .where(Conversation.battle_id.is_not(None))
                .order_by(Conversation.battle_id)
            )
        )
        self.judged = _judge_scores(session) if self.ids else {}
        self.chunk: dict[int, ExportedConversation] = {}

    def get(self, battle_id: int) -> ExportedConversation | None:
        if battle_id in self.chunk:
            return self.chunk[battle_id]
        at = bisect.bisect_left(self.ids, battle_id)
        if at == len(self.ids) or self.ids[at] != battle_id:
            return None
        self.chunk = self._load(self.ids[at : at + CHUNK])
        self._fill_full_conversations(self.chunk)
        return self.chunk[battle_id]

    def _load(self, battle_ids: list[int]) -> dict[int, ExportedConversation]:
        reply_a, reply_b = aliased(Reply), aliased(Reply)
        rows = self.session.execute(
            select(Conversation.id, Conversation.battle_id, Conversation.mode, Conversation.evaluation_session,
                   Conversation.evaluation_order, Conversation.meta, Battle.meta, Prompt.text, reply_a.text,
                   reply_b.text)
            .join(Battle, Battle.id == Conversation.battle_id)
            .outerjoin(Prompt, Prompt.id == Battle.prompt_id)
            .outerjoin(reply_a, reply_a.id == Battle.reply_a_id)
            .outerjoin(reply_b, reply_b.id == Battle.reply_b_id)
            .where(Conversation.battle_id.in_(battle_ids))
        ).all()  # fmt: skip
        turns: dict[int, list[_Turn]] = {}
        private: set[int] = set()
        shared = [row[0] for row in rows if row[2] != "transcript"]
        for conversation_id, idx, side, role, content, author, meta in self.session.execute(
            select(Turn.conversation_id, Turn.idx, Turn.side, Turn.role, Turn.content, Turn.author, Turn.meta).where(
                Turn.conversation_id.in_(shared)
            )
        ):
            turns.setdefault(conversation_id, []).append(_Turn(idx, side, role, content, author))
            if _private(meta, self.private_flags):
                private.add(conversation_id)
        out: dict[int, ExportedConversation] = {}
        transcripts = []
        for conversation_id, battle_id, mode, session, order, meta, battle_meta, prompt, text_a, text_b in rows:
            if mode == "transcript":
                transcripts.append(battle_id)
                continue
            own = turns.get(conversation_id)
            if own:
                holder = SimpleNamespace(turns=own)
                a, b = _messages(side_messages(holder, "a")), _messages(side_messages(holder, "b"))
            elif text_a is not None and text_b is not None:
                a, b = _single(prompt, text_a), _single(prompt, text_b)
            else:  # an imported single exchange: its conversations stayed in the battle's metadata
                a, b = (battle_meta or {}).get("conversation_a"), (battle_meta or {}).get("conversation_b")
            judged = (self.judged.get((conversation_id, "a")), self.judged.get((conversation_id, "b"))) if own else ()
            out[battle_id] = ExportedConversation(
                mode, a, b, session, order, (meta or {}).get("full_conversation"), conversation_id in private,
                *judged,
            )  # fmt: skip
        if transcripts:
            out.update(self._transcripts(transcripts))
        return out

    def _transcripts(self, battle_ids: list[int]) -> dict[int, ExportedConversation]:
        """Transcript battles: each side is its reply's own transcript, read by battle_conversation."""
        transcript = selectinload(Reply.transcript).selectinload(Conversation.turns)
        battles = self.session.scalars(
            select(Battle)
            .where(Battle.id.in_(battle_ids))
            .options(
                selectinload(Battle.conversation).selectinload(Conversation.turns),
                selectinload(Battle.prompt),
                selectinload(Battle.reply_a).options(transcript),
                selectinload(Battle.reply_b).options(transcript),
            )
        )
        out = {}
        for battle in battles:
            conversation, seen = battle.conversation, battle_conversation(battle)
            own = [r.transcript for r in (battle.reply_a, battle.reply_b) if r is not None and r.transcript]
            out[battle.id] = ExportedConversation(
                "transcript", _messages(seen.a), _messages(seen.b), conversation.evaluation_session,
                conversation.evaluation_order, (conversation.meta or {}).get("full_conversation"),
                any(_private(t.meta, self.private_flags) for c in own for t in c.turns),
                self.judged.get(score_owner(battle, "a")), self.judged.get(score_owner(battle, "b")),
            )  # fmt: skip
        self.session.expunge_all()
        return out

    def _fill_full_conversations(self, chunk: dict[int, ExportedConversation]) -> None:
        """full_conversation for battles of an evaluation session that did not bring one: the session's votes up to
        and including this one, in evaluation order (each vote's exchanges with that vote's two models). A
        session's other votes may lie outside the chunk: they are read too."""
        sessions = {row.session for row in chunk.values() if row.session is not None and row.full_conversation is None}
        if not sessions:
            return
        members: dict[str, list[tuple[int, int]]] = {}
        for battle_id, session, order in self.session.execute(
            select(Conversation.battle_id, Conversation.evaluation_session, Conversation.evaluation_order).where(
                Conversation.evaluation_session.in_(sessions), Conversation.battle_id.is_not(None)
            )
        ):
            members.setdefault(session, []).append((order or 1, battle_id))
        outside = [b for votes in members.values() for _, b in votes if b not in chunk]
        others: dict[int, ExportedConversation] = {}
        for start in range(0, len(outside), CHUNK):  # a chunk's sessions may reach far more battles than a chunk
            others.update(self._load(outside[start : start + CHUNK]))
        for votes in members.values():
            votes.sort()
            so_far: list[dict] = []
            for _, battle_id in votes:
                row = chunk.get(battle_id) or others[battle_id]
                so_far = so_far + full_conversation_entry(row.conversation_a or [], row.conversation_b or [])
                if battle_id in chunk and row.full_conversation is None:
                    row.full_conversation = so_far
