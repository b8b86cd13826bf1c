"""The edits study: per edited dimension, how the votes between a reply and its edit came out (ratings.edit_effects
turns them into the edit's win chance in points, with an interval).

Read: the votes with the reason `edit` (arena.voting.moderation.EDIT), i.e. edit battles whose vote would
otherwise have counted (a vote too fast, unverified or on a leaking battle keeps that reason and is not read),
grouped by dimension, by which side showed the edit and by outcome. Nothing here touches a board."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from arena.models import Battle, Reply, Vote
from arena.voting.moderation import EDIT
from ratings.edit_effects import edit_effect


def _round(value: float | None, places: int) -> float | None:
    return None if value is None else round(value, places)


def measure(session: Session) -> dict:
    """{"dimensions": [{dimension, edits, votes, edit_wins, original_wins, ties, both_bad, decisive,
    win_chance, ci_low, ci_high, effect_points, effect_ci_low, effect_ci_high}], "votes", "edits", "method"}."""
    reply_a, reply_b = aliased(Reply), aliased(Reply)
    rows = session.execute(
        select(reply_a.edit_dimension, reply_b.edit_dimension, Vote.outcome, func.count())
        .select_from(Vote)
        .join(Battle, Battle.id == Vote.battle_id)
        .join(reply_a, reply_a.id == Battle.reply_a_id)
        .join(reply_b, reply_b.id == Battle.reply_b_id)
        .where(Vote.exclusion_reason == EDIT, Battle.source == "edit")
        .group_by(reply_a.edit_dimension, reply_b.edit_dimension, Vote.outcome)
    ).all()
    tallies: dict[str, dict[str, int]] = defaultdict(lambda: {"edit": 0, "original": 0, "tie": 0, "both_bad": 0})
    for dimension_a, dimension_b, outcome, n in rows:
        edit_on_a = dimension_a is not None
        tally = tallies[dimension_a or dimension_b]
        if outcome in ("tie", "both_bad"):
            tally[outcome] += n
        else:
            tally["edit" if (outcome == "model_a") == bool(edit_on_a) else "original"] += n
    edits = dict(session.execute(
        select(Reply.edit_dimension, func.count()).where(Reply.edit_of.is_not(None)).group_by(Reply.edit_dimension)
    ).all())  # fmt: skip
    dimensions = []
    for dimension in sorted(set(tallies) | set(edits)):
        t = tallies[dimension]
        effect = edit_effect(t["edit"], t["original"], t["tie"], t["both_bad"]).as_dict()
        dimensions.append({
            "dimension": dimension,
            "edits": int(edits.get(dimension, 0)),
            "votes": t["edit"] + t["original"] + t["tie"] + t["both_bad"],
            **{k: _round(v, 4) if isinstance(v, float) else v for k, v in effect.items()},
        })  # fmt: skip
    return {
        "votes": sum(d["votes"] for d in dimensions),
        "edits": sum(d["edits"] for d in dimensions),
        "method": "the edit's share of decisive votes (A or B better) between a reply and its edit, sides at random, "
        "with a 95% Wilson interval; effect in points = 100 x (share - 1/2); ties and both-bad votes are counted "
        "but left out of the share",
        "dimensions": dimensions,
    }
