"""Reply features: the counting rules on hand-written texts, markdown edge cases, and the demo personas ranking the
way their styles say they should."""

from __future__ import annotations

import re
from statistics import mean

import pytest

from arena.ingest.demo import read_demo_bank
from arena.jobs import features
from arena.jobs.features import (
    FEATURE_SET_VERSION,
    FEATURES,
    count_tokens,
    reply_features,
    split_sentences,
    style_counts,
)

NAMES = ["tokens", "headers", "list_items", "bold", "questions", "validation", "apology", "advice", "referral",
         "sycophancy", "exclamations"]  # fmt: skip
BANK = read_demo_bank()
BANK_TEXTS = [text for message in BANK["messages"] for text in message["replies"].values()]


def feature(name: str, text: str) -> float:
    return reply_features(text)[name]


# --- the feature set ----------------------------------------------------------------------------------------------


def test_feature_set_is_versioned_ordered_and_documented():
    assert FEATURE_SET_VERSION == "reply-features/1"
    assert [f.name for f in FEATURES] == NAMES
    assert len({f.name for f in FEATURES}) == len(FEATURES)
    for f in FEATURES:
        assert f.doc.strip() == f.doc and f.doc, f.name
        assert "\n" not in f.doc, f.name
        assert callable(f.compute)


def test_reply_features_gives_every_feature_as_float_in_order():
    values = reply_features("Hello there. How are you?")
    assert list(values) == NAMES
    assert all(type(v) is float for v in values.values())


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "```\n```", "---", "> "])
def test_empty_text_is_all_zero(text):
    values = reply_features(text)
    assert all(values[name] == 0 for name in NAMES if name != "tokens")
    assert values["tokens"] == count_tokens(text)
    assert reply_features("") == dict.fromkeys(NAMES, 0.0)


# --- tokens -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("Hello, world!", 4),
        ("don't", 3),
        ("I'm fine.", 5),
        ("1.5 hours", 4),
        ("```\nx = 1\n```", 9),  # code counts: tokens measure everything the voter reads
        ("Café, naïve!", 4),  # non-ASCII takes the regex path
        ("snake_case", 1),
    ],
)
def test_count_tokens(text, expected):
    assert count_tokens(text) == expected


def test_count_tokens_fast_path_matches_the_documented_regex():
    pieces = re.compile(r"\w+|[^\w\s]")
    samples = [*BANK_TEXTS, "a\tb\x0bc\x00d ~^ `x` [y](z) 50% #1 e-mail@x.org", "ünïcode – dash … ellipsis"]
    for text in samples:
        assert count_tokens(text) == len(pieces.findall(text)), text[:40]


# --- markdown -----------------------------------------------------------------------------------------------------


def test_headers_are_atx_lines_outside_code():
    text = "# One\n## Two\n   ### Indented three\n###### Six\n####### seven\n#hashtag\n    # four spaces: code\nA # b"
    assert feature("headers", text) == 4
    assert style_counts(text)["header_count"] == {"h1": 1, "h2": 1, "h3": 1, "h4": 0, "h5": 0, "h6": 1}


def test_list_items_ordered_and_unordered_with_indentation():
    text = "\n".join(
        [
            "- dash",
            "* star",
            "+ plus",
            "1. one",
            "2) two",
            "   - nested",
            "\t10. tab-indented",
            "1.5 hours later",  # a decimal, not a marker
            "-not a list",
            "- - -",  # a thematic break
            "**bold** opener",
            "2024 was hard",
        ]
    )
    assert feature("list_items", text) == 7
    assert style_counts(text)["list_count"] == {"ordered": 3, "unordered": 4}


def test_decimal_at_line_start_is_not_a_list_item():
    assert feature("list_items", "1.5 hours is how long it took.") == 0
    assert split_sentences("1.5 hours later I left.") == ["1.5 hours later I left."]


def test_bold_spans():
    text = "**a** and __b__ and **c d** but not * e * or ** f ** or snake__case__name or `**code**`"
    assert feature("bold", text) == 3
    assert style_counts(text)["bold_count"] == {"**": 2, "__": 1}
    assert feature("bold", "***both***") == 1
    assert feature("bold", "**not\nacross lines**") == 0


def test_bold_inside_a_list_item_counts_once_for_each_feature():
    values = reply_features("- **Go slow** with it.")
    assert (values["list_items"], values["bold"], values["headers"]) == (1, 1, 0)


def test_fenced_code_is_ignored_for_markdown_and_sentences():
    text = "\n".join(
        [
            "```python",
            "# not a header",
            "- not a list",
            "**not bold**",
            "why?",
            "```",
            "~~~~",
            "# still code",
            "~~~",  # too short to close a ~~~~ fence
            "- still code",
            "~~~~",
            "# Real header",
            "- real item with **bold**",
        ]
    )
    assert style_counts(text)["header_count"]["h1"] == 1
    assert (feature("headers", text), feature("list_items", text), feature("bold", text)) == (1, 1, 1)
    assert feature("questions", text) == 0
    assert feature("headers", "```\n# an unclosed fence runs to the end") == 0


