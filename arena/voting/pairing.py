"""Draw the next battle: a pair of active models that replied to a common active prompt (uniformly, or with
ARENA_SAMPLING=active by the pair weights the latest rating run stored), then uniformly one of the prompts that
pair shares, then uniformly one of each model's stored samples for it (`arena generate --samples`). Each battle
records the probability of its (pair, prompt) draw; the sample choice is independent of it. The weights are
read, never computed, here: one query per pool refresh, no rating math on the web path.

Transcripts (EQ-Bench 4 imported with --turns all) are drawn beside single replies, never against them: a reply
that opens an imported transcript is paired only with another model's transcript of the same scenario, and the
battle shows both whole conversations; a plain reply only with a plain reply. To the draw, a prompt a pair shares
in both kinds counts as two of the pair's shared prompts (one per kind), each drawn uniformly like any other. An
arena without transcripts therefore draws exactly as before.

A visitor is shown messages new to them until they have seen them all: the draw above is conditioned on the
message (the prompt, in either kind) being one this visitor has not been shown. Conditioning keeps the draw's
shape (the same pairs and prompts in the same proportions, renormalised over the unseen messages), so each battle
records P(pair, prompt | unseen) = P(pair, prompt) / P(an unseen message): the probability it was drawn with.
Once a visitor has seen every message, the unconditioned draw again."""

from __future__ import annotations

import bisect
import collections
import hashlib
import itertools
import math
import operator
import random
import threading
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, aliased

from arena.models import Battle, Conversation, Model, PairWeight, Prompt, Reply, Turn
from arena.voting.arms import NO_ARMS, Arms, Assignment, assign_draw
from arena.voting.conversations import BattleConversation, Message
from arena.voting.identity_leak import IdentityLeak, cached_battle_leak, fold, model_names, name_leak, pattern_leak


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
    # What the visitor is shown, read with the draw so the page needs no further queries.
    prompt_text: str
    reply_a_text: str
    reply_b_text: str
    # Where a reply gives its model away ({"side", "phrase"}), found when drawn: the battle is stored flagged.
    identity_leak: dict | None = None
    # A transcript battle: both replies' whole imported conversations, and the scenario they share.
    conversation: BattleConversation | None = None
    scenario: str | None = None
    # A repeat (arena/voting/repeats.py): the id of the battle whose pair of replies it shows again.
    repeat_of: int | None = None
    # Randomised presentation arms (arena/voting/arms.py): each side's arm and the probability it was drawn with;
    # the texts above are then the shown ones. None when no arms are declared.
    arms: Assignment | None = None
    # A reply against its own edit (arena/voting/edits.py): the edited dimension, stored as the battle's
    # source 'edit' with the dimension in its metadata.
    edit_dimension: str | None = None


@dataclass(frozen=True)
class EligiblePair:
    low_model_id: int
    high_model_id: int
    shared_prompts: int


# (low model id, high model id) -> [(prompt id, low model's reply ids, high model's reply ids, scenario), ...]: a
# reply id per stored sample of each model; scenario is None for plain replies and the transcripts' scenario id
# for replies that open an imported transcript (a pair can share a prompt once in each kind).
SharedPrompts = dict[tuple[int, int], list[tuple[int, tuple[int, ...], tuple[int, ...], str | None]]]


class NoBattleAvailable(LookupError):
    """Fewer than two active models have replied to a common active prompt."""


def eligible_pairs(session: Session) -> list[EligiblePair]:
    r1, r2 = aliased(Reply), aliased(Reply)
    m1, m2 = aliased(Model), aliased(Model)
    stmt = (
        select(r1.model_id, r2.model_id, func.count(r1.prompt_id.distinct()))
        .join(r2, (r2.prompt_id == r1.prompt_id) & (r2.model_id > r1.model_id) & r2.edit_of.is_(None))
        .join(m1, (m1.id == r1.model_id) & m1.active.is_(True))
        .join(m2, (m2.id == r2.model_id) & m2.active.is_(True))
        .join(Prompt, (Prompt.id == r1.prompt_id) & Prompt.active.is_(True))
        .where(r1.edit_of.is_(None))
        .group_by(r1.model_id, r2.model_id)
        .order_by(r1.model_id, r2.model_id)
    )
    return [EligiblePair(a, b, n) for a, b, n in session.execute(stmt)]


