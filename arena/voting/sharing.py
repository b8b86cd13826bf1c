"""Shared battles: what a voter may share, and the opaque link that names it.

A shared page shows a message, the two replies (or both whole transcripts) and the two models' names: nothing of
the battle it was shared from or of its voter. So the link names the *content*, the pair of replies in the order
the sharer saw them, never the battle: it carries no battle id (the public export's `question_id`), no vote, no
time and no visitor, every battle with the same two replies shares one link, and no link can be turned back into
a battle, let alone a vote.

The link is the pair of reply ids, enciphered with a keyed permutation (a four-round Feistel network on HMAC-SHA256,
Luby-Rackoff) so the ids cannot be read, then authenticated (HMAC-SHA256, truncated), so links cannot be guessed,
enumerated or forged; both keys come from the server's secret. Only the server makes links, and only from a voted
battle whose voter may see the names (arena.web.sharing), so a link never gives a name before a vote.

Shareable: battles drawn from the bank (source 'arena') on a message from the demo, an import or curation, with no
moderation flag (a crisis or personal-data flag keeps a message out of public pages, as out of public exports), and
either one exchange or two imported transcripts. Never a visitor's own message (`source='user'`: live battles), nor
a live conversation: those are the visitor's private text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.models import Battle, Model, Prompt, Reply
from arena.voting.conversations import BattleConversation, replies_conversation

SHAREABLE_SOURCES = ("demo", "imported", "curated")
_ROUNDS = 4
# 16 + 11 bytes: a multiple of three, so the base64 text has no padding and no spare bits (one pair, one link).
_TAG_BYTES = 11
_TOKEN_BYTES = 16 + _TAG_BYTES
TOKEN_LENGTH = _TOKEN_BYTES * 4 // 3


class NotShareable(Exception):
    """The battle may not become a public page; the message says why, for the visitor."""


@dataclass(frozen=True)
class SharedPair:
    reply_a_id: int
    reply_b_id: int
    # Shown as the two whole imported transcripts (a transcript battle) rather than the first exchange.
    transcript: bool


@dataclass(frozen=True)
class SharedPage:
    """All a shared page shows."""

    prompt: str
    reply_a: str
    reply_b: str
    model_a: str
    model_b: str
    prompt_id: int
    conversation: BattleConversation | None


class ShareLinks:
    """Makes and reads shared-page tokens (see the module's docstring)."""

    def __init__(self, secret_key: str) -> None:
        root = secret_key.encode("utf-8")
        self._round_key = hmac.new(root, b"arena.share.feistel", hashlib.sha256).digest()
        self._mac_key = hmac.new(root, b"arena.share.mac", hashlib.sha256).digest()

    def _f(self, k: int, half: bytes) -> bytes:
        return hmac.new(self._round_key, bytes([k]) + half, hashlib.sha256).digest()[:8]

    def _tag(self, block: bytes) -> bytes:
        return hmac.new(self._mac_key, block, hashlib.sha256).digest()[:_TAG_BYTES]

    def token(self, pair: SharedPair) -> str:
        left, right = struct.pack(">Q", pair.reply_a_id), struct.pack(">Q", pair.reply_b_id << 1 | pair.transcript)
        for k in range(_ROUNDS):
            left, right = right, bytes(x ^ y for x, y in zip(left, self._f(k, right), strict=True))
        block = left + right
        return base64.urlsafe_b64encode(block + self._tag(block)).decode("ascii")

    def pair(self, token: str) -> SharedPair | None:
        """The pair a token names, or None for anything this server did not make."""
        if len(token) != TOKEN_LENGTH or not token.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(token)
        except (binascii.Error, ValueError):
            return None
        if base64.urlsafe_b64encode(raw).decode("ascii") != token:  # only the one spelling this server writes
            return None
        block, tag = raw[:16], raw[16:]
        if len(raw) != _TOKEN_BYTES or not hmac.compare_digest(tag, self._tag(block)):
            return None
        left, right = block[:8], block[8:]
        for k in reversed(range(_ROUNDS)):
            left, right = bytes(x ^ y for x, y in zip(right, self._f(k, left), strict=True)), left
        (a,), (b,) = struct.unpack(">Q", left), struct.unpack(">Q", right)
        return SharedPair(a, b >> 1, bool(b & 1))


def _prompt_shareable(prompt: Prompt | None) -> bool:
    return prompt is not None and prompt.source in SHAREABLE_SOURCES and prompt.active and not prompt.moderation_flags


def shareable_pair(battle: Battle) -> SharedPair:
    """The pair a voted battle shares as, or NotShareable with the reason."""
    if battle.source != "arena" or battle.prompt is None or battle.prompt.source == "user":
        raise NotShareable("battles on a visitor's own message are never shared: the message is theirs")
    if not _prompt_shareable(battle.prompt):
        raise NotShareable("this message is not shared publicly (it is flagged or withdrawn)")
    if battle.reply_a_id is None or battle.reply_b_id is None:
        raise NotShareable("this battle has no replies to show")
    conversation = battle.conversation
    if conversation is not None and conversation.mode == "shared":
        raise NotShareable("a conversation with a visitor is never shared: the messages are theirs")
    transcript = conversation is not None and conversation.mode == "transcript"
    return SharedPair(battle.reply_a_id, battle.reply_b_id, transcript)


def shared_page(session: Session, pair: SharedPair) -> SharedPage | None:
    """What the page of `pair` shows, or None when it is no longer public (a reply deleted, the message flagged or
    withdrawn since the link was made)."""
    wanted = (pair.reply_a_id, pair.reply_b_id)
    replies = {r.id: r for r in session.scalars(select(Reply).where(Reply.id.in_(wanted)))}
    reply_a, reply_b = replies.get(pair.reply_a_id), replies.get(pair.reply_b_id)
    if reply_a is None or reply_b is None or reply_a.prompt_id != reply_b.prompt_id:
        return None
    if reply_a.model_id == reply_b.model_id or not _prompt_shareable(reply_a.prompt):
        return None
    models = (reply_a.model_id, reply_b.model_id)
    names = dict(session.execute(select(Model.id, Model.display_name).where(Model.id.in_(models))).all())
    prompt = reply_a.prompt.text
    conversation = replies_conversation(prompt, reply_a, reply_b) if pair.transcript else None
    return SharedPage(prompt, reply_a.text, reply_b.text, names[reply_a.model_id], names[reply_b.model_id],
                      reply_a.prompt_id, conversation)  # fmt: skip
