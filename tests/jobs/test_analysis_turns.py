"""`arena analysis eq` on conversations: the turn-count covariates (the side shown first per further exchange, and
the EQ and length effects times the exchanges beyond the first), the EQ effect at each number of exchanges with its
standard error, and the analysis page's section on them; both backends."""

from __future__ import annotations

import json

import numpy as np
from sqlalchemy import select, update

from arena.db import make_engine, make_session_factory, transaction
from arena.models import Battle, Vote
from tests.arena_cli import run_arena
from tests.html_checks import active_content
from tests.votes_files import write_jsonl

EQ_AT_ONE = 0.25  # log-odds per point of the judge's scale, at a single exchange
EQ_PER_EXCHANGE = 0.15  # and more for every exchange beyond the first


def _battles(n: int, seed: int):
    """Battles whose EQ effect grows with the exchanges the voter saw (1 to 4); length has no effect."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0, 0.5, 8)
    records, turns = [], {}
    for k in range(n):
        a, b = rng.choice(8, 2, replace=False)
        eq_a, eq_b = rng.uniform(2, 9, 2).round(1)
        seen = int(rng.integers(1, 5))
        margin = strength[a] - strength[b] + (EQ_AT_ONE + EQ_PER_EXCHANGE * (seen - 1)) * (eq_a - eq_b)
        winner = "model_a" if rng.random() < 1 / (1 + np.exp(-margin)) else "model_b"
        tokens = rng.integers(20, 400, 2)
        records.append({
            "question_id": f"t{k}", "model_a": f"m{a}", "model_b": f"m{b}", "winner": winner,
            "judge_hash": f"voter-{rng.integers(0, 300)}", "tstamp": 1_700_000_000 + k,
            "eq_a": {"overall": float(eq_a)}, "eq_b": {"overall": float(eq_b)},
            "conv_metadata": {"sum_assistant_a_tokens": int(tokens[0]), "sum_assistant_b_tokens": int(tokens[1])},
        })  # fmt: skip
        turns[f"t{k}"] = seen
    return records, turns


def test_the_eq_effect_by_conversation_length_is_recovered_with_standard_errors(database_url, tmp_path, client):
    records, turns = _battles(4000, seed=11)
    path = write_jsonl(tmp_path / "votes.jsonl", records)
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    engine = make_engine(database_url)
    with transaction(make_session_factory(engine)) as s:
        ids = dict(s.execute(select(Battle.public_id, Battle.id)).all())
        for seen in (2, 3, 4):
            chosen = [ids[q] for q, t in turns.items() if t == seen]
            s.execute(update(Vote).where(Vote.battle_id.in_(chosen)).values(turns=seen))
    engine.dispose()
    assert run_arena("ratings", "recompute", "--bootstrap", "50", "--database-url", database_url).returncode == 0
    result = run_arena("analysis", "eq", "--json", "--database-url", database_url)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    coefficients = {c["feature"]: c for c in out["coefficients"]}
    assert {"eq_overall", "eq_overall_x_turns", "turns_position", "length_ratio_x_turns"} <= set(coefficients)
    for c in coefficients.values():
        assert c["se"] > 0 and abs(c["ci_high"] - c["ci_low"] - 2 * 1.959963984540054 * c["se"]) < 1e-5
    eq, slope = coefficients["eq_overall"], coefficients["eq_overall_x_turns"]
    assert eq["ci_low"] <= EQ_AT_ONE <= eq["ci_high"]
    assert slope["ci_low"] <= EQ_PER_EXCHANGE <= slope["ci_high"] and slope["ci_low"] > 0  # EI matters more
    for name in ("turns_position", "length_ratio_x_turns"):  # neither side nor length gains with exchanges
        assert coefficients[name]["ci_low"] <= 0 <= coefficients[name]["ci_high"]
    summary = out["turns"]
    assert summary["battles_by_turns"] == {str(t): sum(v == t for v in turns.values()) for t in (1, 2, 3, 4)}
    assert summary["multi_turn_battles"] == sum(v > 1 for v in turns.values())
    by_turns = {row["turns"]: row for row in summary["eq_effect_by_turns"]}
    assert set(by_turns) == {1, 2, 3, 4}
    assert by_turns[1]["estimate"] == eq["estimate"] and by_turns[1]["se"] == eq["se"]
    for t, row in by_turns.items():
        assert row["ci_low"] <= EQ_AT_ONE + EQ_PER_EXCHANGE * (t - 1) <= row["ci_high"]
    assert by_turns[4]["estimate"] > by_turns[1]["estimate"]

    html = client.get("/analysis").get_data(as_text=True)
    assert "As a conversation goes on" in html and "Judged EQ x exchanges" in html
    assert "extra effect per further exchange" in html and active_content(html) == []


def test_single_turn_analyses_have_no_turn_covariates(eq_arena):
    out = json.loads(run_arena("analysis", "eq", "--json", "--database-url", eq_arena).stdout)
    features = {c["feature"] for c in out["coefficients"]}
    assert not features & {"turns_position", "eq_overall_x_turns", "length_ratio_x_turns"}
    assert out["turns"] is None and not set(out["dropped_covariates"]) & {"turns_position", "eq_overall_x_turns"}


def test_a_judged_conversation_enters_the_study_with_its_whole_conversation_score(database_url, tmp_path):
    """The EQ of a conversation's side is the judge's score of the whole conversation (arena judge
    --conversations), not its first answer's; sides and battles the judge did not score keep their own."""
    from arena.jobs.analysis import load_battles
    from arena.models import Conversation, ConversationScore, Model, Turn

    records, _ = _battles(60, seed=5)
    path = write_jsonl(tmp_path / "votes.jsonl", records)
    assert run_arena("import", "votes", str(path), "--database-url", database_url).returncode == 0
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        battles = s.scalars(select(Battle).order_by(Battle.id)).all()
        judged, unjudged_side = battles[3], battles[7]
        for battle, sides in ((judged, {"a": 8.5, "b": 1.5}), (unjudged_side, {"b": 9.0})):
            s.execute(update(Vote).where(Vote.battle_id == battle.id).values(turns=2))
            conversation = Conversation(battle_id=battle.id, mode="shared")
            conversation.turns = [
                Turn(idx=i, side="both", role="user", content=f"message {i}", author="visitor") for i in (0, 1)
            ]
            s.add(conversation)
            s.flush()
            for side, score in sides.items():
                s.add(ConversationScore(conversation_id=conversation.id, side=side, judge="j", scope="conversation",
                                        exchange=1, criterion="overall", score=score))  # fmt: skip
                # A per-answer score is not the conversation's: it must not be read as one.
                s.add(ConversationScore(conversation_id=conversation.id, side=side, judge="j", scope="turn",
                                        exchange=0, criterion="overall", score=0.0))  # fmt: skip
        order = [b.id for b in battles]
        given = {b.id: (b.meta["eq_a"]["overall"], b.meta["eq_b"]["overall"]) for b in battles}
    with factory() as s:
        model_index = {m: k for k, m in enumerate(s.scalars(select(Model.id).order_by(Model.id)))}
        table = load_battles(s, model_index, None)
    engine.dispose()
    seen = {battle_id: (float(table.eq_a[k]), float(table.eq_b[k])) for k, battle_id in enumerate(order)}
    assert seen[judged.id] == (8.5, 1.5)
    assert seen[unjudged_side.id] == (given[unjudged_side.id][0], 9.0)
    others = [b for b in order if b not in (judged.id, unjudged_side.id)]
    assert all(seen[b] == given[b] for b in others)