def shared_prompts(session: Session) -> SharedPrompts:
    """Per eligible pair (low model id, high model id): its shared active prompts as (prompt id, low model's
    reply ids, high model's reply ids, scenario), ordered by prompt id, plain replies before transcripts. One
    query for the whole pool: each active reply once, paired up here (a self-join would return samples x samples
    rows per pair and prompt)."""
    stmt = (
        select(Reply.model_id, Reply.prompt_id, Reply.id, Conversation.id, Conversation.scenario)
        .join(Model, (Model.id == Reply.model_id) & Model.active.is_(True))
        .join(Prompt, (Prompt.id == Reply.prompt_id) & Prompt.active.is_(True))
        .outerjoin(Conversation, (Conversation.reply_id == Reply.id) & (Conversation.mode == "transcript"))
        # An edit (arena/llm/editing.py) is a treatment of its model's reply, shown only against its original.
        .where(Reply.edit_of.is_(None))
        .order_by(Reply.model_id, Reply.prompt_id, Reply.sample)
    )
    # The unit of the draw: (prompt id, kind), kind "" for a plain reply and "t:<scenario>" for a transcript.
    by_model: dict[int, dict[tuple[int, str], list[int]]] = {}
    for model_id, prompt_id, reply_id, transcript_id, scenario in session.execute(stmt):
        kind = "" if transcript_id is None else f"t:{scenario or ''}"
        by_model.setdefault(model_id, {}).setdefault((prompt_id, kind), []).append(reply_id)
    pool: SharedPrompts = {}
    for low, high in itertools.combinations(sorted(by_model), 2):
        lows, highs = by_model[low], by_model[high]
        shared = sorted(lows.keys() & highs.keys())
        if shared:
            pool[(low, high)] = [(p, tuple(lows[(p, k)]), tuple(highs[(p, k)]), k[2:] if k else None)
                                 for p, k in shared]  # fmt: skip
    return pool


# The messages a visitor was shown: every battle drawn for them, voted or not (a skipped message was still read).
_SEEN = select(Battle.prompt_id).where(Battle.judge_key == bindparam("judge_key")).distinct()


def seen_prompt_ids(session: Session, visitor_key: str | None) -> frozenset[int]:
    """The prompt ids of the battles shown to this visitor (an indexed lookup on battle.judge_key)."""
    if visitor_key is None:
        return frozenset()
    return frozenset(session.connection().execute(_SEEN, {"judge_key": visitor_key}).scalars())


# Above this probability of drawing an unseen message, draw and redraw (at most a few tries on average); below it,
# draw among the unseen messages directly. Both give the same distribution; the switch only bounds the cost.
_REJECTION_FLOOR = 0.25
_REJECTION_TRIES = 64


def stored_weights(session: Session) -> dict[tuple[int, int], float]:
    """The pair weights of the newest rating run that stored any: {(low model id, high model id): probability}."""
    latest = select(func.max(PairWeight.run_id)).scalar_subquery()
    rows = session.execute(
        select(PairWeight.model_low_id, PairWeight.model_high_id, PairWeight.probability).where(
            PairWeight.run_id == latest
        )
    )
    return {(low, high): p for low, high, p in rows}


def pair_probabilities(pairs: list[EligiblePair], stored: dict[tuple[int, int], float]) -> list[float]:
    """Each eligible pair's probability under active sampling: its stored weight, renormalised over the pairs that
    are eligible now. A pair the run did not weigh (a model that has had no counted vote yet) gets the largest
    stored weight: a newcomer's pairs are the ones whose votes tell most. With no weights at all, uniform."""
    if not stored:
        return [1.0 / len(pairs)] * len(pairs)
    top = max(stored.values())
    raw = [stored.get((p.low_model_id, p.high_model_id), top) for p in pairs]
    total = sum(raw)
    return [w / total for w in raw]


