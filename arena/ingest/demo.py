"""The demo bank: emotional messages and replies by demo personas (not real models), written for this
project, so the site is meaningful with no API keys. Loading is idempotent."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.ingest.eq_scores import import_eq_scores
from arena.ingest.records import read_records
from arena.models import Battle, Model, ModelEqScore, Prompt, Reply

DEMO_BANK_PATH = Path(__file__).resolve().parent.parent / "data" / "demo_bank.json"
DEMO_PROVIDER = "demo"
# Made-up model-level EQ scores for the personas, so the demo's analysis page shows its EQ half; never a
# benchmark's result, and labelled so wherever it appears (arena/data/eq_scores/README.md).
DEMO_EQ_PATH = DEMO_BANK_PATH.parent / "eq_scores" / "demo_illustrative.csv"
DEMO_EQ_BENCHMARK = "illustrative-demo"


@dataclass(frozen=True)
class LoadSummary:
    models: int
    prompts: int
    replies: int

    def __str__(self) -> str:
        return f"{self.models} models, {self.prompts} prompts, {self.replies} replies added"


def read_demo_bank(path: Path = DEMO_BANK_PATH) -> dict:
    with path.open(encoding="utf-8") as handle:
        return json.load(handle)


def load_demo_bank(session: Session, bank: dict | None = None) -> LoadSummary:
    bank = bank or read_demo_bank()
    models_added = prompts_added = replies_added = 0
    models: dict[str, Model] = {}
    for persona in bank["personas"]:
        model, created = get_or_create_model(
            session,
            persona["slug"],
            display_name=persona["display_name"],
            provider=DEMO_PROVIDER,
            meta={"demo_persona": True, "style": persona["style"]},
        )
        models[persona["key"]] = model
        models_added += created
    for message in bank["messages"]:
        prompt, created = get_or_create_prompt(
            session,
            message["text"],
            source="demo",
            emotions=message.get("emotions", ()),
            situation=message.get("situation"),
            need=message.get("need"),
            language=message.get("language", "en"),
            external_id=message["id"],
        )
        prompts_added += created
        for key, text in message["replies"].items():
            _, created = get_or_create_reply(session, prompt, models[key], text, meta={"demo_persona": True})
            replies_added += created
    import_eq_scores(session, read_records(DEMO_EQ_PATH, "csv"))
    return LoadSummary(models_added, prompts_added, replies_added)


def remove_demo_content(session: Session) -> None:
    """Delete demo prompts (their replies, battles and votes go with them) and the demo personas,
    leaving every non-demo row alone."""
    demo_prompts = select(Prompt.id).where(Prompt.source == "demo")
    # Votes go with the battles: the maintained counts start again from every vote (the demo's arena is small).
    vote_counts.reset(session)
    session.execute(delete(Battle).where(Battle.prompt_id.in_(demo_prompts)))
    session.execute(delete(Reply).where(Reply.prompt_id.in_(demo_prompts)))
    session.execute(delete(Prompt).where(Prompt.source == "demo"))
    personas = select(Model.id).where(Model.provider == DEMO_PROVIDER)
    session.execute(delete(Battle).where(Battle.model_a_id.in_(personas) | Battle.model_b_id.in_(personas)))
    session.execute(delete(Reply).where(Reply.model_id.in_(personas)))
    session.execute(delete(Model).where(Model.provider == DEMO_PROVIDER))
    session.execute(delete(ModelEqScore).where(ModelEqScore.benchmark == DEMO_EQ_BENCHMARK))
