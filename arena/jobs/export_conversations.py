"""What the export writes for battles that have a conversation row: every turn of each side (transcript battles:
each side's own simulated person's messages), the evaluation session and order, and full_conversation (LMArena's
multi-turn fields, see arena.ingest.battle_conversations).

Read once, before the battles stream: only battles with a conversation row are loaded (through the ORM and
arena.voting.conversations.battle_conversation, the one reader of a battle's turns), a small share of a large
arena; single-turn battles never pass through here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from arena.ingest.battle_conversations import full_conversation_entry
from arena.models import Battle, Conversation, ConversationScore, Reply
from arena.voting.conversations import battle_conversation, score_owner

CHUNK = 500


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


def _private(meta: dict | None, private_flags: set[str]) -> bool:
    flags = (meta or {}).get("moderation_flags") or ()
    return any(f in private_flags or str(f).split(":", 1)[0] in private_flags for f in flags)


def _messages(side) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in side]


def _turn_rows(battle: Battle):
    conversation = battle.conversation
    yield from conversation.turns
    if conversation.mode == "transcript":
        for reply in (battle.reply_a, battle.reply_b):
            if reply is not None and reply.transcript is not None:
                yield from reply.transcript.turns


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


def conversations(session: Session, private_flags: set[str]) -> dict[int, ExportedConversation]:
    """battle id -> its conversation as exported, for every battle with a conversation row."""
    ids = list(session.scalars(select(Conversation.battle_id).where(Conversation.battle_id.is_not(None))))
    judged = _judge_scores(session) if ids else {}
    out: dict[int, ExportedConversation] = {}
    transcript = selectinload(Reply.transcript).selectinload(Conversation.turns)
    for start in range(0, len(ids), CHUNK):
        battles = session.scalars(
            select(Battle)
            .where(Battle.id.in_(ids[start : start + CHUNK]))
            .options(
                selectinload(Battle.conversation).selectinload(Conversation.turns),
                selectinload(Battle.prompt),
                selectinload(Battle.reply_a).options(transcript),
                selectinload(Battle.reply_b).options(transcript),
            )
        )
        for battle in battles:
            conversation = battle.conversation
            if conversation.turns or (battle.reply_a is not None and battle.reply_b is not None):
                seen = battle_conversation(battle)
                a, b = _messages(seen.a), _messages(seen.b)
            else:  # an imported single exchange: its conversations stayed in the battle's metadata
                a, b = (battle.meta or {}).get("conversation_a"), (battle.meta or {}).get("conversation_b")
            out[battle.id] = ExportedConversation(
                conversation.mode, a, b, conversation.evaluation_session, conversation.evaluation_order,
                (conversation.meta or {}).get("full_conversation"),
                any(_private(t.meta, private_flags) for t in _turn_rows(battle)),
                judged.get(score_owner(battle, "a")), judged.get(score_owner(battle, "b")),
            )  # fmt: skip
        session.expunge_all()
    fill_full_conversations(out)
    return out


def fill_full_conversations(rows: dict[int, ExportedConversation]) -> None:
    """full_conversation for battles of an evaluation session that did not bring one: the session's votes up to
    and including this one, in evaluation order (each vote's exchanges with that vote's two models)."""
    by_session: dict[str, list[tuple[int, int]]] = {}
    for battle_id, row in rows.items():
        if row.session is not None:
            by_session.setdefault(row.session, []).append((row.order or 1, battle_id))
    for votes in by_session.values():
        votes.sort()
        so_far: list[dict] = []
        for _, battle_id in votes:
            row = rows[battle_id]
            so_far = so_far + full_conversation_entry(row.conversation_a or [], row.conversation_b or [])
            if row.full_conversation is None:
                row.full_conversation = so_far
