"""Identity leaks: a reply that names its model flags the battle; its vote is kept, does not count, and the
visitor is told why."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from arena.db import transaction
from arena.ingest.catalog import get_or_create_model, get_or_create_prompt, get_or_create_reply
from arena.models import Battle, Vote
from arena.voting.identity_leak import battle_leak, cached_battle_leak, find_leak, own_names
from tests.conftest import parse_battle_page
from tests.shared_data import shared_file

HX = {"HX-Request": "true"}

LEAKS = [
    "As an AI language model developed by OpenAI, I don't have feelings, but I hear you.",
    "As an AI created by Google, I can't be there in person, but I'm listening.",
    "As a large language model trained by Mistral AI, I want to say: that sounds hard.",
    "I'm Claude, and I'm really sorry you're going through this.",
    "Hi! I am ChatGPT. Losing a job is painful.",
    "I was trained by Anthropic to be helpful, and I want to help here.",
    "My developers at Meta would want me to say: you matter.",
]
CLEAN = [
    "That sounds really heavy. What part of it weighs on you most?",
    "As a friend, I'd say take the evening off and call your sister.",
    "I'm sorry. Grief doesn't follow a schedule, and you're allowed to feel this.",
    "You put in the work; being passed over for someone newer would sting anyone.",
    "In brief: you did nothing wrong, and it makes sense you're angry.",
]


@pytest.mark.parametrize("text", LEAKS)
def test_self_identification_is_found(text):
    assert find_leak(text)


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_replies_are_not_flagged(text):
    assert find_leak(text, own_names("claude-sonnet-5", "openai/gpt-5.4")) is None


def test_a_reply_naming_either_model_of_its_battle_is_found():
    names = own_names("meta_muse-spark-1.1", "Muse Spark", "Meta", "openrouter/meta/muse-spark-1.1")
    assert "Muse Spark" in names and "muse-spark-1.1" in names
    leak = battle_leak("Take your time.", "Muse Spark here: that sounds exhausting.", names)
    assert leak is not None and (leak.side, leak.phrase) == ("b", "Muse Spark")
    assert battle_leak("Take your time.", "A muse sparked the idea.", names) is None


def test_the_cached_check_answers_as_the_uncached_one_whatever_the_side_and_the_rival():
    # Remembered per reply and pair of models: the same reply met again, on the other side or against another
    # reply, must give the same verdict as a fresh check (side and phrase included).
    names = ("gpt-4.1", "Claude", "claude-sonnet")
    leaking = "As an AI language model developed by OpenAI, I can't feel, but I hear you."
    naming = "Honestly, Claude would tell you the same: you did nothing wrong."
    clean = "That sounds exhausting. Do you want to talk about what happened at the wedding?"
    for _ in range(2):  # the second round answers from the cache
        for a, b in [(leaking, clean), (clean, leaking), (clean, naming), (naming, leaking), (clean, clean)]:
            assert cached_battle_leak(a, b, names) == battle_leak(a, b, names)
    assert cached_battle_leak(clean, naming, names).side == "b"
    assert cached_battle_leak(clean, naming, ()) is None  # the names belong to the battle's pair of models


def test_no_real_eqbench4_reply_is_a_false_alarm():
    rows = [json.loads(line) for line in shared_file("eqbench4_replies.jsonl").read_text().splitlines()]
    names = own_names(*{r["model_slug"] for r in rows})
    assert [r["reply"] for r in rows if find_leak(r["reply"], names)] == []


def one_battle(session_factory, reply_a: str, reply_b: str) -> None:
    with transaction(session_factory) as s:
        prompt, _ = get_or_create_prompt(s, "They gave my promotion to someone with half my experience.",
                                         source="imported")  # fmt: skip
        for slug, text in (("openai_gpt-5.4", reply_a), ("claude-sonnet-5", reply_b)):
            model, _ = get_or_create_model(s, slug)
            get_or_create_reply(s, prompt, model, text)


def vote_on_the_battle(client) -> str:
    action, csrf = parse_battle_page(client.get("/").get_data(as_text=True))
    response = client.post(action, data={"outcome": "model_a", "csrf_token": csrf}, headers=HX)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_leaking_battle_takes_a_vote_that_does_not_count(client, session_factory):
    one_battle(session_factory, "Oh no. I'm sorry, that is so unfair.", LEAKS[0])
    reveal = vote_on_the_battle(client)
    assert "will not count" in reveal and "gave away which model wrote it" in reveal
    with session_factory() as s:
        vote = s.scalars(select(Vote)).one()
        assert (vote.outcome, vote.counts_for_leaderboard, vote.exclusion_reason) == ("model_a", False,
                                                                                     "identity_leak")  # fmt: skip
        battle = s.scalars(select(Battle)).one()
        side = "a" if battle.model_a.slug == "claude-sonnet-5" else "b"
        assert battle.meta["identity_leak"]["side"] == side
        assert battle.meta["identity_leak"]["phrase"].startswith("As an AI language model developed by OpenAI")


def test_a_clean_battle_counts(client, session_factory):
    one_battle(session_factory, "Oh no. I'm sorry, that is so unfair.", CLEAN[3])
    reveal = vote_on_the_battle(client)
    assert "will not count" not in reveal
    with session_factory() as s:
        vote = s.scalars(select(Vote)).one()
        assert (vote.counts_for_leaderboard, vote.exclusion_reason) == (True, None)
        assert "identity_leak" not in (s.scalars(select(Battle)).one().meta or {})


def test_no_demo_battle_is_flagged(client, demo_loaded, session_factory):
    for _ in range(5):
        assert "will not count" not in vote_on_the_battle(client)
    with session_factory() as s:
        assert set(s.scalars(select(Vote.counts_for_leaderboard))) == {True}


@pytest.mark.parametrize(
    "text",
    [
        "As ChatGPT, I can't feel what you feel, but I hear you.",
        "Claude here. That sounds so hard.",
        "Hi! claude here, and I'm listening.",
        "I'm \u0421laude, and I'm sorry.",  # a Cyrillic capital Es
        "I'm Cl\u200baude, and I'm sorry.",  # a zero-width space
        "I'm \uff23\uff4c\uff41\uff55\uff44\uff45, and I'm sorry.",  # fullwidth letters
        "i am CLAUDE and this is hard.",
        "As an AI developed by \u041epen\u0410I, I still care.",
        # Issue 19: new phrasings and tricks, caught by normalising (accents off, spaced letters joined), not by
        # listing the strings.
        "This is Llama speaking. I hear how tired you are.",
        "I, Grok, think you deserved that promotion.",
        "I'm C l a u d e. Take a breath with me.",
        "I'm Clau\u0301de, and I'm sorry.",  # a combining acute accent
        "I'm Cla\u00fade, and I'm sorry.",  # the same, precomposed
        "Honestly? I am G.r.o.k, and I think you did nothing wrong.",
        "it\u2019s q w e n here, listening.",
    ],
)
def test_disguised_identities_are_caught(text):
    assert find_leak(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Look at the llama here, it is calm.",
        "I'm pi-eyed tonight.",
        "In brief: rest.",
        "This is Gemini season, they say.",
        "I, for one, think you did well.",
        "The U.S.A. is far away; caf\u00e9 au lait helps.",
        "Plan A, B or C? Rest first.",
        "I'm a b c d e f about this, spelling it out.",
        "I (for my part) agree.",
    ],
)
def test_everyday_words_are_not_identities(text):
    assert find_leak(text) is None
