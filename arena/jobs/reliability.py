"""The human ceiling from repeated battles (arena/voting/repeats.py), measured by each recompute and stored in its
run's summary (`reliability`), which /api/reliability and /analysis read. The math is ratings/reliability.py's."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.models import Battle, Vote
from arena.voting.moderation import REPEAT
from ratings.reliability import FIRST, SECOND, TIE, as_dict, reliability

REPEAT_OF = "repeat_of"
_LABEL = {"model_a": FIRST, "model_b": SECOND, "tie": TIE, "both_bad": TIE}
_SWAP = {FIRST: SECOND, SECOND: FIRST, TIE: TIE}


@dataclass(frozen=True)
class VoteRow:
    battle_id: int
    voter: str | None
    reply_a_id: int
    model_a_id: int
    model_b_id: int
    label: int


def read(session: Session) -> tuple[dict[int, VoteRow], list[tuple[int, VoteRow]]]:
    """(the originals' votes by battle id, [(original id, repeat vote)]): the repeats whose vote passed the
    vote-time checks (reason `repeat`, not too fast or unverified) and whose original still counts. One indexed
    pass over the repeat votes, one over their originals; nothing when the site has no repeats."""
    columns = (Battle.id, Battle.judge_key, Battle.reply_a_id, Battle.model_a_id, Battle.model_b_id, Vote.outcome)
    repeats = session.execute(
        select(*columns, Battle.meta)
        .join(Vote, Vote.battle_id == Battle.id)
        .where(Vote.exclusion_reason == REPEAT)
        .order_by(Battle.id)
    ).all()
    wanted = {int((meta or {}).get(REPEAT_OF)) for *_, meta in repeats if (meta or {}).get(REPEAT_OF) is not None}
    originals: dict[int, VoteRow] = {}
    ids = sorted(wanted)
    for start in range(0, len(ids), 500):
        for battle_id, voter, reply_a, model_a, model_b, outcome in session.execute(
            select(*columns)
            .join(Vote, Vote.battle_id == Battle.id)
            .where(Battle.id.in_(ids[start : start + 500]), Vote.counts_for_leaderboard.is_(True))
        ):
            originals[battle_id] = VoteRow(battle_id, voter, reply_a, model_a, model_b, _LABEL[outcome])
    pairs = []
    for battle_id, voter, reply_a, model_a, model_b, outcome, meta in repeats:
        original = (meta or {}).get(REPEAT_OF)
        if original is not None and int(original) in originals:
            pairs.append((int(original), VoteRow(battle_id, voter, reply_a, model_a, model_b, _LABEL[outcome])))
    return originals, pairs


def measure(
    originals: dict[int, VoteRow],
    pairs: list[tuple[int, VoteRow]],
    model_ids: list[int],
    theta: np.ndarray,
    *,
    rounds: int = 200,
    seed: int = 0,
) -> dict | None:
    """The run summary's `reliability`, or None without repeats. Each repeat's vote is read in its original's
    orientation (the repeat showed the sides swapped); the board's log-odds come from the overall fit."""
    if not pairs:
        return None
    position = {m: i for i, m in enumerate(model_ids)}
    items: dict[int, dict[str | None, int]] = {}  # original -> {visitor: their first label}
    self_voters, first, second = [], [], []
    voter_index: dict[str | None, int] = {}
    for original_id, repeat in pairs:
        original = originals[original_id]
        label = repeat.label if repeat.reply_a_id == original.reply_a_id else _SWAP[repeat.label]
        votes = items.setdefault(original_id, {original.voter: original.label})
        if repeat.voter == original.voter:
            self_voters.append(voter_index.setdefault(repeat.voter, len(voter_index)))
            first.append(original.label)
            second.append(label)
        else:
            votes.setdefault(repeat.voter, label)
    ids = sorted(items)
    counts = np.zeros((len(ids), 3))
    d = np.zeros(len(ids))
    for row, original_id in enumerate(ids):
        for label in items[original_id].values():
            counts[row, label] += 1
        original = originals[original_id]
        a, b = position.get(original.model_a_id), position.get(original.model_b_id)
        d[row] = 0.0 if a is None or b is None else theta[a] - theta[b]
    result = reliability(d, counts, repeat_voters=np.array(self_voters, dtype=np.int64),
                         first=np.array(first, dtype=np.int64), second=np.array(second, dtype=np.int64),
                         rounds=rounds, rng=np.random.default_rng(seed))  # fmt: skip
    return {"repeats": len(pairs), "self_repeats": len(self_voters), **as_dict(result)}
