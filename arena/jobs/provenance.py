"""Provenance of each model row, measured from the battles: when it was first and last seen (its first and last
battle, of any source or status) and its sampling share (the share of the battles shown here in the last
`WINDOW_DAYS` days that featured it). The recompute stores these in its snapshot (`summary["provenance"]`), so the
pages read them and never scan battles; `arena models list` and the export compute them afresh. Imports nothing
heavier than SQLAlchemy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from arena.models import Battle, utcnow

# The sampling share's window: long enough to hold a few thousand battles on a quiet arena, short enough to show
# that a retired configuration is no longer drawn.
WINDOW_DAYS = 7
# Battles the pairing drew (imported battles were never sampled here).
SAMPLED_SOURCES = ("arena", "live")


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def measure(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """{"window_days", "since", "recent_battles", "models": {model id (str): {"first_seen", "last_seen",
    "recent_battles", "sampling_share"}}}; sampling_share is None when no battle was shown in the window. Each
    query reads the battle (model, created_at) indexes only."""
    now = now or utcnow()
    since = now - timedelta(days=WINDOW_DAYS)
    rows: dict[int, dict[str, Any]] = {}
    for column in (Battle.model_a_id, Battle.model_b_id):
        for model_id, first, last in session.execute(
            select(column, func.min(Battle.created_at), func.max(Battle.created_at)).group_by(column)
        ):
            row = rows.setdefault(model_id, {"first_seen": first, "last_seen": last, "recent_battles": 0})
            row["first_seen"] = min(row["first_seen"], first)
            row["last_seen"] = max(row["last_seen"], last)
    recent = (Battle.created_at >= since) & Battle.source.in_(SAMPLED_SOURCES)
    total = session.scalar(select(func.count()).select_from(Battle).where(recent)) or 0
    for column in (Battle.model_a_id, Battle.model_b_id):
        for model_id, n in session.execute(select(column, func.count()).where(recent).group_by(column)):
            if model_id in rows:
                rows[model_id]["recent_battles"] += n
    return {
        "window_days": WINDOW_DAYS,
        "since": since.isoformat(),
        "recent_battles": total,
        "models": {
            str(model_id): {
                "first_seen": _iso(row["first_seen"]),
                "last_seen": _iso(row["last_seen"]),
                "recent_battles": row["recent_battles"],
                "sampling_share": round(row["recent_battles"] / total, 6) if total else None,
            }
            for model_id, row in rows.items()
        },
    }


def for_model(provenance: dict[str, Any] | None, model_id: int) -> dict[str, Any]:
    """One model's entry of a measure() result (all None when it has no battles or the snapshot predates it)."""
    entry = ((provenance or {}).get("models") or {}).get(str(model_id)) or {}
    share = entry.get("sampling_share")
    if share is None and (provenance or {}).get("recent_battles"):
        share = 0.0
    return {
        "first_seen": entry.get("first_seen"),
        "last_seen": entry.get("last_seen"),
        "sampling_share": share,
    }