# Built once (with its parameters bound per call): constructing it costs more than running it.
_CURRENT_TEXTS = (
    select(Reply.id, Prompt.text, Reply.text, Model.slug, Model.display_name, Model.provider, Model.litellm_model)
    .join(Prompt, (Prompt.id == Reply.prompt_id) & Prompt.active.is_(True))
    .join(Model, (Model.id == Reply.model_id) & Model.active.is_(True))
    .where(Reply.id.in_([bindparam("reply_low"), bindparam("reply_high")]), Reply.prompt_id == bindparam("prompt_id"))
)


def current_texts(session: Session, prompt_id: int, reply_low: int, reply_high: int) -> dict[int, tuple]:
    """{reply id: (prompt text, reply text, model's own names)} for the two replies, only while their models and
    prompt are still active: the cached pool may predate a deactivation or a removal, so every draw is checked
    here."""
    params = {"prompt_id": prompt_id, "reply_low": reply_low, "reply_high": reply_high}
    # On the connection (Core), not through the ORM: plain rows are all that is wanted, on every page view.
    rows = session.connection().execute(_CURRENT_TEXTS, params)
    return {
        reply_id: (prompt_text, reply_text, model_names(*model)) for reply_id, prompt_text, reply_text, *model in rows
    }


_PROMPT_ID = operator.itemgetter(0)


def _prompt_mass(pairs: list[EligiblePair], prompts: SharedPrompts, probabilities: list[float]) -> dict[int, float]:
    """{prompt id: probability the unconditioned draw lands on it}: each pair's probability (uniform without
    active-sampling weights) shared evenly over its shared-prompt rows, summed per prompt over pairs and kinds."""
    mass: dict[int, float] = collections.defaultdict(float)
    for k, pair in enumerate(pairs):
        rows = prompts[(pair.low_model_id, pair.high_model_id)]
        share = (probabilities[k] if probabilities else 1.0 / len(pairs)) / len(rows)
        for row in rows:
            mass[row[0]] += share
    return dict(mass)


