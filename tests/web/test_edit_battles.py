"""Battles of a reply against its edit (ARENA_EDIT_SHARE): drawn only when the share is above 0, sides at random,
voted like any battle, kept with the reason `edit` and never counted on a board (the ratings are the same with
and without them), left out of my ranking and the export; the edits study measures each dimension's effect from
their votes (in `arena analysis eq`, `arena analysis edits` and on /analysis). SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from dataclasses import replace

import pytest
from sqlalchemy import select, update

from arena.config import ConfigError, Settings
from arena.db import transaction
from arena.jobs.analysis import analyse
from arena.jobs.edit_effects import measure
from arena.jobs.export import battle_rows
from arena.jobs.recompute import RecomputeRequest, recompute
from arena.models import Battle, Model, Reply, Vote
from arena.voting.edits import draw_edit
from arena.voting.moderation import EDIT, TOO_FAST, exclusions, reinclude
from arena.voting.my_ranking import _own_games
from arena.voting.voting import cast_vote, create_battle
from tests.arena_cli import run_arena
from tests.conftest import parse_battle_page
from tests.web.test_repeats import TTL, battles, ratings_of, seed_votes, vote_next

pytestmark = pytest.mark.usefixtures("demo_loaded")
DIMENSION = "add_question_back"


def add_edits(session_factory, n: int = 6) -> dict[int, int]:
    """Edits of the first n stored replies (as `arena generate edits` stores them); returns edit id -> original id."""
    with transaction(session_factory) as session:
        originals = list(session.scalars(select(Reply).order_by(Reply.id).limit(n)))
        made = [Reply(prompt_id=r.prompt_id, model_id=r.model_id, sample=-1, text=r.text + " How are you now?",
                      edit_of=r.id, edit_dimension=DIMENSION, meta={"editor": "test"}) for r in originals]  # fmt: skip
        session.add_all(made)
        session.flush()
        return {e.id: e.edit_of for e in made}


def edit_votes(session_factory, n: int, edit_wins: float, seed: int, tie_share: float = 0.1) -> dict[str, int]:
    """n edit battles, each by a new voter, voted so the edit wins a decisive vote with chance `edit_wins`;
    returns what was cast, counted by hand."""
    rng = random.Random(seed)
    cast = {"edit": 0, "original": 0, "tie": 0}
    with transaction(session_factory) as session:
        edit_ids = set(session.scalars(select(Reply.id).where(Reply.edit_of.is_not(None))))
        for i in range(n):
            key = f"edit-voter-{seed}-{i}"
            draw = draw_edit(session, frozenset(), rng)
            public_id = create_battle(session, draw, judge_key=key, ttl=TTL)
            if rng.random() < tie_share:
                outcome, cast["tie"] = "tie", cast["tie"] + 1
            else:
                edit_won = rng.random() < edit_wins
                cast["edit" if edit_won else "original"] += 1
                outcome = "model_a" if (draw.reply_a_id in edit_ids) == edit_won else "model_b"
            cast_vote(session, public_id, outcome, voter_key=key)
    return cast


def always_edit(app, monkeypatch, share: float = 0.2, seed: int = 3):
    app.extensions["arena.settings"] = replace(app.extensions["arena.settings"], edit_share=share)
    monkeypatch.setattr("arena.web.battle._chance", random.Random(seed))


def test_without_the_share_no_edit_is_ever_shown(app, session_factory):
    edits = add_edits(session_factory)
    for _ in range(12):
        vote_next(app.test_client())
    shown = battles(session_factory)
    assert {b.source for b in shown} == {"arena"}
    assert not {i for b in shown for i in (b.reply_a_id, b.reply_b_id)} & set(edits)


def test_with_the_share_a_reply_meets_its_edit_and_the_vote_never_counts(app, session_factory, monkeypatch):
    edits = add_edits(session_factory)
    always_edit(app, monkeypatch)
    for _ in range(25):
        vote_next(app.test_client(), "model_a")
    drawn = [b for b in battles(session_factory) if b.source == "edit"]

    assert 0 < len(drawn) < 25
    sides = set()
    with session_factory() as session:
        for battle in drawn:
            pair = {battle.reply_a_id, battle.reply_b_id}
            edit = next(i for i in pair if i in edits)
            assert pair == {edit, edits[edit]} and battle.model_a_id == battle.model_b_id
            assert battle.meta["edit_dimension"] == DIMENSION and 0 < battle.sampling_prob <= 1
            sides.add(battle.reply_a_id == edit)
            vote = session.scalar(select(Vote).where(Vote.battle_id == battle.id))
            assert (vote.counts_for_leaderboard, vote.exclusion_reason) == (False, EDIT)
        others = session.scalars(select(Vote).join(Battle).where(Battle.source == "arena")).all()
        assert all(v.counts_for_leaderboard for v in others)
    assert sides == {True, False} or len(drawn) == 1


def test_the_reveal_says_which_reply_was_edited_and_how(app, session_factory, monkeypatch):
    edits = add_edits(session_factory)
    always_edit(app, monkeypatch, share=1.0)
    client = app.test_client()
    page, reveal = vote_next(client, "model_b")
    battle = battles(session_factory)[-1]
    assert battle.source == "edit"
    edited = "a" if battle.reply_a_id in edits else "b"
    with session_factory() as session:
        model = session.get(Model, battle.model_a_id).display_name
    names = reveal.split('class="reveal-names"')[1].split("</p>")[0]
    spans = [" ".join(span.split("</span>")[0].split()) for span in names.split("<span>")[1:]]
    assert len(spans) == 2 and all(f"<strong>{model}</strong>" in span for span in spans)
    for side, span in zip("ab", spans, strict=True):
        assert ("a caring question back added" in span) == (side == edited)
        assert ("as written" in span) == (side != edited)
    assert "(your pick)" in spans[1] and "(your pick)" not in spans[0]
    assert "does not count on the leaderboard" in reveal
    # Reloading the voted battle shows the same reveal.
    again = client.get(parse_battle_page(page)[0].removesuffix("/vote")).get_data(as_text=True)
    assert "a caring question back added" in again and "as written" in again


def test_the_board_and_everything_counted_ignore_edit_battles(app, session_factory):
    keys = seed_votes(session_factory, visitors=6, per_visitor=8, seed=5)
    add_edits(session_factory)
    request = RecomputeRequest(rounds=40, seed=3)
    before = recompute(session_factory, session_factory, request)
    with session_factory() as session:
        games = _own_games(session, keys[0])
        exported = len(list(battle_rows(session, public=False, skipped=[])))
    # Edit battles voted one-sidedly by the same voters, some too fast.
    with transaction(session_factory) as session:
        rng = random.Random(1)
        for key in keys:
            for _ in range(4):
                public_id = create_battle(session, draw_edit(session, frozenset(), rng), judge_key=key, ttl=TTL)
                cast_vote(session, public_id, "model_a", voter_key=key)
        session.execute(update(Vote).where(Vote.id == session.scalar(
            select(Vote.id).join(Battle).where(Battle.source == "edit").limit(1))).values(
                counts_for_leaderboard=False, exclusion_reason=TOO_FAST))  # fmt: skip

    after = recompute(session_factory, session_factory, request)

    assert after.n_votes == before.n_votes
    assert ratings_of(session_factory, after.run_id) == pytest.approx(ratings_of(session_factory, before.run_id))
    with session_factory() as session:
        assert _own_games(session, keys[0]).games == games.games
        assert len(list(battle_rows(session, public=False, skipped=[]))) == exported
        assert dict(exclusions(session))[EDIT] == 4 * len(keys) - 1
    with transaction(session_factory) as session:
        assert reinclude(session, EDIT) == 0
        # Re-including the too-fast votes puts the edit battle's back in the study, never on a board.
        assert reinclude(session, TOO_FAST) == 1
    with session_factory() as session:
        assert dict(exclusions(session))[EDIT] == 4 * len(keys)
    again = recompute(session_factory, session_factory, request)
    assert ratings_of(session_factory, again.run_id) == pytest.approx(ratings_of(session_factory, before.run_id))


def test_the_effect_of_an_edit_from_votes_with_a_known_effect(app, session_factory, database_url):
    seed_votes(session_factory, visitors=4, per_visitor=6, seed=2)
    add_edits(session_factory)
    recompute(session_factory, session_factory, RecomputeRequest(rounds=20, seed=1))
    cast = edit_votes(session_factory, 300, edit_wins=0.3, seed=4)

    with session_factory() as session:
        study = measure(session)
    (row,) = study["dimensions"]
    decisive = cast["edit"] + cast["original"]
    assert (row["dimension"], row["edits"], row["votes"]) == (DIMENSION, 6, 300)
    assert (row["edit_wins"], row["original_wins"], row["ties"], row["decisive"]) == (
        cast["edit"], cast["original"], cast["tie"], decisive)  # fmt: skip
    assert row["win_chance"] == pytest.approx(cast["edit"] / decisive, abs=1e-4)
    # The planted effect (-20 points) lies inside the interval, which excludes no effect.
    assert row["effect_ci_low"] < -20 < row["effect_ci_high"] < 0
    assert row["effect_points"] == pytest.approx(100 * (row["win_chance"] - 0.5), abs=0.02)

    result = analyse(session_factory, session_factory, rounds=50)
    assert result["edits"] == study
    page = app.test_client().get("/analysis").get_data(as_text=True)
    assert "Ending a reply with a caring question back" in page and f"of {decisive} people" in page
    if database_url.startswith("sqlite"):  # the command on one backend: it only prints what `measure` returns
        cli = run_arena("analysis", "edits", "--json", "--database-url", database_url)
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == study


def test_the_edit_share_setting(monkeypatch):
    monkeypatch.delenv("ARENA_EDIT_SHARE", raising=False)
    monkeypatch.setenv("ARENA_SECRET_KEY", "x")
    assert Settings.from_env().edit_share == 0.0 and Settings().edit_share == 0.0
    monkeypatch.setenv("ARENA_EDIT_SHARE", "0.1")
    assert Settings.from_env().edit_share == 0.1
    for bad in (-0.1, 0.5):
        with pytest.raises(ConfigError, match="ARENA_EDIT_SHARE must be 0"):
            Settings(secret_key="x", edit_share=bad).validated()
