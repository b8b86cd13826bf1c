"""Draw the next battle: uniform over pairs of active models that replied to a common active prompt,
then uniform over the prompts that pair shares. Each battle records the probability of its draw."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from arena.models import Model, Prompt, Reply


@dataclass(frozen=True)
class Draw:
    prompt_id: int
    reply_a_id: int
    reply_b_id: int
    model_a_id: int
    model_b_id: int
    # P(this unordered model pair and this prompt) = 1/(pairs) * 1/(prompts the pair shares).
    # Sides are then a fair coin, so the ordered battle's probability is half of this.
    probability: float


@dataclass(frozen=True)
class EligiblePair:
    low_model_id: int
    high_model_id: int
    shared_prompts: int


class NoBattleAvailable(LookupError):
    """Fewer than two active models have replied to a common active prompt."""


def eligible_pairs(session: Session) -> list[EligiblePair]:
    r1, r2 = aliased(Reply), aliased(Reply)
    m1, m2 = aliased(Model), aliased(Model)
    stmt = (
        select(r1.model_id, r2.model_id, func.count())
        .join(r2, (r2.prompt_id == r1.prompt_id) & (r2.model_id > r1.model_id))
        .join(m1, (m1.id == r1.model_id) & m1.active.is_(True))
        .join(m2, (m2.id == r2.model_id) & m2.active.is_(True))
        .join(Prompt, (Prompt.id == r1.prompt_id) & Prompt.active.is_(True))
        .group_by(r1.model_id, r2.model_id)
        .order_by(r1.model_id, r2.model_id)
    )
    return [EligiblePair(a, b, n) for a, b, n in session.execute(stmt)]


def _nth_shared_prompt(session: Session, pair: EligiblePair, index: int) -> tuple[int, int, int] | None:
    r1, r2 = aliased(Reply), aliased(Reply)
    # Activity is checked again here: the cached pair list may predate a deactivation.
    active_models = select(func.count()).where(Model.id.in_([pair.low_model_id, pair.high_model_id]), Model.active)
    stmt = (
        select(r1.prompt_id, r1.id, r2.id)
        .join(r2, (r2.prompt_id == r1.prompt_id) & (r2.model_id == pair.high_model_id))
        .join(Prompt, (Prompt.id == r1.prompt_id) & Prompt.active.is_(True))
        .where(r1.model_id == pair.low_model_id, active_models.scalar_subquery() == 2)
        .order_by(r1.prompt_id)
        .offset(index)
        .limit(1)
    )
    row = session.execute(stmt).first()
    return tuple(row) if row else None


class PairingPool:
    """Caches the eligible pairs for a short while: the GROUP BY over all replies is the costly part,
    and it changes only when replies, models or prompts do."""

    def __init__(self, ttl_seconds: float = 30.0) -> None:
        self._ttl = ttl_seconds
        self._lock = threading.Lock()
        self._pairs: list[EligiblePair] | None = None
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        with self._lock:
            self._pairs = None

    def _current(self, session: Session) -> list[EligiblePair]:
        with self._lock:
            if self._pairs is not None and time.monotonic() - self._loaded_at < self._ttl:
                return self._pairs
        pairs = eligible_pairs(session)
        with self._lock:
            self._pairs, self._loaded_at = pairs, time.monotonic()
        return pairs

    def draw(self, session: Session, rng: random.Random | None = None) -> Draw:
        rng = rng or random.SystemRandom()
        for attempt in range(2):
            pairs = self._current(session)
            if not pairs:
                raise NoBattleAvailable("no two active models have replied to the same active prompt")
            pair = rng.choice(pairs)
            index = rng.randrange(pair.shared_prompts)
            row = _nth_shared_prompt(session, pair, index)
            if row is not None:
                prompt_id, reply_low, reply_high = row
                probability = 1.0 / (len(pairs) * pair.shared_prompts)
                if rng.random() < 0.5:
                    return Draw(prompt_id, reply_low, reply_high, pair.low_model_id, pair.high_model_id, probability)
                return Draw(prompt_id, reply_high, reply_low, pair.high_model_id, pair.low_model_id, probability)
            # The cache was stale (a reply or model went away): reload once and draw again.
            if attempt == 0:
                self.invalidate()
        raise NoBattleAvailable("the pool of replies changed while drawing; try again")
