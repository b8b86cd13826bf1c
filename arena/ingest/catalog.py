"""Get-or-create for models, prompts and replies: shared by the demo loader and the importers."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.models import Model, Prompt, PromptEmotion, Reply
from arena.taxonomy import canonical_category


class CatalogError(ValueError):
    """Input that cannot become a model, prompt or reply; the message says why."""


def content_hash(text: str) -> str:
    """Identity of a message: NFC, trimmed, inner whitespace folded, so cosmetic differences do not duplicate."""
    normalised = " ".join(unicodedata.normalize("NFC", text).split())
    return hashlib.sha256(normalised.encode("utf-8")).hexdigest()


def get_or_create_model(session: Session, slug: str, **fields) -> tuple[Model, bool]:
    slug = slug.strip()
    if not slug:
        raise CatalogError("model slug is empty")
    model = session.scalar(select(Model).where(Model.slug == slug))
    if model is not None:
        return model, False
    fields.setdefault("display_name", slug)
    model = Model(slug=slug, **fields)
    session.add(model)
    session.flush()
    return model, True


def emotion_tags(raw: Iterable) -> list[tuple[str, int]]:
    """Validate emotion tags given as names or {"name", "intensity"} objects; EmoNet names only."""
    tags: dict[str, int] = {}
    for item in raw:
        if isinstance(item, str):
            name, intensity = item, 1
        elif isinstance(item, dict) and isinstance(item.get("name"), str):
            name, intensity = item["name"], item.get("intensity", 1)
        else:
            raise CatalogError(f"emotion tag {item!r} is neither a name nor {{'name', 'intensity'}}")
        category = canonical_category(name)
        if category is None:
            raise CatalogError(f"unknown emotion category {name!r} (EmoNet names only)")
        if not isinstance(intensity, int) or isinstance(intensity, bool) or not 0 <= intensity <= 2:
            raise CatalogError(f"emotion {category!r}: intensity must be 0, 1 or 2, got {intensity!r}")
        tags[category] = max(intensity, tags.get(category, 0))
    return list(tags.items())


def get_or_create_prompt(
    session: Session,
    text: str,
    *,
    source: str,
    emotions: Iterable = (),
    **fields,
) -> tuple[Prompt, bool]:
    if not text or not text.strip():
        raise CatalogError("prompt text is empty")
    digest = content_hash(text)
    prompt = session.scalar(select(Prompt).where(Prompt.content_hash == digest))
    if prompt is not None:
        return prompt, False
    tags = emotion_tags(emotions)
    prompt = Prompt(text=text.strip(), source=source, content_hash=digest, **fields)
    prompt.emotions = [PromptEmotion(category=c, intensity=i) for c, i in tags]
    session.add(prompt)
    session.flush()
    return prompt, True


def get_or_create_reply(session: Session, prompt: Prompt, model: Model, text: str, **fields) -> tuple[Reply, bool]:
    if not text or not text.strip():
        raise CatalogError(f"reply of {model.slug!r} is empty")
    """The pair's stored reply with this text, or a new sample of the pair: a re-import adds nothing, while a
    different text for the same pair becomes one more sample for battles to draw from."""
    text = text.strip()
    pair = (Reply.prompt_id == prompt.id) & (Reply.model_id == model.id) & Reply.edit_of.is_(None)
    reply = session.scalar(select(Reply).where(pair, Reply.text == text).order_by(Reply.sample).limit(1))
    if reply is not None:
        return reply, False
    # Two importers racing for the same next sample meet the (prompt, model, sample) constraint: nothing doubles.
    sample = session.scalar(select(func.coalesce(func.max(Reply.sample) + 1, 0)).where(pair))
    reply = Reply(prompt_id=prompt.id, model_id=model.id, sample=sample, text=text, **fields)
    session.add(reply)
    session.flush()
    return reply, True