def test_a_transcript_battle_reads_each_replys_own_conversation_score(session_factory):
    from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
    from arena.jobs.analysis import load_battles
    from arena.models import Conversation, ConversationScore, EqScore

    with transaction(session_factory) as s:
        prompt, _ = get_or_create_prompt(s, "I keep checking my email.", source="imported")
        m1, m2 = get_or_create_model(s, "m1")[0], get_or_create_model(s, "m2")[0]
        r1, r2 = (
            get_or_create_reply(s, prompt, m1, "That sounds tense.")[0],
            get_or_create_reply(s, prompt, m2, "Ok.")[0],
        )
        battle = Battle(public_id="t1", prompt_id=prompt.id, reply_a_id=r1.id, reply_b_id=r2.id,
                        model_a_id=m1.id, model_b_id=m2.id, status="voted")  # fmt: skip
        s.add(battle)
        s.flush()
        s.add(Conversation(battle_id=battle.id, mode="transcript", scenario="sc"))
        own = {}
        for reply in (r1, r2):
            own[reply.id] = Conversation(reply_id=reply.id, mode="transcript", scenario="sc")
            s.add(own[reply.id])
            s.add(EqScore(reply_id=reply.id, judge="j", criterion="overall", score=5.0))
        s.flush()
        # Only A's transcript was judged as a whole: B keeps its first answer's score.
        s.add(ConversationScore(conversation_id=own[r1.id].id, side="own", judge="j", scope="conversation",
                                exchange=7, criterion="overall", score=9.0))  # fmt: skip
        s.add(Vote(battle_id=battle.id, model_a_id=m1.id, model_b_id=m2.id, outcome="model_a", turns=8))
        model_index = {m1.id: 0, m2.id: 1}
    with session_factory() as s:
        table = load_battles(s, model_index, None)
    assert (float(table.eq_a[0]), float(table.eq_b[0]), int(table.turns[0])) == (9.0, 5.0, 8)
