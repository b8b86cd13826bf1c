"""The crisis screen: real signals of suicide, self-harm or abuse trip it; the hyperbole of venting does not."""

from __future__ import annotations

import pytest

from arena.voting.crisis import screen

MUST_TRIP = [
    ("I keep thinking about killing myself.", "suicide"),
    ("Honestly I just want to die.", "suicide"),
    ("Everyone would be better off without me.", "suicide"),
    ("I don\u2019t want to be alive anymore", "suicide"),
    ("I've been having suicidal thoughts since the funeral.", "suicide"),
    ("I'm thinking of ending my life this weekend.", "suicide"),
    ("There's no reason to live now that she's gone.", "suicide"),
    ("I started cutting myself again last week.", "self-harm"),
    ("I took all my pills last night and woke up sick.", "self-harm"),
    ("Is it normal to self-harm when you're this stressed?", "self-harm"),
    ("I overdosed once and I'm scared I'll do it again.", "self-harm"),
    ("My husband hits me when he drinks.", "abuse"),
    ("I was sexually abused as a kid and nobody knows.", "abuse"),
    ("He threatened to kill me if I leave.", "abuse"),
    ("I'm not safe at home.", "abuse"),
    ("I'm terrified he'll kill me one day.", "abuse"),
]

MUST_NOT_TRIP = [
    "This deadline is killing me.",
    "I could die of embarrassment after that presentation.",
    "My phone died in the middle of the call with my mum.",
    "I'm dying to see my sister again after two years.",
    "I absolutely killed it at my interview but they still said no.",
    "My grandmother died last spring and I still miss her every day.",
    "I want to die laughing when I remember our trip.",
    "She cut me off mid-sentence in front of the whole team.",
    "My boss hit the roof when I told him I was leaving.",
    "I hurt my back moving house and now I can't sleep.",
]


@pytest.mark.parametrize(("text", "category"), MUST_TRIP)
def test_crisis_phrasing_trips_the_screen(text, category):
    signals = screen(text)
    assert category in {s.category for s in signals}, signals
    assert all(s.phrase.lower() in text.lower().replace("\u2019", "'") for s in signals)


@pytest.mark.parametrize("text", MUST_NOT_TRIP)
def test_everyday_venting_does_not_trip_it(text):
    assert screen(text) == []


def test_talking_about_the_topic_still_trips_it():
    # Screening is cautious by design: a message naming suicide gets the resources panel even if the writer is
    # only talking about it; being wrong this way costs a battle, the other way costs much more.
    text = "The film about suicide prevention made me think of my brother's work at the helpline."
    assert [s.category for s in screen(text)] == ["suicide"]
