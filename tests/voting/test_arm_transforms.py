"""The presentation arms' text transforms, on real first replies of many models (EQ-Bench 4) and on replies with
the formatting and boilerplate the arms exist to remove."""

from __future__ import annotations

import itertools
import json

import pytest

from arena.jobs.features import count_tokens, reply_features, split_sentences
from arena.voting.arm_transforms import flatten_markdown, match_lengths, strip_helplines, trim_to_length
from arena.voting.arms import LENGTH_MATCHED, NO_HELPLINE, PLAIN_TEXT, shown_texts
from tests.shared_data import shared_file

HELPLINE_PARAGRAPH = (
    "If you ever feel like you might harm yourself, please call or text 988 (the Suicide and Crisis Lifeline) "
    "right away. It can also help to reach out to a mental health professional."
)
FORMATTED = """# What I'm hearing

You're **not** alone in this, and _your_ feelings make sense.

1. Take a breath.
2. Write down what happened.

> It gets easier.

**Resources:**
- 988 Suicide & Crisis Lifeline: call or text 988
- Crisis Text Line: text HOME to 741741

I'm here if you want to keep talking. See [this guide](https://example.org) when you're ready."""


@pytest.fixture(scope="module")
def replies() -> list[dict]:
    with shared_file("eqbench4_replies.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def test_replies_without_boilerplate_or_markdown_come_back_unchanged(replies):
    for reply in replies:
        text = reply["reply"]
        assert strip_helplines(text) == text  # none of these first replies pastes a helpline
        if "*" not in text and "#" not in text and "`" not in text:
            assert flatten_markdown(text) == text


def test_a_pasted_helpline_paragraph_is_stripped_from_real_replies(replies):
    for reply in replies[:60]:
        text = reply["reply"]
        stripped = strip_helplines(text.rstrip() + "\n\n" + HELPLINE_PARAGRAPH)
        assert "988" not in stripped and "professional" not in stripped
        # Everything the model wrote is still there, sentence for sentence.
        assert split_sentences(stripped) == split_sentences(text)


def test_helpline_lines_and_their_emptied_lead_in_go_the_rest_stays():
    stripped = strip_helplines(FORMATTED)
    assert "988" not in stripped and "741741" not in stripped and "Resources" not in stripped
    assert "# What I'm hearing" in stripped and "1. Take a breath." in stripped
    assert stripped.endswith("See [this guide](https://example.org) when you're ready.")
    # Only the boilerplate sentence of a mixed line goes.
    assert strip_helplines("That sounds so hard. Please call 988 if you feel unsafe. I'm here.") == (
        "That sounds so hard. I'm here."
    )


def test_plain_text_removes_every_markdown_feature_and_keeps_the_words():
    flat = flatten_markdown(FORMATTED)
    counted = reply_features(flat)
    assert counted["headers"] == counted["list_items"] == counted["bold"] == 0
    for mark in ("#", "**", "_your_", "> ", "](", "1. "):
        assert mark not in flat
    assert "What I'm hearing" in flat and "You're not alone in this, and your feelings make sense." in flat
    assert "Take a breath." in flat and "See this guide when you're ready." in flat
    # Each list item a paragraph of its own: the page renders no list, and no item runs into the next.
    assert "Take a breath.\n\nWrite down what happened." in flat


def test_real_replies_with_emphasis_lose_it_and_nothing_else(replies):
    emphasised = [r["reply"] for r in replies if "*" in r["reply"]]
    assert emphasised, "the shared replies should include some emphasis"
    for text in emphasised:
        flat = flatten_markdown(text)
        assert "*" not in flat and reply_features(flat)["bold"] == 0
        assert flat.replace(" ", "") == text.replace("*", "").replace(" ", "")


def test_length_matching_trims_the_longer_real_reply_at_a_sentence_end(replies):
    by_scenario = itertools.groupby(sorted(replies, key=lambda r: r["scenario_id"]), key=lambda r: r["scenario_id"])
    checked = 0
    for _, group in by_scenario:
        texts = [r["reply"] for r in group]
        for long, short in itertools.permutations(texts[:4], 2):
            trimmed = match_lengths(long, short)
            if count_tokens(long) <= count_tokens(short):
                assert trimmed == long  # the shorter side is left as it is
                continue
            checked += 1
            assert long.startswith(trimmed) and trimmed.strip()
            first = split_sentences(long)[0]
            # At most the other side's length, unless even the first sentence is longer (then just that sentence).
            assert count_tokens(trimmed) <= count_tokens(short) or split_sentences(trimmed) == [first]
            # Cut at a sentence end: its sentences are the original's first ones, whole.
            kept = split_sentences(trimmed)
            assert kept == split_sentences(long)[: len(kept)]
            # And as long as it can be: the next sentence would pass the target.
            longer = split_sentences(long)[: len(kept) + 1]
            if len(longer) > len(kept) and count_tokens(trimmed) <= count_tokens(short):
                assert count_tokens(" ".join(longer)) > count_tokens(short) - 2
    assert checked > 50


def test_trim_never_empties_a_reply_and_is_deterministic():
    text = "This first sentence is rather long on its own, longer than the target. Then more."
    assert trim_to_length(text, 3) == "This first sentence is rather long on its own, longer than the target."
    assert trim_to_length(text, 1000) == text
    assert [trim_to_length(text, 20) for _ in range(3)] == [trim_to_length(text, 20)] * 3


def test_shown_texts_apply_each_sides_arm_and_match_lengths_after_the_others():
    long = FORMATTED
    short = "That sounds really hard. I'm here."
    assert shown_texts(long, short, None, None) == (long, short)
    a, b = shown_texts(long, short, PLAIN_TEXT, NO_HELPLINE)
    assert a == flatten_markdown(long) and b == short
    a, b = shown_texts(long, short, LENGTH_MATCHED, None)
    assert count_tokens(a) <= max(count_tokens(short), count_tokens(split_sentences(long)[0]) + 2) and b == short
    # Both sides length-matched: the longer is trimmed, the shorter left alone.
    a, b = shown_texts(long, short, LENGTH_MATCHED, LENGTH_MATCHED)
    assert b == short and long.startswith(a) and len(a) < len(long)
