"""A battle's conversation as each side saw it: the one read every page, vote, export and judge goes through.

Three shapes are stored (see arena.models.Conversation): a single-turn battle (no conversation row: its prompt and
replies are the one exchange), a shared conversation (turn rows on the battle's conversation: the person's
messages on side 'both', each model's answers on its side) and a transcript battle (the two replies' own
imported transcripts, side 'own', each with its own simulated person). `sides` flattens all three into one list
of messages per side, in order, which is also exactly what that side's model was sent (its history).
"""

from __future__ import annotations

from dataclasses import dataclass

from arena.models import Battle, Conversation, Turn


@dataclass(frozen=True)
class Message:
    role: str  # 'user' or 'assistant'
    content: str
    author: str  # 'visitor', 'persona' or 'model'
    idx: int  # the exchange it belongs to, from 0


@dataclass(frozen=True)
class BattleConversation:
    mode: str  # 'single', 'shared' or 'transcript'
    a: tuple[Message, ...]
    b: tuple[Message, ...]

    @property
    def turns(self) -> int:
        """Exchanges shown: the longer side's count of answers (a transcript's sides may differ in length)."""
        return max(_answers(self.a), _answers(self.b))

    @property
    def shared_messages(self) -> bool:
        """Both sides were sent the same person's messages (always so for one exchange)."""
        return self.mode != "transcript"

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        """The messages of both sides grouped by exchange, for a page to show side by side. In a transcript, a
        person's message no one answered after the last answer (an EQ-Bench 4 persona closing the chat) belongs
        to the last exchange, so there are `turns` of them; in a shared conversation a message still awaiting
        its answers is an exchange of its own."""
        last = max((m.idx for m in self.a + self.b), default=0)
        if not self.shared_messages:
            last = min(last, max(self.turns - 1, 0))
        grouped: list[tuple[list[Message], list[Message]]] = [([], []) for _ in range(last + 1)]
        for side, messages in enumerate((self.a, self.b)):
            for m in messages:
                grouped[min(m.idx, last)][side].append(m)
        return tuple(Exchange(k, tuple(a), tuple(b)) for k, (a, b) in enumerate(grouped))


@dataclass(frozen=True)
class Exchange:
    """One exchange of a battle's conversation as both sides saw it (see BattleConversation.exchanges)."""

    idx: int
    a: tuple[Message, ...]
    b: tuple[Message, ...]

    @property
    def person_message(self) -> str | None:
        """The person's message when both sides were sent the same one (shown once), else None."""
        a = [m.content for m in self.a if m.role == "user"]
        b = [m.content for m in self.b if m.role == "user"]
        return a[0] if a and a == b and len(a) == 1 else None

    @property
    def answered(self) -> bool:
        return any(m.role == "assistant" for m in self.a + self.b)

    @property
    def first_person_message(self) -> str | None:
        """Side A's person's message in this exchange (a folded exchange's preview)."""
        return next((m.content for m in self.a if m.role == "user"), None)


def _answers(messages: tuple[Message, ...]) -> int:
    return sum(1 for m in messages if m.role == "assistant")


def _message(turn: Turn) -> Message:
    return Message(turn.role, turn.content, turn.author, turn.idx)


def side_messages(conversation: Conversation, side: str) -> tuple[Message, ...]:
    """One side's messages of a shared conversation ('a' or 'b': its own and the 'both' ones), or all of a
    reply's own transcript (side 'own'), ordered by exchange, the person's message before the answer."""
    wanted = {"own"} if side == "own" else {side, "both"}
    turns = [t for t in conversation.turns if t.side in wanted]
    turns.sort(key=lambda t: (t.idx, t.role != "user"))
    return tuple(_message(t) for t in turns)


def _single(prompt: str, reply) -> tuple[Message, ...]:
    return (Message("user", prompt, "visitor", 0), Message("assistant", reply.text, "model", 0))


def replies_conversation(prompt: str, reply_a, reply_b) -> BattleConversation:
    """A transcript battle's messages from its two replies alone (each reply's own transcript; a reply without
    one, its single exchange): what a battle of these two replies shows, with no battle at hand (a shared page)."""
    sides = []
    for reply in (reply_a, reply_b):
        own = reply.transcript
        sides.append(side_messages(own, "own") if own is not None else _single(prompt, reply))
    return BattleConversation("transcript", *sides)


def battle_conversation(battle: Battle) -> BattleConversation:
    """The battle's messages per side (see the module's docstring). Needs the battle's prompt and replies."""
    conversation = battle.conversation
    if conversation is not None and conversation.mode == "transcript":
        return replies_conversation(battle.prompt.text, battle.reply_a, battle.reply_b)
    if conversation is not None and conversation.turns:
        return BattleConversation(conversation.mode, side_messages(conversation, "a"), side_messages(conversation, "b"))
    prompt = battle.prompt.text
    return BattleConversation("single", _single(prompt, battle.reply_a), _single(prompt, battle.reply_b))


def history_for(conversation: Conversation, side: str) -> list[dict[str, str]]:
    """What side `side` ('a' or 'b') of a shared conversation is sent next: the person's messages and only its own
    earlier answers (FastChat's rule), as chat messages."""
    return [{"role": m.role, "content": m.content} for m in side_messages(conversation, side)]


def score_owner(battle: Battle, side: str) -> tuple[int, str] | None:
    """Where the conversation judge keeps a battle side's scores (ConversationScore): (conversation id, side) of its
    shared conversation, or of the side's reply's own transcript in a transcript battle (side 'own'); None when the
    side has no turns of its own."""
    conversation = battle.conversation
    if conversation is None:
        return None
    if conversation.mode == "transcript":
        reply = battle.reply_a if side == "a" else battle.reply_b
        return (reply.transcript.id, "own") if reply is not None and reply.transcript is not None else None
    return (conversation.id, side) if conversation.turns else None