class PairingPool:
    """Caches the eligible pairs and their shared prompts for a short while: the join over all replies is the
    costly part, and it changes only when replies, models or prompts do. Each draw still checks its two replies
    against the database (one indexed lookup that also fetches the texts to show)."""

    def __init__(self, ttl_seconds: float = 30.0, sampling: str = "uniform", arms: Arms = NO_ARMS) -> None:
        if sampling not in ("uniform", "active"):
            raise ValueError("sampling must be uniform or active")
        self._ttl = ttl_seconds
        self._sampling = sampling
        # Drawn last, with the same generator, after the pair, prompt, samples and sides.
        self._arms = arms
        self._lock = threading.Lock()
        self._pairs: list[EligiblePair] | None = None
        self._prompts: SharedPrompts = {}
        # Active sampling: each pair's probability and their running sums, for a bisect draw.
        self._probabilities: list[float] = []
        self._cumulative: list[float] = []
        # Per prompt id, the probability the unconditioned draw lands on it: for drawing among unseen messages.
        self._mass: dict[int, float] = {}
        self._total = 0.0
        self._loaded_at = 0.0

    def invalidate(self) -> None:
        with self._lock:
            self._pairs = None

    def _current(self, session: Session) -> tuple[list[EligiblePair], SharedPrompts]:
        with self._lock:
            if self._pairs is not None and time.monotonic() - self._loaded_at < self._ttl:
                return self._pairs, self._prompts
        prompts = shared_prompts(session)
        pairs = [EligiblePair(low, high, len(rows)) for (low, high), rows in prompts.items()]
        probabilities = []
        if self._sampling == "active" and pairs:
            probabilities = pair_probabilities(pairs, stored_weights(session))
        mass = _prompt_mass(pairs, prompts, probabilities)
        with self._lock:
            self._pairs, self._prompts, self._loaded_at = pairs, prompts, time.monotonic()
            self._probabilities, self._cumulative = probabilities, list(itertools.accumulate(probabilities))
            self._mass, self._total = mass, math.fsum(mass.values())
        return pairs, prompts

    def _pick(self, pairs: list[EligiblePair], rng: random.Random) -> tuple[EligiblePair, float]:
        """A pair and the probability it was drawn with."""
        with self._lock:
            probabilities, cumulative = self._probabilities, self._cumulative
        if self._sampling == "active" and len(probabilities) == len(pairs):
            k = min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(pairs) - 1)
            return pairs[k], probabilities[k]
        return rng.choice(pairs), 1.0 / len(pairs)

    def _pair_probabilities(self, pairs: list[EligiblePair]) -> list[float]:
        with self._lock:
            probabilities = self._probabilities
        if self._sampling == "active" and len(probabilities) == len(pairs):
            return probabilities
        return [1.0 / len(pairs)] * len(pairs)

    def _pick_unseen(
        self, pairs: list[EligiblePair], prompts: SharedPrompts, rng: random.Random, seen: frozenset[int]
    ) -> tuple[EligiblePair, tuple, float]:
        """A pair, one of its shared-prompt rows and the probability of that (pair, row) draw, conditioned on a
        message not in `seen` (unconditioned when every message is in it)."""
        with self._lock:
            mass, total = self._mass, self._total
        seen_mass = math.fsum(mass[p] for p in seen if p in mass)
        unseen = total - seen_mass
        if seen_mass == 0.0 or unseen >= _REJECTION_FLOOR * total:
            for _ in range(_REJECTION_TRIES if seen_mass else 1):
                pair, pair_probability = self._pick(pairs, rng)
                row = prompts[(pair.low_model_id, pair.high_model_id)][rng.randrange(pair.shared_prompts)]
                if row[0] not in seen:
                    return pair, row, pair_probability / pair.shared_prompts / (unseen if seen_mass else 1.0)
        # Few unseen messages left: choose one by its probability, then one of the draws that land on it.
        left = [(p, m) for p, m in mass.items() if p not in seen]
        if not left:
            pair, pair_probability = self._pick(pairs, rng)
            row = prompts[(pair.low_model_id, pair.high_model_id)][rng.randrange(pair.shared_prompts)]
            return pair, row, pair_probability / pair.shared_prompts
        cumulative = list(itertools.accumulate(m for _, m in left))
        unseen = cumulative[-1]
        chosen = left[min(bisect.bisect_right(cumulative, rng.random() * unseen), len(left) - 1)][0]
        # The draws that land on it: each pair sharing it (its rows are sorted by prompt id), once per kind. Found
        # by a bisect per pair here rather than indexed at every pool load: this path is the rare one.
        draws = []
        probabilities = self._pair_probabilities(pairs)
        for pair, pair_probability in zip(pairs, probabilities, strict=True):
            rows = prompts[(pair.low_model_id, pair.high_model_id)]
            r = bisect.bisect_left(rows, chosen, key=_PROMPT_ID)
            while r < len(rows) and rows[r][0] == chosen:
                draws.append((pair, rows[r], pair_probability / len(rows)))
                r += 1
        within = list(itertools.accumulate(p for *_, p in draws))
        pair, row, p = draws[min(bisect.bisect_right(within, rng.random() * within[-1]), len(draws) - 1)]
        return pair, row, p / unseen

    def draw(self, session: Session, rng: random.Random | None = None, seen: frozenset[int] = frozenset()) -> Draw:
        """A battle for a visitor who has been shown the prompts in `seen` (see the module's docstring)."""
        rng = rng or random.SystemRandom()
        for attempt in range(2):
            pairs, prompts = self._current(session)
            if not pairs:
                raise NoBattleAvailable("no two active models have replied to the same active prompt")
            pair, (prompt_id, replies_low, replies_high, scenario), probability = self._pick_unseen(
                pairs, prompts, rng, seen
            )
            # One sample per side, uniformly and independently of the pair and prompt drawn above.
            reply_low, reply_high = rng.choice(replies_low), rng.choice(replies_high)
            texts = current_texts(session, prompt_id, reply_low, reply_high)
            if len(texts) == 2:
                prompt_text = texts[reply_low][0]
                low = (reply_low, pair.low_model_id, texts[reply_low][1])
                high = (reply_high, pair.high_model_id, texts[reply_high][1])
                a, b = (low, high) if rng.random() < 0.5 else (high, low)
                names = tuple(texts[reply_low][2] + texts[reply_high][2])
                conversation = None if scenario is None else _transcripts(session, a[0], b[0])
                if conversation is not None:
                    leak = _conversation_leak(conversation, names)
                elif scenario is None:
                    leak = cached_battle_leak(a[2], b[2], names)
                if scenario is None or conversation is not None:
                    drawn = Draw(prompt_id, a[0], b[0], a[1], b[1], probability, prompt_text, a[2], b[2],
                                 leak.as_meta() if leak else None, conversation, scenario)  # fmt: skip
                    return assign_draw(drawn, self._arms, rng)
            # The cache was stale (a reply, model or prompt went away): reload once and draw again.
            if attempt == 0:
                self.invalidate()
        raise NoBattleAvailable("the pool of replies changed while drawing; try again")


