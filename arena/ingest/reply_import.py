"""Import replies from files (DESIGN §5): {"prompt": text or "prompt_id": id, "model": slug, "reply": text}.
An unknown prompt text creates the prompt (with optional emotions, situation, need, language); an unknown
slug creates the model (named `model_name` when given). A reply already stored for that (prompt, model) is
left as it is."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from arena.ingest.catalog import CatalogError, get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.ingest.prompt_import import prompt_fields, required_text
from arena.ingest.records import RecordError
from arena.models import Prompt, Reply

# Ids beyond a 32-bit integer cannot exist, and PostgreSQL refuses to compare an integer column with them.
MAX_ID = 2**31 - 1


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


def _prompt_id(record: dict) -> int | None:
    value = record["prompt_id"]
    if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if 0 < number <= MAX_ID else None


def _optional(line: int, record: dict, field: str) -> str | None:
    value = record.get(field)
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise RecordError(line, f"{field} must be a string of at most 200 characters")
    return value


def import_reply(session: Session, line: int, record: dict, source: str = "imported") -> tuple[Reply, bool, bool, bool]:
    """One record: (its reply, whether the reply, the prompt and the model were created)."""
    prompt_created = model_created = False
    try:
        if record.get("prompt_id") not in (None, ""):
            prompt_id = _prompt_id(record)
            prompt = None if prompt_id is None else session.get(Prompt, prompt_id)
            if prompt is None:
                raise RecordError(line, f"no prompt with id {record['prompt_id']!r}")
        else:
            text = required_text(line, record, "prompt")
            prompt, prompt_created = get_or_create_prompt(
                session,
                text,
                source=source,
                **prompt_fields(line, record),
                external_id=_optional(line, record, "external_id"),
            )
        slug = required_text(line, record, "model")
        if len(slug) > 200:
            raise RecordError(line, "model slug is longer than 200 characters")
        name = _optional(line, record, "model_name")
        model, model_created = get_or_create_model(session, slug, **({"display_name": name} if name else {}))
        reply, created = get_or_create_reply(session, prompt, model, required_text(line, record, "reply"))
    except CatalogError as exc:
        raise RecordError(line, str(exc)) from exc
    return reply, created, prompt_created, model_created


def import_replies(session: Session, records: Iterable[tuple[int, dict, int]], source: str = "imported"):
    read = replies = kept = prompts = models = 0
    for line, record, _ in records:
        read += 1
        _, created, prompt_created, model_created = import_reply(session, line, record, source)
        prompts += prompt_created
        models += model_created
        replies += created
        kept += not created
    return ReplyImportSummary(read, replies, kept, prompts, models)