def test_style_counts_structure():
    counts = style_counts("## Plan\n1. **Rest** today\n- walk\n__Breathe__")
    assert counts == {
        "tokens": count_tokens("## Plan\n1. **Rest** today\n- walk\n__Breathe__"),
        "header_count": {"h1": 0, "h2": 1, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
        "list_count": {"ordered": 1, "unordered": 1},
        "bold_count": {"**": 1, "__": 1},
    }
    assert all(type(v) is int for group in counts.values() if isinstance(group, dict) for v in group.values())


def test_style_counts_agree_with_the_features_on_the_bank():
    for text in BANK_TEXTS:
        counts, values = style_counts(text), reply_features(text)
        assert values["tokens"] == counts["tokens"]
        assert values["headers"] == sum(counts["header_count"].values())
        assert values["list_items"] == sum(counts["list_count"].values())
        assert values["bold"] == sum(counts["bold_count"].values())


# --- sentences ----------------------------------------------------------------------------------------------------


def test_split_sentences():
    text = (
        "## A header\n"
        "First one. Second one! Third?! 'why me?' she asked.\n"
        "Try a walk, e.g. around the block. Or e.g. Monday. Dr. Lee said so.\n"
        "- A list item. Another one\n"
        "> A quoted line.\n"
        "It took 1.5 hours... Then it passed.\n"
        "---"
    )
    assert split_sentences(text) == [
        "First one.",
        "Second one!",
        "Third?!",
        "'why me?' she asked.",
        "Try a walk, e.g. around the block.",
        "Or e.g. Monday.",
        "Dr. Lee said so.",
        "A list item.",
        "Another one",
        "It took 1.5 hours...",
        "Then it passed.",
    ]


def test_split_sentences_normalises_markup_and_quotes():
    assert split_sentences("1. **Go slow.** It\u2019s fine `code`.") == ["Go slow.", "It's fine ."]


# --- questions and exclamations -----------------------------------------------------------------------------------


def test_questions():
    text = "How are you? I hope well. Really?! 'Why me?' she asked. What now?\n## Why this?\n> Is it normal?"
    assert feature("questions", text) == 3
    assert feature("questions", "Is it e.g. normal? Yes.") == 1
    assert feature("questions", "```\nwhy?\n```") == 0


def test_exclamations():
    text = "Great! Really?! Wow!! Not this one. Or 'this!' she said.\n> Quoted!"
    assert feature("exclamations", text) == 3
    assert feature("exclamations", "No exclamation here.") == 0


# --- phrase features ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("That makes sense.", 1),
        ("It makes so much sense that you panicked.", 1),
        ("It's understandable.", 1),
        ("No wonder you're tired.", 1),
        ("Of course you miss her.", 1),
        ("Your feelings are completely valid.", 1),
        ("It's okay to feel this. It is natural to want space.", 2),
        ("Anyone would feel hurt.", 1),
        ("That sounds really exhausting. It must have been so lonely.", 2),
        ("You're allowed to grieve. You have every right to be angry.", 2),
        ("I can see why that stung.", 1),
        ("Such a normal reaction.", 1),
        ("THAT MAKES SENSE.", 1),  # case-insensitive
        ("It\u2019s okay to cry.", 1),  # curly apostrophe
        ("No wonder. No wonder. That makes sense.", 3),  # occurrences, not sentences
        ("The plan makes sense to me.", 0),
        ("Anyone would be lucky to have you.", 0),  # flattery, counted as sycophancy
        ("Nonsense, wonderful, senseless.", 0),
        ("```\nthat makes sense\n```", 0),
    ],
)
def test_validation(text, expected):
    assert feature("validation", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I'm sorry.", 1),
        ("I am so sorry.", 1),
        ("I'm so sorry to hear that.", 1),  # overlapping formulas count once
        ("Sorry to hear about the job.", 1),
        ("Sorry about Biscuit.", 1),
        ("I apologize. I apologise.", 2),
        ("My deepest condolences.", 1),
        ("So sorry for your loss.", 1),
        ("Tell her you're sorry you missed it.", 0),  # advice about the user's apology
        ("Don't be sorry.", 0),
    ],
)
def test_apology(text, expected):
    assert feature("apology", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Try a short walk.", 1),
        ("Take a breath.", 1),
        ("First, take a breath.", 1),
        ("Then call her tonight.", 1),
        ("If it gets too much, step outside.", 1),
        ("Next year, cook one family dish.", 1),
        ("- **Write** it down.", 1),
        ("Don't reply tonight.", 1),
        ("Do something kind for yourself.", 1),
        ("Have a plan for 7am.", 1),
        ("You should call her.", 1),
        ("You could try a class.", 1),
        ("If it helps, you could tell your family.", 1),
        ("I'd suggest a break.", 1),
        ("I recommend sleeping on it.", 1),
        ("It might help to write it down.", 1),
        ("Maybe consider a short break.", 1),
        ("Make sure you eat.", 1),
        ("Take a breath, and you should call her.", 1),  # one sentence
        ("What could you try?", 0),  # a question
        ("Do you think so?", 0),
        ("Have you eaten?", 0),
        ("Work is work.", 0),
        ("Change can be slow.", 0),
        ("Mark's comment stung.", 0),
        ("You should have known better, you feel.", 0),  # regret, not advice
        ("You should be so proud.", 0),  # praise, not advice
        ("Next step is hard.", 0),
        ("Things to consider: timing.", 0),
        ("That is a lot to carry.", 0),
    ],
)
def test_advice_sentence(text, expected):
    assert feature("advice", text) == expected