def _conversation_leak(conversation: BattleConversation, names: tuple[str, ...]) -> IdentityLeak | None:
    """Where either side's whole conversation gives a model away: a model that names itself at its fifth answer
    gives itself away as surely as at its first (and so would a persona that named it)."""
    for side, messages in (("a", conversation.a), ("b", conversation.b)):
        phrase = _text_leak("\n\n".join(m.content for m in messages), names)
        if phrase:
            return IdentityLeak(side, phrase)
    return None


class _TranscriptLeaks:
    """`find_leak` for whole transcripts, remembered: a transcript runs to 25,000 characters and its check to about
    2 ms, and the same transcripts are drawn again and again. The name-independent part (folding the text, the
    self-description patterns) is kept per text, the folded text for the texts seen lately, and the verdict per
    text and pair of models' names; texts are keyed by a digest, so no cache holds more than a bounded number of
    them."""

    def __init__(self, texts: int = 256, verdicts: int = 65536) -> None:
        self._lock = threading.Lock()
        self._folded: collections.OrderedDict[bytes, tuple[str, str | None]] = collections.OrderedDict()
        self._verdicts: dict[tuple[bytes, tuple[str, ...]], str | None] = {}
        self._max_texts, self._max_verdicts = texts, verdicts

    def __call__(self, text: str, names: tuple[str, ...]) -> str | None:
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        with self._lock:
            if (digest, names) in self._verdicts:
                return self._verdicts[(digest, names)]
            seen = self._folded.get(digest)
            if seen is not None:
                self._folded.move_to_end(digest)
        if seen is None:
            folded = fold(text)
            seen = (folded, pattern_leak(folded))
        phrase = seen[1] or name_leak(seen[0], names)
        with self._lock:
            self._folded[digest] = seen
            while len(self._folded) > self._max_texts:
                self._folded.popitem(last=False)
            if len(self._verdicts) >= self._max_verdicts:
                self._verdicts.clear()
            self._verdicts[(digest, names)] = phrase
        return phrase


_text_leak = _TranscriptLeaks()


# Both replies' transcripts in one statement, each message in the order `side_messages` gives (by exchange, the
# person's message before the answer): plain rows, not ORM objects, on the page-view path.
_TRANSCRIPT_TURNS = (
    select(Conversation.reply_id, Turn.idx, Turn.role, Turn.content, Turn.author)
    .join(Turn, (Turn.conversation_id == Conversation.id) & (Turn.side == "own"))
    .where(Conversation.reply_id.in_(bindparam("reply_ids", expanding=True)), Conversation.mode == "transcript")
    .order_by(Conversation.reply_id, Turn.idx, Turn.role != "user")
)


def _transcripts(session: Session, reply_a: int, reply_b: int) -> BattleConversation | None:
    """Both replies' own transcripts as a battle's two sides, or None if either has gone (a stale pool)."""
    sides: dict[int, list[Message]] = {}
    for reply_id, idx, role, content, author in session.connection().execute(
        _TRANSCRIPT_TURNS, {"reply_ids": [reply_a, reply_b]}
    ):
        sides.setdefault(reply_id, []).append(Message(role, content, author, idx))
    if len(sides) != 2:
        return None
    return BattleConversation("transcript", tuple(sides[reply_a]), tuple(sides[reply_b]))
