"""Migration 0009 (reply samples), both backends: existing replies become sample 0 with their battles and votes;
the uniqueness moves to (prompt, model, sample); a downgrade that would have to drop samples is refused."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.migrate import current_revision, downgrade, head_revision, upgrade
from arena.models import Battle, Reply, Vote


def test_samples_survive_a_round_trip_and_a_lossy_downgrade_is_refused(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        prompt, _ = get_or_create_prompt(s, "I moved to a new city and I know nobody.", source="curated")
        m1, m2 = get_or_create_model(s, "m1")[0], get_or_create_model(s, "m2")[0]
        r1, r2 = get_or_create_reply(s, prompt, m1, "That is lonely.")[0], get_or_create_reply(s, prompt, m2, "Hi.")[0]
        battle = Battle(public_id="b1", prompt_id=prompt.id, reply_a_id=r1.id, reply_b_id=r2.id,
                        model_a_id=m1.id, model_b_id=m2.id, status="voted")  # fmt: skip
        s.add(battle)
        s.flush()
        s.add(Vote(battle_id=battle.id, model_a_id=m1.id, model_b_id=m2.id, outcome="tie"))
        ids = (prompt.id, m1.id, r1.id)

    downgrade(engine, "0008")  # only samples 0: nothing is lost
    upgrade(engine)
    with factory() as s:
        assert s.execute(select(Reply.id, Reply.sample).order_by(Reply.id)).all() == [(ids[2], 0), (r2.id, 0)]
        assert s.scalar(select(func.count()).select_from(Vote)) == 1

    with transaction(factory) as s:
        s.add(Reply(prompt_id=ids[0], model_id=ids[1], sample=1, text="Starting over is hard."))
    with pytest.raises(IntegrityError), transaction(factory) as s:
        s.add(Reply(prompt_id=ids[0], model_id=ids[1], sample=1, text="Another text, same sample."))

    with pytest.raises(RuntimeError, match="1 replies are extra samples"):
        downgrade(engine, "0008")
    assert current_revision(engine) == head_revision()
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Reply)) == 3
        assert s.scalar(select(func.count()).select_from(Vote)) == 1
    engine.dispose()
