"""The one-pass board counts (one GROUP BY per prompt, summed per board in numpy) against a GROUP BY per board."""

from __future__ import annotations

import numpy as np
from sqlalchemy import func, select, update

from arena.jobs.boards import CATEGORIES, GROUPS, board_counts, family_counts
from arena.models import Battle, PromptEmotion, Vote
from arena.taxonomy import EMONET_CATEGORIES, EMONET_GROUPS
from ratings.simulate import simulate, true_strengths
from tests.arena_cli import run_arena
from tests.votes_files import battle_records, write_jsonl

NAMES = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
GROUP = "Negative, high energy"
# Prompts with two categories of one group (a vote counts once on the group), with categories of two groups, with
# one category, and without any (counted overall, on no board).
TAG_SETS = [
    list(EMONET_GROUPS[GROUP][:2]),
    [EMONET_GROUPS[GROUP][0], EMONET_GROUPS["Positive, low energy"][0]],
    [EMONET_GROUPS["Cognitive states"][1]],
    None,
]


def tagged(battles):
    for k, record in enumerate(battle_records(battles, NAMES)):
        tags = TAG_SETS[k % len(TAG_SETS)]
        prompt = k % 12  # three prompts per tag set
        record = {**record, "conversation_a": [{"role": "user", "content": f"opener {prompt}"}]}
        yield record if tags is None else {**record, "category_tag": {"emotion_v0.1": tags}}


def per_board(session, categories) -> list[tuple[int, int, str, int]]:
    """The reference: one query for one board, each counted vote once however many of its categories it has."""
    stmt = (
        select(Vote.model_a_id, Vote.model_b_id, Vote.outcome, func.count(func.distinct(Vote.id)))
        .join(Battle, Battle.id == Vote.battle_id)
        .join(PromptEmotion, PromptEmotion.prompt_id == Battle.prompt_id)
        .where(Vote.counts_for_leaderboard.is_(True), PromptEmotion.category.in_(categories))
        .group_by(Vote.model_a_id, Vote.model_b_id, Vote.outcome)
    )
    return sorted(tuple(row) for row in session.execute(stmt))


def test_one_pass_counts_equal_a_query_per_board(database_url, session_factory, tmp_path):
    rng = np.random.default_rng(13)
    battles = simulate(true_strengths(len(NAMES), rng), 1200, rng, n_voters=40)
    path = write_jsonl(tmp_path / "votes.jsonl", tagged(battles))
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    with session_factory() as s, s.begin():
        s.execute(update(Vote).where(Vote.id % 7 == 0).values(counts_for_leaderboard=False, exclusion_reason="test"))
    with session_factory() as s:
        counted = board_counts(s, {GROUPS, CATEGORIES})
        assert list(counted[GROUPS]) == [g for g in EMONET_GROUPS if g in counted[GROUPS]]
        assert set(counted[GROUPS]) == {GROUP, "Positive, low energy", "Cognitive states"}
        assert set(counted[CATEGORIES]) == {c for tags in TAG_SETS if tags for c in tags}
        for group, cells in counted[GROUPS].items():
            assert sorted(cells) == per_board(s, EMONET_GROUPS[group])
        for category, cells in counted[CATEGORIES].items():
            assert category in EMONET_CATEGORIES
            assert sorted(cells) == per_board(s, [category])
        # The group with two categories on one prompt counts its votes once: fewer than the categories' sum.
        both = sum(c for *_, c in counted[CATEGORIES][EMONET_GROUPS[GROUP][0]])
        assert sum(c for *_, c in counted[GROUPS][GROUP]) < both + sum(
            c for *_, c in counted[CATEGORIES][EMONET_GROUPS[GROUP][1]]
        )
        # Excluded votes and untagged prompts are on no board; the family view is the same counts.
        total = s.scalar(select(func.count()).select_from(Vote).where(Vote.counts_for_leaderboard.is_(True)))
        untagged = total - len(
            set(s.scalars(select(Vote.id).join(Battle).join(PromptEmotion, PromptEmotion.prompt_id == Battle.prompt_id)
                          .where(Vote.counts_for_leaderboard.is_(True))))
        )  # fmt: skip
        assert untagged > 0
        assert sum(c for cells in counted[GROUPS].values() for *_, c in cells) < total
        assert {k: list(v) for k, v in family_counts(s, GROUPS).items()} == {
            k: list(v) for k, v in counted[GROUPS].items()
        }


def test_no_tagged_votes_means_no_boards(session_factory):
    with session_factory() as s:
        assert board_counts(s, {GROUPS, CATEGORIES}) == {GROUPS: {}, CATEGORIES: {}}
