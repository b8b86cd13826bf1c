"""The shipped demo bank: enough tagged messages, every persona answering each, loaded idempotently."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model
from arena.ingest.demo import load_demo_bank, remove_demo_content
from arena.models import Battle, Model, Prompt, PromptEmotion, Reply
from arena.taxonomy import EMONET_CATEGORIES

THEMES = ["grief", "heartbreak", "family conflict", "work injustice", "loneliness", "shame", "anxiety", "jealousy",
          "pride"]  # fmt: skip
IDENTITY_CLAIMS = re.compile(r"\b(as an ai|language model|openai|anthropic|chatgpt|claude|gemini)\b", re.I)


def test_bank_has_40_tagged_messages_with_every_persona(demo_bank):
    personas = {p["key"] for p in demo_bank["personas"]}
    assert len(personas) >= 5
    assert all("demo persona" in p["display_name"] for p in demo_bank["personas"])
    messages = demo_bank["messages"]
    assert len(messages) >= 40
    assert len({m["id"] for m in messages}) == len(messages)
    for m in messages:
        assert set(m["replies"]) == personas, m["id"]
        assert m["emotions"] and all(e["name"] in EMONET_CATEGORIES for e in m["emotions"]), m["id"]
        assert all(e["intensity"] in (0, 1, 2) for e in m["emotions"])
        assert m["situation"] and m["need"], m["id"]
        for text in m["replies"].values():
            assert not IDENTITY_CLAIMS.search(text), (m["id"], text[:60])
    situations = {m["situation"] for m in messages}
    assert set(THEMES) <= situations
    emotions = {e["name"] for m in messages for e in m["emotions"]}
    assert {"Sadness", "Shame", "Fear", "Jealousy & Envy", "Pride", "Relief"} <= emotions


def test_persona_styles_are_distinct(demo_bank):
    def mean_words(key):
        texts = [m["replies"][key] for m in demo_bank["messages"]]
        return sum(len(t.split()) for t in texts) / len(texts)

    brief, guide = mean_words("brief"), mean_words("structured-guide")
    assert brief < 35 < guide
    guide_texts = [m["replies"]["structured-guide"] for m in demo_bank["messages"]]
    assert all("**" in t and "\n- " in t for t in guide_texts)
    coach_texts = [m["replies"]["curious-coach"] for m in demo_bank["messages"]]
    assert all(t.count("?") >= 2 for t in coach_texts)


def counts(session_factory):
    with session_factory() as s:
        return tuple(s.scalar(select(func.count()).select_from(t)) for t in (Model, Prompt, Reply, PromptEmotion))


def test_loading_twice_adds_nothing(session_factory, demo_bank):
    with transaction(session_factory) as s:
        first = load_demo_bank(s, demo_bank)
    n_messages, n_personas = len(demo_bank["messages"]), len(demo_bank["personas"])
    assert (first.models, first.prompts, first.replies) == (n_personas, n_messages, n_messages * n_personas)
    before = counts(session_factory)
    with transaction(session_factory) as s:
        second = load_demo_bank(s, demo_bank)
    assert (second.models, second.prompts, second.replies) == (0, 0, 0)
    assert counts(session_factory) == before


def test_reset_removes_demo_content_only(session_factory, demo_bank, client):
    with transaction(session_factory) as s:
        load_demo_bank(s, demo_bank)
        get_or_create_model(s, "real-model")
    client.get("/")
    with transaction(session_factory) as s:
        remove_demo_content(s)
    with session_factory() as s:
        assert s.scalars(select(Model.slug)).all() == ["real-model"]
        assert s.scalar(select(func.count()).select_from(Prompt)) == 0
        assert s.scalar(select(func.count()).select_from(Battle)) == 0
