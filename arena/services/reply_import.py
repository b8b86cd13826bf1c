"""Import replies from files (DESIGN §5): {"prompt": text or "prompt_id": id, "model": slug, "reply": text}.
An unknown prompt text creates the prompt (with optional emotions, situation, need, language); an unknown
slug creates the model (named `model_name` when given). A reply already stored for that (prompt, model) is
left as it is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from arena.models import Prompt
from arena.services.catalog import CatalogError, get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.services.records import RecordError

MAX_TEXT = 20_000


@dataclass(frozen=True)
class ReplyImportSummary:
    read: int
    replies: int
    kept: int
    prompts: int
    models: int

    def __str__(self) -> str:
        return (
            f"{self.read} replies read: {self.replies} added, {self.kept} already present; "
            f"{self.prompts} new prompts, {self.models} new models"
        )


def _text(line: int, record: dict, field: str) -> str:
    value = record.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RecordError(line, f"{field} must be a non-empty string")
    if len(value) > MAX_TEXT:
        raise RecordError(line, f"{field} is longer than {MAX_TEXT} characters")
    return value


def _optional(line: int, record: dict, field: str) -> str | None:
    value = record.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise RecordError(line, f"{field} must be a string of at most 200 characters")
    return value


def import_replies(session: Session, records: Iterable[tuple[int, dict, int]], source: str = "imported"):
    read = replies = kept = prompts = models = 0
    for line, record, _ in records:
        read += 1
        try:
            if record.get("prompt_id") not in (None, ""):
                try:
                    prompt = session.get(Prompt, int(record["prompt_id"]))
                except (TypeError, ValueError):
                    prompt = None
                if prompt is None:
                    raise RecordError(line, f"no prompt with id {record['prompt_id']!r}")
            else:
                emotions = record.get("emotions") or ()
                if isinstance(emotions, str):  # a CSV cell: names separated by ';' or ','
                    emotions = [e for e in emotions.replace(";", ",").split(",") if e.strip()]
                prompt, created = get_or_create_prompt(
                    session,
                    _text(line, record, "prompt"),
                    source=source,
                    emotions=emotions,
                    situation=record.get("situation"),
                    need=record.get("need"),
                    language=record.get("language") or "en",
                    external_id=_optional(line, record, "external_id"),
                )
                prompts += created
            slug = _text(line, record, "model")
            if len(slug) > 200:
                raise RecordError(line, "model slug is longer than 200 characters")
            name = _optional(line, record, "model_name")
            model, created = get_or_create_model(session, slug, **({"display_name": name} if name else {}))
            models += created
            _, created = get_or_create_reply(session, prompt, model, _text(line, record, "reply"))
        except CatalogError as exc:
            raise RecordError(line, str(exc)) from exc
        replies += created
        kept += not created
    return ReplyImportSummary(read, replies, kept, prompts, models)
