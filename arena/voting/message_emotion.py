"""The emotion a battle's message was tagged with (its strongest EmoNet category), for the reveal to name and link
to the leaderboard of its emotion group."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from arena.models import Battle, PromptEmotion
from arena.taxonomy import GROUP_OF


@dataclass(frozen=True)
class MessageEmotion:
    category: str  # the EmoNet category, e.g. "Sadness"
    group: str  # its EmoNet group: the leaderboard tab that rates it


# The strongest tag first; among equals the first by name, so the same message always names the same emotion.
_EMOTION = (
    select(PromptEmotion.category)
    .join(Battle, Battle.prompt_id == PromptEmotion.prompt_id)
    .where(Battle.public_id == bindparam("public_id"))
    .order_by(PromptEmotion.intensity.desc(), PromptEmotion.category)
    .limit(1)
)


def message_emotion(session: Session, public_id: str) -> MessageEmotion | None:
    """None for a message with no EmoNet tag (an untagged import, a visitor's own live message)."""
    category = session.connection().execute(_EMOTION, {"public_id": public_id}).scalar()
    group = GROUP_OF.get(category) if category else None
    return MessageEmotion(category, group) if group else None