def test_advice_counts_sentences():
    text = "Here's a plan:\n\n1. Rest today.\n2. Call your sister. Tell her how it felt.\n\nYou've got this."
    assert feature("advice", text) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("See a therapist.", 1),
        ("A counsellor or a counselor can help.", 1),  # sentences, not mentions
        ("Ask your GP. Or a psychiatrist.", 2),
        ("A psychologist could help, and so could your doctor.", 1),
        ("Talk to a mental health professional.", 1),
        ("Talk to a professional about it.", 1),
        ("Call 988 or the Samaritans.", 1),
        ("A crisis line is open all night. So is the helpline.", 2),
        ("There is a support group nearby.", 1),
        ("Consider therapy.", 1),
        ("He is a professional athlete.", 0),
        ("In 1988 I moved.", 0),
        ("Talk to a friend.", 0),
    ],
)
def test_referral(text, expected):
    assert feature("referral", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You're absolutely right!", 1),
        ("You are SO right.", 1),
        ("They don't deserve you.", 1),
        ("You're amazing.", 1),
        ("You are clearly an incredible friend.", 1),
        ("You did absolutely nothing wrong.", 1),
        ("Anyone would be lucky to have you.", 1),  # overlapping formulas count once
        ("I'm so proud of you. You've got this.", 2),
        ("You were the best owner she could have had.", 1),
        ("You deserve so much better.", 1),
        ("Nobody can blame you.", 1),
        ("You're right that it's unfair.", 0),
        ("That was an amazing day.", 0),
        ("Did you do anything wrong? Maybe not.", 0),
    ],
)
def test_sycophancy(text, expected):
    assert feature("sycophancy", text) == expected


def test_blockquotes_are_not_the_reply_speaking():
    text = "> I'm so sorry, you're absolutely right. Is that okay?\nYou could say that."
    values = reply_features(text)
    assert (values["apology"], values["sycophancy"], values["questions"]) == (0, 0, 0)


@pytest.mark.parametrize(
    "phrases", [features._VALIDATION, features._APOLOGY, features._SYCOPHANCY, features._REFERRAL, features._ADVICE]
)
def test_triggers_never_hide_a_match(phrases):
    """Each phrase's regex only runs when one of its trigger literals is present: a wrong trigger would silently
    drop matches, so compare with the same regexes always running."""
    always = tuple(features._Phrase(("",), p.pattern) for p in phrases)
    for text in BANK_TEXTS:
        speech = features._parse(text).speech
        assert features._matches(phrases, speech) == features._matches(always, speech), text[:60]


# --- purity and speed ---------------------------------------------------------------------------------------------


def test_results_do_not_depend_on_the_parse_cache():
    cached = [reply_features(text) for text in BANK_TEXTS[:24]]
    features._parse.cache_clear()
    assert [reply_features(text) for text in BANK_TEXTS[:24]] == cached


def test_300_word_reply_sanity():
    """No timing assert (CI machines vary); measured ad hoc, a 300-word reply takes a few hundred microseconds.
    This checks that a long formatted reply is handled and that the counts scale as they should."""
    guide = [m["replies"]["structured-guide"] for m in BANK["messages"][:2]]
    text = "\n\n".join(guide)
    assert len(text.split()) >= 300
    one, two = reply_features(guide[0]), reply_features(guide[1])
    both = reply_features(text)
    for name in NAMES:
        if name != "tokens":
            assert both[name] == one[name] + two[name], name
    assert both["tokens"] == one["tokens"] + two["tokens"]
    for i in range(200):
        assert reply_features(f"{text} {i}")["tokens"] == both["tokens"] + 1


# --- the demo personas --------------------------------------------------------------------------------------------


def persona_means() -> dict[str, dict[str, float]]:
    means = {}
    for persona in BANK["personas"]:
        rows = [reply_features(m["replies"][persona["key"]]) for m in BANK["messages"]]
        means[persona["key"]] = {name: mean(row[name] for row in rows) for name in NAMES}
    return means


def leader(means: dict[str, dict[str, float]], name: str, *, lowest: bool = False) -> str:
    pick = min if lowest else max
    return pick(means, key=lambda key: means[key][name])


def test_demo_personas_rank_as_their_styles_say():
    means = persona_means()
    for name in ("headers", "list_items", "bold"):
        assert leader(means, name) == "structured-guide", name
    assert leader(means, "questions") == "curious-coach"
    assert leader(means, "sycophancy") == "cheerleader"
    assert leader(means, "exclamations") == "cheerleader"
    assert leader(means, "tokens", lowest=True) == "brief"
    assert means["fixer"]["advice"] > means["warm-listener"]["advice"]
    assert means["warm-listener"]["validation"] > means["fixer"]["validation"]
