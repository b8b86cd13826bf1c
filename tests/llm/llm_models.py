"""Registering models answered by the local test server (tests/llm_server.py), for the generate and judge tests.

Importing this module sets litellm's offline switches and the local server's key variable, so litellm never
reaches the network here or in the `arena` subprocesses the tests start (they inherit the environment)."""

from __future__ import annotations

import os

from arena.db import transaction
from arena.ingest.catalog import get_or_create_prompt
from arena.llm.registry import ModelSpec, upsert_model

OFFLINE = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_OFFLINE_MODE": "true", "HF_HUB_OFFLINE": "1"}
# The local server's key, read from the environment like a real provider's.
KEY_ENV = "ARENA_TEST_LLM_KEY"
for _name, _value in {**OFFLINE, KEY_ENV: "test-key"}.items():
    os.environ.setdefault(_name, _value)


def add_model(factory, slug: str, litellm_model: str, *, active: bool | None = None, **meta) -> None:
    with transaction(factory) as session:
        upsert_model(session, ModelSpec(slug, litellm_model, active=active, meta=meta).validate())


def served(server, slug: str, name: str | None = None, **meta) -> dict:
    """add_model arguments for a model the local server answers as `name` (default: the slug)."""
    meta.setdefault("api_key_env", KEY_ENV)
    return dict(slug=slug, litellm_model=f"openai/{name or slug}", api_base=server.url, **meta)


def add_prompts(factory, texts) -> list[int]:
    with transaction(factory) as session:
        return [get_or_create_prompt(session, text, source="curated")[0].id for text in texts]
