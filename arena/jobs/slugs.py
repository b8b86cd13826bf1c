"""Internal model ids are the database's own (they differ once an export is imported elsewhere): what a reviewer
reads names models by slug."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.models import Model

# Filter reasons whose excluded entries are '<network>:<model id>' (arena.jobs.cohort_filters).
COHORT_REASONS = ("network_one_sided", "young_cohort")


def model_slugs(session: Session) -> dict[int, str]:
    return dict(session.execute(select(Model.id, Model.slug)).tuples().all())


def _slug_suffix(text: str, slugs: dict[int, str]) -> str:
    """'<network>:<model id>' (a cohort filter's entry) -> '<network>:<slug>'."""
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit() and int(tail) in slugs:
        return f"{head}:{slugs[int(tail)]}"
    return text


def with_slugs(value: Any, slugs: dict[int, str], key: str | None = None) -> Any:
    """A copy of a JSON-able value with every model id named by its slug: `model_id` keys become `model`,
    `model_ids` become `models`, `components` (lists of ids) lists of slugs, and cohort entries
    ('<network>:<model id>') name the slug."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k == "model_id" and isinstance(v, int):
                out["model"] = slugs.get(v, str(v))
            elif k == "model_ids" and isinstance(v, list):
                out["models"] = [slugs.get(m, str(m)) for m in v]
            else:
                out[k] = with_slugs(v, slugs, k)
        return out
    if isinstance(value, list):
        if key == "components":
            return [[slugs.get(m, str(m)) for m in members] for members in value]
        return [with_slugs(v, slugs, key) for v in value]
    if isinstance(value, str) and key in COHORT_REASONS:
        return _slug_suffix(value, slugs)
    return value
