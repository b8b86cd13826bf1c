"""Model-level EQ scores (e.g. EQ-Bench) and the model-name aliases that let them meet arena models."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.ingest.records import RecordError
from arena.models import Model, ModelAlias, ModelEqScore

_DATA = Path(__file__).resolve().parent.parent / "data" / "eq_scores"
# eqbench: EQ-Bench 3 and v2 (four snapshots); eqbench4: EQ-Bench 4, named by its transcript slugs.
BUNDLED = {"eqbench": _DATA / "eqbench.csv", "eqbench4": _DATA / "eqbench4.csv"}
REQUIRED = ("model", "benchmark", "snapshot", "score")


def normalise_name(name: str) -> str:
    """Case-folded, trimmed, runs of spaces/underscores as one hyphen: "GPT 4.1" and "gpt-4.1" meet."""
    return re.sub(r"[\s_]+", "-", name.strip().casefold())


def short_name(name: str) -> str:
    """The name without a provider prefix: "openai/gpt-4.1" -> "gpt-4.1"."""
    return normalise_name(name).rsplit("/", 1)[-1]


@dataclass(frozen=True)
class EqImportSummary:
    added: int
    updated: int
    unchanged: int

    def __str__(self) -> str:
        return f"{self.added} scores added, {self.updated} updated, {self.unchanged} unchanged"


def _number(line: int, field: str, value, required: bool = False) -> float | None:
    if value is None or value == "":
        if required:
            raise RecordError(line, f"missing {field}")
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise RecordError(line, f"{field} must be a number, got {value!r}") from exc
    if not math.isfinite(number):
        raise RecordError(line, f"{field} must be finite, got {value!r}")
    return number


def _source(line: int, value) -> str | None:
    if value is not None and not isinstance(value, str):
        raise RecordError(line, "source must be text (where the scores were published)")
    return value or None


def import_eq_scores(session: Session, records: Iterable[tuple[int, dict, int]]) -> EqImportSummary:
    """Rows of model, benchmark, snapshot, score[, ci_low, ci_high][, trait columns...][, source]; an entry
    already stored (same benchmark, snapshot and model) is updated. Raises RecordError on a bad row."""
    existing = {(e.benchmark, e.snapshot, e.model_name): e for e in session.scalars(select(ModelEqScore))}
    added = updated = unchanged = 0
    for line, record, _ in records:
        missing = [f for f in REQUIRED if record.get(f) in (None, "")]
        if missing:
            raise RecordError(line, f"missing required column(s): {', '.join(missing)}")
        if any(isinstance(record[f], (dict, list, bool)) for f in ("benchmark", "snapshot", "model")):
            raise RecordError(line, "benchmark, snapshot and model must be text")
        key = tuple(str(record[f]).strip() for f in ("benchmark", "snapshot", "model"))
        if any(len(k) > 200 or not k for k in key):
            raise RecordError(line, "benchmark, snapshot and model must be 1 to 200 characters")
        values = {
            "score": _number(line, "score", record["score"], required=True),
            "ci_low": _number(line, "ci_low", record.get("ci_low")),
            "ci_high": _number(line, "ci_high", record.get("ci_high")),
            "source": _source(line, record.get("source")),
            "traits": {
                k: _number(line, k, v) if k.startswith("trait_") or k in ("rubric_0_100", "elo_raw") else v
                for k, v in record.items()
                if k not in (*REQUIRED, "ci_low", "ci_high", "source") and v not in (None, "")
            },
        }
        found = existing.get(key)
        if found is None:
            entry = ModelEqScore(benchmark=key[0], snapshot=key[1], model_name=key[2], **values)
            session.add(entry)
            existing[key] = entry
            added += 1
        elif any(getattr(found, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(found, k, v)
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return EqImportSummary(added, updated, unchanged)


def add_alias(session: Session, slug: str, alias: str) -> ModelAlias:
    model = session.scalar(select(Model).where(Model.slug == slug))
    if model is None:
        raise LookupError(f"no model with slug {slug!r}")
    key = normalise_name(alias)
    found = session.scalar(select(ModelAlias).where(ModelAlias.alias == key))
    if found is not None:
        if found.model_id != model.id:
            raise ValueError(f"alias {alias!r} already names model {found.model.slug!r}")
        return found
    entry = ModelAlias(alias=key, model_id=model.id)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class SnapshotMatch:
    benchmark: str
    snapshot: str
    # (arena model id, score entry) for each arena model that has a score in this snapshot.
    matched: list[tuple[int, ModelEqScore]]
    unmatched: list[str]  # benchmark names with no arena model


def match_snapshots(session: Session, model_ids: Iterable[int]) -> list[SnapshotMatch]:
    """For each (benchmark, snapshot), pair arena models with their scores by name: an alias first, then the
    slug or display name, in full and then without a provider prefix. A model matching two entries of one
    snapshot takes the one whose full name matches; never two."""
    model_ids = set(model_ids)
    models = session.scalars(select(Model).where(Model.id.in_(model_ids))).all()
    aliases = {
        a.alias: a.model_id for a in session.scalars(select(ModelAlias).where(ModelAlias.model_id.in_(model_ids)))
    }
    full: dict[str, int] = {}
    short: dict[str, set[int]] = {}
    for m in models:
        for name in (m.slug, m.display_name):
            full.setdefault(normalise_name(name), m.id)
            short.setdefault(short_name(name), set()).add(m.id)
    groups: dict[tuple[str, str], list[ModelEqScore]] = {}
    for entry in session.scalars(select(ModelEqScore).order_by(ModelEqScore.id)):
        groups.setdefault((entry.benchmark, entry.snapshot), []).append(entry)
    results = []
    for (benchmark, snapshot), entries in groups.items():
        exact: dict[int, ModelEqScore] = {}
        loose: dict[int, list[ModelEqScore]] = {}
        unmatched = []
        for entry in entries:
            name = normalise_name(entry.model_name)
            model_id = aliases.get(name) or full.get(name)
            if model_id is not None:
                exact.setdefault(model_id, entry)
                continue
            candidates = short.get(short_name(entry.model_name), set())
            if len(candidates) == 1:
                loose.setdefault(next(iter(candidates)), []).append(entry)
            else:
                unmatched.append(entry.model_name)
        matched = dict(exact)
        for model_id, options in loose.items():
            if model_id not in matched and len(options) == 1:
                matched[model_id] = options[0]
            else:  # already matched in full, or ambiguous (two entries for one model): never guess
                unmatched.extend(o.model_name for o in options)
        results.append(SnapshotMatch(benchmark, snapshot, sorted(matched.items()), sorted(unmatched)))
    return results
