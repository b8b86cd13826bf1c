"""The admin page's reveal table: how often each reply has been revealed by a vote, and the share of battles
that showed replies an earlier vote had revealed. Counted on both databases from battles with known times."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import event

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.models import Battle, Vote
from arena.voting.exposure import most_revealed, revealed_before
from tests.web.test_admin import TOKEN, admin_app, login  # noqa: F401 - admin_app is a fixture

T0 = datetime(2026, 11, 1, 10, 0)
MESSAGE = "My father forgot my name today. He has dementia and I knew it would come, but not this soon."


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def build_history(session_factory) -> dict[str, int]:
    """Replies r1 (m1, samples 0 and 1 as r1 and r1b), r2 (m2), r3 (m3) on one message, and these battles:
    B1 r1-r2 drawn 10:00, voted 10:01         nothing revealed before
    B4 r1b-r3 drawn 10:00:30, never voted     nothing revealed before
    B2 r1-r3 drawn 10:02, voted 10:03         r1 revealed (10:01)
    B3 r2-r1 drawn 10:04, voted 10:05         both revealed (10:01)
    B5 r3-r1b drawn 10:06, open               r3 revealed (10:03); r1b never
    plus an imported battle (no stored replies) with its vote, which must count nowhere."""
    with transaction(session_factory) as s:
        prompt, _ = get_or_create_prompt(s, MESSAGE, source="curated")
        models = {slug: get_or_create_model(s, slug)[0] for slug in ("m1", "m2", "m3")}
        replies = {
            "r1": get_or_create_reply(s, prompt, models["m1"], "I'm so sorry. That moment is its own grief.")[0],
            "r1b": get_or_create_reply(s, prompt, models["m1"], "That must have hurt more than you expected.")[0],
            "r2": get_or_create_reply(s, prompt, models["m2"], "Losing someone while they're still here is hard.")[0],
            "r3": get_or_create_reply(s, prompt, models["m3"], "Would it help to talk about who he was to you?")[0],
        }
        battles = [("B1", "r1", "r2", 0, 1), ("B4", "r1b", "r3", 0.5, None), ("B2", "r1", "r3", 2, 3),
                   ("B3", "r2", "r1", 4, 5), ("B5", "r3", "r1b", 6, None)]  # fmt: skip
        for name, a, b, drawn, voted in battles:
            ra, rb = replies[a], replies[b]
            battle = Battle(public_id=name, prompt_id=prompt.id, reply_a_id=ra.id, reply_b_id=rb.id,
                            model_a_id=ra.model_id, model_b_id=rb.model_id, created_at=at(drawn),
                            status="open" if voted is None else "voted")  # fmt: skip
            s.add(battle)
            s.flush()
            if voted is not None:
                s.add(Vote(battle_id=battle.id, model_a_id=ra.model_id, model_b_id=rb.model_id, outcome="tie",
                           created_at=at(voted)))  # fmt: skip
        imported = Battle(public_id="imported-1", source="import", model_a_id=models["m1"].id,
                          model_b_id=models["m2"].id, status="voted", created_at=at(-60))  # fmt: skip
        s.add(imported)
        s.flush()
        s.add(Vote(battle_id=imported.id, model_a_id=models["m1"].id, model_b_id=models["m2"].id,
                   outcome="model_a", created_at=at(-59)))  # fmt: skip
        return {name: reply.id for name, reply in replies.items()}


def count_selects(engine):
    selects = []
    event.listen(
        engine, "before_cursor_execute", lambda *args: selects.append(args[2]) if "SELECT" in args[2] else None
    )
    return selects


def test_reveals_and_earlier_reveals_are_counted_in_one_query_each(session_factory):
    ids = build_history(session_factory)
    with session_factory() as s:
        statements = count_selects(s.get_bind())
        top = most_revealed(s)
        assert len(statements) == 1
        known = revealed_before(s)
        assert len(statements) == 2
    assert [(r.reply_id, r.model, r.sample, r.reveals) for r in top] == [
        (ids["r1"], "m1", 0, 3),
        (ids["r2"], "m2", 0, 2),
        (ids["r3"], "m3", 0, 1),
    ]
    assert all(r.prompt_excerpt.startswith("My father forgot my name today.") for r in top)
    assert len(top[0].prompt_excerpt) <= 80 and top[0].prompt_excerpt.endswith("…")
    assert (known.battles, known.either_known, known.both_known) == (5, 3, 1)
    assert known.share(known.either_known) == 0.6


def test_nothing_shown_yet(session_factory):
    with session_factory() as s:
        assert most_revealed(s) == []
        known = revealed_before(s)
    assert (known.battles, known.either_known, known.both_known) == (0, 0, 0) and known.share(0) is None


def test_the_admin_page_shows_the_table_and_the_share(admin_app, session_factory):  # noqa: F811
    build_history(session_factory)
    client = admin_app.test_client()
    login(client)
    html = client.get("/admin/").get_data(as_text=True)
    assert "3 of 5 battles\n    (60%) showed a reply an earlier vote had revealed" in html
    assert "1 (20%) showed two" in html
    table = html[html.index('aria-label="Replies revealed most often"') :]
    rows = re.findall(r"<tr><td>(m\d)</td><td class=\"num\">(\d+)</td><td>([^<]*)</td><td class=\"num\">(\d+)</td>",
                      table)  # fmt: skip
    assert [(model, sample, count) for model, sample, _, count in rows] == [("m1", "0", "3"), ("m2", "0", "2"),
                                                                             ("m3", "0", "1")]  # fmt: skip
    assert all(excerpt.startswith("My father forgot my name today.") for _, _, excerpt, _ in rows)
