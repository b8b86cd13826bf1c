"""`arena generate edits` against the local OpenAI-compatible server: an editor model rewrites stored replies on one
EI dimension; edits within 5% of the length and with the same formatting are stored under their original's model
with the dimension, anything else is refused, recorded as an EditError and stored nowhere; reruns ask only for
what is missing; edits are never a model's sample (not drawn, not planned for generation). Both databases."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.llm.edit_rules import DIMENSIONS, EditRefused, Formatting, check_edit, editor_messages
from arena.llm.editing import EditOptions, edit_replies, plan_edits
from arena.llm.generation import GenerationOptions, plan_generation
from arena.llm.retry import RetryPolicy
from arena.models import EditError, Model, Reply
from arena.voting.pairing import shared_prompts
from tests.arena_cli import run_arena
from tests.llm.llm_models import add_model, add_prompts, served

litellm = pytest.importorskip("litellm")

FAST = RetryPolicy(attempts=1, base_delay=0.01, timeout=5)
REPLY = re.compile(r"<reply>\n(.*)\n</reply>", re.DOTALL)
TEXTS = (
    "That sounds really painful, and it makes sense that you feel lost.\n\nWhat would help most tonight?",
    "I'm so sorry. Losing a pet leaves a quiet that is hard to bear.\n\n- Rest\n- Call a friend",
)


def original(messages) -> str:
    return REPLY.search(messages[-1]["content"]).group(1)


def same_length_edit(messages) -> str:
    """An editor that changes words, not length or layout ("feel" -> "fear", "sorry" -> "sad!!")."""
    return "<edited>\n" + original(messages).replace("feel", "fear").replace("sorry", "sad!!") + "\n</edited>"


def seed(factory, server) -> dict[str, int]:
    """Two prompts, a reply of each of two models to each, and the editors; returns reply ids by (model, text)."""
    prompts = add_prompts(factory, ["I lost my job today.", "My cat died this morning."])
    for slug in ("warm", "coach"):
        add_model(factory, slug, f"openai/{slug}")
    for slug in ("editor", "editor-long", "editor-flat"):
        add_model(factory, **served(server, slug))
    server.replies["editor"] = same_length_edit
    server.replies["editor-long"] = lambda m: original(m) + " " + original(m)
    server.replies["editor-flat"] = lambda m: original(m).replace("\n\n", " ")[:-1] + "!!"
    with transaction(factory) as session:
        models = {m.slug: m.id for m in session.scalars(select(Model))}
        for prompt_id, text in zip(prompts, TEXTS, strict=True):
            for slug in ("warm", "coach"):
                session.add(Reply(prompt_id=prompt_id, model_id=models[slug], text=f"{text} ({slug})"))
    return models


def edits(factory) -> list[Reply]:
    with factory() as session:
        rows = list(session.scalars(select(Reply).where(Reply.edit_of.is_not(None)).order_by(Reply.id)))
        session.expunge_all()
        return rows


def edit_errors(factory) -> list[EditError]:
    with factory() as session:
        rows = list(session.scalars(select(EditError).order_by(EditError.reply_id)))
        session.expunge_all()
        return rows


def test_edits_are_stored_with_their_dimension_under_the_original_model(session_factory, llm_server):
    models = seed(session_factory, llm_server)
    options = EditOptions("remove_validation", "editor", models=("warm",), retry=FAST)

    summary = edit_replies(session_factory, options)

    stored = edits(session_factory)
    assert summary.edited == 2 and not summary.refused and not summary.failed
    with session_factory() as session:
        originals = {r.id: r for r in session.scalars(select(Reply).where(Reply.edit_of.is_(None)))}
    for edit in stored:
        source = originals[edit.edit_of]
        assert edit.edit_dimension == "remove_validation"
        assert (edit.model_id, edit.prompt_id) == (models["warm"], source.prompt_id) == (source.model_id,
                                                                                         source.prompt_id)
        assert edit.text == source.text.replace("feel", "fear").replace("sorry", "sad!!") != source.text
        assert edit.sample < 0 and edit.meta["editor"] == "editor" and edit.litellm_model == "openai/editor"
        assert edit.meta["edit_chars"] == len(edit.text) and edit.meta["original_chars"] == len(source.text)
    # The editor saw the instruction and the reply, and no model name.
    sent = llm_server.requests_for("editor")[0].messages
    assert DIMENSIONS["remove_validation"] in sent[0]["content"] and "(warm)" in sent[1]["content"]
    assert "warm" not in sent[0]["content"]
    # A second dimension is a second edit of the same reply; its sample number is the next free one below zero.
    edit_replies(session_factory, EditOptions("add_question_back", "editor", models=("warm",), retry=FAST))
    per_pair = {}
    for edit in edits(session_factory):
        per_pair.setdefault((edit.prompt_id, edit.model_id), []).append(edit.sample)
    assert sorted(map(sorted, per_pair.values())) == [[-2, -1], [-2, -1]]


def test_a_too_long_or_reformatted_edit_is_refused_and_stored_nowhere(session_factory, llm_server):
    seed(session_factory, llm_server)

    long = edit_replies(session_factory, EditOptions("add_premature_advice", "editor-long", models=("warm",),
                                                     retry=FAST))  # fmt: skip
    flat = edit_replies(session_factory, EditOptions("add_question_back", "editor-flat", models=("coach",),
                                                     retry=FAST))  # fmt: skip

    assert long.refused == {"length_changed": 2} and long.edited == 0
    assert flat.refused == {"formatting_changed": 2} and flat.edited == 0
    assert edits(session_factory) == []
    errors = edit_errors(session_factory)
    assert sorted((e.dimension, e.editor, e.error_type) for e in errors) == sorted(
        [("add_premature_advice", "editor-long", "length_changed")] * 2
        + [("add_question_back", "editor-flat", "formatting_changed")] * 2
    )
    assert all("outside" in e.message for e in errors if e.error_type == "length_changed")
    assert all("paragraphs 2 -> 1" in e.message for e in errors if e.error_type == "formatting_changed")


def test_reruns_ask_only_for_missing_edits_and_a_later_success_clears_the_error(session_factory, llm_server):
    seed(session_factory, llm_server)
    options = EditOptions("add_question_back", "editor", retry=FAST)
    llm_server.replies["editor"] = lambda m: same_length_edit(m) if "lost" in m[-1]["content"] else "x"

    first = edit_replies(session_factory, options)
    assert (first.edited, first.refused) == (2, {"length_changed": 2})
    calls = len(llm_server.requests)
    with session_factory() as session:
        assert len(plan_edits(session, options)) == 2  # only the refused ones
    llm_server.replies["editor"] = same_length_edit

    second = edit_replies(session_factory, options)

    assert second.edited == 2 and len(llm_server.requests) == calls + 2
    assert len(edits(session_factory)) == 4 and edit_errors(session_factory) == []
    third = edit_replies(session_factory, options)
    assert third.edited == 0 and len(llm_server.requests) == calls + 2


def test_edits_are_never_a_models_sample(session_factory, llm_server):
    seed(session_factory, llm_server)
    with session_factory() as session:
        before = shared_prompts(session)
    edit_replies(session_factory, EditOptions("remove_validation", "editor", retry=FAST))

    edit_ids = {e.id for e in edits(session_factory)}
    assert len(edit_ids) == 4
    with session_factory() as session:
        assert shared_prompts(session) == before  # the draw's pool holds no edit
        # Two samples wanted of warm per message: one is stored, so one call each (an edit is not a sample).
        plan = plan_generation(session, GenerationOptions(models=("warm",), samples=2))
        assert [c.sample for c in plan.calls] == [1, 1]


def test_the_checks_count_characters_and_formatting():
    text = "Line one with **bold** words.\n\n1. first\n2. second"
    assert check_edit(text, text.replace("one", "two")) == {"original_chars": len(text), "edit_chars": len(text)}
    slack = int(len(text) * 0.05)
    check_edit(text, text.replace("words.", "words." + "x" * slack))  # at the bound
    with pytest.raises(EditRefused, match="outside") as too_long:
        check_edit(text, text.replace("words.", "words." + "x" * (slack + 1)))
    assert too_long.value.kind == "length_changed"
    for changed in (text.replace("**bold**", "bold!!!!"), text.replace("2. second", "- second"),
                    text.replace("\n\n", "\n")):  # fmt: skip
        with pytest.raises(EditRefused) as refused:
            check_edit(text, changed)
        assert refused.value.kind == "formatting_changed"
    with pytest.raises(EditRefused, match="unchanged"):
        check_edit(text, text + "  ")
    assert Formatting.of(text).list_items == 2 and Formatting.of(text).strong == 2
    assert "between" in editor_messages("add_question_back", "hi", text)[0]["content"]


# One backend: the command is a thin shell over what the tests above run on both, and each run imports litellm.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command(database_url, llm_server):
    from arena.db import make_engine, make_session_factory

    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    seed(factory, llm_server)
    engine.dispose()

    bad = run_arena("generate", "edits", "--dimension", "be_nicer", "--editor-model", "editor",
                    "--database-url", database_url)  # fmt: skip
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "remove_validation" in bad.stderr
    unknown = run_arena("generate", "edits", "--dimension", "add_question_back", "--editor-model", "nobody",
                        "--database-url", database_url)  # fmt: skip
    assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1 and "nobody" in unknown.stderr
    ok = run_arena("generate", "edits", "--dimension", "add_question_back", "--editor-model", "editor", "--limit",
                   "3", "--timeout", "5", "--json", "--database-url", database_url)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)
    assert (out["dimension"], out["editor"], out["planned"], out["edited"], out["refused"], out["failed"]) == (
        "add_question_back", "editor", 3, 3, 0, 0)
