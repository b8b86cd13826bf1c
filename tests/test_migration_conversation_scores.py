"""Migration 0015 (conversation scores), both backends: a downgrade that would lose a conversation judge's scores
is refused and changes nothing; one that would not drops the two tables, and the upgrade brings them back."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, inspect, select

from arena.db import make_engine, make_session_factory, transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.migrate import current_revision, downgrade, head_revision, upgrade
from arena.models import Conversation, ConversationScore, Turn

TABLES = {"conversation_score", "conversation_judge_error"}


def test_a_downgrade_that_would_lose_conversation_scores_is_refused(empty_database_url):
    engine = make_engine(empty_database_url)
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        prompt, _ = get_or_create_prompt(s, "I lost my job.", source="imported", active=False)
        model = get_or_create_model(s, "m1")[0]
        reply = get_or_create_reply(s, prompt, model, "I'm sorry.")[0]
        own = Conversation(reply_id=reply.id, mode="transcript")
        own.turns = [
            Turn(idx=0, side="own", role="user", content=prompt.text, author="persona"),
            Turn(idx=0, side="own", role="assistant", content=reply.text, author="model", model_id=model.id),
        ]
        s.add(own)
        s.flush()
        s.add_all(
            ConversationScore(conversation_id=own.id, side="own", judge="j", scope=scope, exchange=0,
                              criterion="overall", score=6.0)
            for scope in ("turn", "conversation")
        )  # fmt: skip

    with pytest.raises(RuntimeError, match="2 conversation scores are stored"):
        downgrade(engine, "0014")
    assert current_revision(engine) == head_revision()
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(ConversationScore)) == 2

    with transaction(factory) as s:
        s.execute(delete(ConversationScore))
    downgrade(engine, "0014")
    assert current_revision(engine) == "0014" and not TABLES & set(inspect(engine).get_table_names())
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Turn)) == 2  # the conversations themselves stay
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    with transaction(factory) as s:  # leave no turns behind for the downgrade to base that follows on PostgreSQL
        s.execute(delete(Conversation))
    engine.dispose()
