"""The maintained vote counts (arena/vote_counts.py) against a fresh GROUP BY, after seeded random sequences of
votes, imports (--exclusive too on PostgreSQL), filter runs, re-inclusions and privacy deletions."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from arena import vote_counts
from arena.ingest.catalog import content_hash
from arena.ingest.vote_import import import_votes
from arena.jobs import vote_filters
from arena.models import Battle, Model, Prompt, PromptEmotion, Vote, VoteCount, utcnow
from arena.taxonomy import EMONET_CATEGORIES, EMONET_GROUPS
from arena.voting.moderation import DAILY_CAP, INFLUENCE, ONE_SIDED, OUTLIER_VOTER, TOO_FAST, reinclude
from arena.voting.privacy import delete_visitor_data

MODELS = ["alpha", "bravo", "charlie", "delta", "echo"]
GROUP = "Negative, high energy"
# Two categories of one group (a vote counts once on the group), categories of two groups, one category, none.
TAG_SETS = [
    list(EMONET_GROUPS[GROUP][:2]),
    [EMONET_GROUPS[GROUP][0], EMONET_GROUPS["Positive, low energy"][0]],
    [EMONET_GROUPS["Cognitive states"][1]],
    [],
]
VISITORS = [f"{k:032x}" for k in range(1, 7)]
OUTCOMES = ["model_a", "model_b", "tie", "both_bad"]


def fresh(session) -> dict[tuple, int]:
    """Every board's counted votes per cell, grouped from the votes."""
    counted = Vote.counts_for_leaderboard.is_(True)
    cell = (Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    found = {("overall", *r[:3]): r[3] for r in session.execute(select(*cell, func.count()).where(counted)
                                                                .group_by(*cell))}  # fmt: skip
    on_prompt = (
        select()
        .select_from(Vote)
        .join(Battle, Battle.id == Vote.battle_id)
        .join(PromptEmotion, PromptEmotion.prompt_id == Battle.prompt_id)
        .where(counted)
    )
    for category in EMONET_CATEGORIES:
        stmt = on_prompt.add_columns(*cell, func.count()).where(PromptEmotion.category == category).group_by(*cell)
        found.update({(category, *r[:3]): r[3] for r in session.execute(stmt)})
    for group, categories in EMONET_GROUPS.items():
        stmt = (
            on_prompt.add_columns(*cell, func.count(Vote.id.distinct()))
            .where(PromptEmotion.category.in_(categories))
            .group_by(*cell)
        )
        found.update({(group, *r[:3]): r[3] for r in session.execute(stmt)})
    return found


def maintained(session) -> dict[tuple, int]:
    rows = session.execute(select(VoteCount.board, VoteCount.model_a_id, VoteCount.model_b_id, VoteCount.outcome,
                                  VoteCount.n)).all()  # fmt: skip
    assert all(n >= 0 for *_, n in rows)
    return {tuple(key): n for *key, n in rows if n > 0}


class Arena:
    def __init__(self, session_factory, rng: random.Random, postgres: bool) -> None:
        self.factory, self.rng, self.postgres = session_factory, rng, postgres
        self.battles = 0
        with session_factory() as s, s.begin():
            models = [Model(slug=m, display_name=m) for m in MODELS]
            # Some messages are visitors' own (a privacy deletion takes them, detaching others' votes on them).
            prompts = [
                Prompt(text=f"message {k}", source="user", content_hash=content_hash(f"message {k}"),
                       visitor_key=VISITORS[k % len(VISITORS)] if k % 2 else None,
                       emotions=[PromptEmotion(category=c, intensity=2) for c in TAG_SETS[k % len(TAG_SETS)]])
                for k in range(8)
            ]  # fmt: skip
            s.add_all(models + prompts)
            s.flush()
            self.models = [m.id for m in models]
            self.prompts = [p.id for p in prompts]
        self.visitors = list(VISITORS)
        self.filtered = 0  # votes the filters excluded, over the whole sequence

    def vote(self) -> None:
        rng = self.rng
        with self.factory() as s, s.begin():
            for _ in range(rng.randint(5, 40)):
                a, b = rng.sample(self.models, 2)
                voter = rng.choice(self.visitors)
                # Many votes in one day: the daily cap (3 below) has something to take.
                when = utcnow() - timedelta(days=rng.randint(0, 2), seconds=rng.randint(0, 999))
                battle = Battle(public_id=f"b{self.battles}", source="arena", model_a_id=a, model_b_id=b,
                                prompt_id=rng.choice([*self.prompts, None]), judge_key=voter, status="voted",
                                created_at=when)  # fmt: skip
                self.battles += 1
                s.add(battle)
                s.flush()
                # Mostly the same side: the one-sided rule has voters to flag.
                outcome = "model_a" if rng.random() < 0.6 else rng.choice(OUTCOMES)
                reason = rng.choice([None, None, None, None, TOO_FAST])
                s.add(Vote(battle_id=battle.id, model_a_id=a, model_b_id=b, outcome=outcome, created_at=when,
                           counts_for_leaderboard=reason is None, exclusion_reason=reason, voter_key=voter,
                           network_hash=f"net{VISITORS.index(voter) % 2}"))  # fmt: skip

    def import_file(self) -> None:
        rng = self.rng
        records = []
        for k in range(rng.randint(5, 40)):
            a, b = rng.sample(MODELS, 2)
            tags = rng.choice(TAG_SETS)
            record = {"question_id": f"imp{self.battles}", "model_a": a, "model_b": b,
                      "winner": rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"]),
                      "tstamp": 1_700_000_000 + self.battles,
                      "conversation_a": [{"role": "user", "content": f"imported {rng.randint(0, 5)}"}]}  # fmt: skip
            if tags:
                record["category_tag"] = {"emotion_v0.1": tags}
            if rng.random() < 0.2:
                record["counts_for_leaderboard"] = False
                record["exclusion_reason"] = "imported"
            self.battles += 1
            records.append((k + 1, record, 0))
        with self.factory() as s, s.begin():
            import_votes(s, records, exclusive=self.postgres and rng.random() < 0.5)

    def filters(self) -> None:
        settings = vote_filters.FilterSettings(daily_cap=3, min_votes=4)
        with self.factory() as s:
            decided = vote_filters.plan(s, settings if self.rng.random() < 0.8 else None)
        with self.factory() as s, s.begin():
            self.filtered += sum(vote_filters.apply(s, decided).excluded.values())

    def reinclude(self) -> None:
        with self.factory() as s, s.begin():
            reinclude(s, self.rng.choice([DAILY_CAP, ONE_SIDED, OUTLIER_VOTER, INFLUENCE, TOO_FAST, "imported"]))

    def forget(self) -> None:
        if len(self.visitors) < 3:
            return
        visitor = self.visitors.pop(self.rng.randrange(len(self.visitors)))
        with self.factory() as s, s.begin():
            delete_visitor_data(s, visitor)
            self.prompts = list(s.scalars(select(Prompt.id).where(Prompt.source == "user")))


@pytest.mark.parametrize("seed", [1, 2])
def test_counts_equal_a_fresh_group_by_after_any_sequence(database_url, session_factory, seed):
    rng = random.Random(seed)
    arena = Arena(session_factory, rng, database_url.startswith("postgresql"))
    steps = [arena.vote, arena.vote, arena.import_file, arena.filters, arena.filters, arena.reinclude, arena.forget]
    compared, boards = 0, set()
    for step in range(16):
        rng.choice(steps)()
        # Folded at some steps only: the next changes then meet both folded votes and votes above the mark.
        if rng.random() < 0.6 or step == 15:
            with session_factory() as s, s.begin():
                vote_counts.fold(s)
            with session_factory() as s:
                counts = maintained(s)
                assert counts == fresh(s), f"seed {seed}, step {step}"
            compared += 1
            boards |= {board for board, *_ in counts}
    # The sequence exercised what it is meant to: the filters' exclusions, emotion boards of both families.
    assert compared >= 5 and arena.filtered > 0 and GROUP in boards and EMONET_GROUPS[GROUP][0] in boards


def _import_records(rng: random.Random, first: int, n: int) -> list[dict]:
    records = []
    for k in range(first, first + n):
        a, b = rng.sample(MODELS, 2)
        record = {"question_id": f"imp{k}", "model_a": a, "model_b": b, "tstamp": 1_700_000_000 + k,
                  "winner": rng.choice(["model_a", "model_b", "tie", "tie (bothbad)"]),
                  "conversation_a": [{"role": "user", "content": f"imported {rng.randint(0, 9)}"}]}  # fmt: skip
        if tags := rng.choice(TAG_SETS):
            record["category_tag"] = {"emotion_v0.1": tags}
        if rng.random() < 0.2:
            record["counts_for_leaderboard"], record["exclusion_reason"] = False, "imported"
        records.append(record)
    return records


def test_a_first_import_builds_the_counts_from_empty_and_a_second_adds_to_them(database_url, session_factory, tmp_path):
    """The first import into an empty `vote_count` inserts its cells without the upsert (vote_counts._upsert's
    `empty`); the next one, overlapping the first's cells, adds to them. Parsed by worker processes, as a big
    file is (parsed_battles)."""
    from arena.ingest.parsed_battles import JsonLinesFile
    from tests.votes_files import write_jsonl

    rng = random.Random(3)
    for first, n in ((0, 400), (400, 300)):
        path = write_jsonl(tmp_path / f"votes{first}.jsonl", _import_records(rng, first, n))
        with session_factory() as s, s.begin():
            if first == 0:
                assert s.scalar(select(func.count()).select_from(VoteCount)) == 0
            summary = import_votes(s, JsonLinesFile(path, workers=2), exclusive=database_url.startswith("postgresql"))
            assert summary.imported == n
        with session_factory() as s:
            counts = maintained(s)
            assert counts == fresh(s) and len(counts) > 50
