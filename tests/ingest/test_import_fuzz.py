"""Every importer fuzzed with hypothesis through the function the CLI runs (`import_file`): a file with one
bad record among good ones raises BadInput (exit 2) with one line naming the line and the problem, and leaves
the database exactly as it was; files of good records import. Plus one real CLI run per importer."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from arena.cli.common import BadInput
from arena.cli.imports import import_file
from arena.ingest.battle_records import WINNERS
from arena.ingest.catalog import content_hash
from arena.ingest.eq_scores import import_eq_scores
from arena.ingest.prompt_import import import_prompts
from arena.ingest.reply_import import import_replies
from arena.ingest.vote_import import import_votes
from arena.models import Battle, Model, ModelEqScore, Prompt, Reply, Vote
from arena.taxonomy import EMONET_CATEGORIES
from tests.arena_cli import run_arena
from tests.db_fingerprint import fingerprint

BAD_EXAMPLES = 30
GOOD_EXAMPLES = 8
# No shrinking: a database round trip per example makes it take minutes; the failing example is printed as found.
FUZZ = settings(max_examples=BAD_EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                phases=(Phase.explicit, Phase.generate))  # fmt: skip


@dataclass(frozen=True)
class Importer:
    name: str  # as in `arena import NAME`
    function: Any
    progress: bool  # whether the CLI passes a progress callback
    suffix: str


IMPORTERS = {
    "prompts": Importer("prompts", import_prompts, False, ".jsonl"),
    "replies": Importer("replies", import_replies, False, ".jsonl"),
    "votes": Importer("votes", import_votes, True, ".jsonl"),
    "eq-scores": Importer("eq-scores", import_eq_scores, False, ".csv"),
}

# --- good records ---

# Any character but NUL (refused on its own) and lone surrogates (not text).
clean = st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))
words = st.text(clean, min_size=1, max_size=80).filter(lambda t: t.strip())
one_line_words = words.filter(lambda t: "\n" not in t and "\r" not in t)  # CSV counts physical lines
label = st.text(clean, max_size=100)
emotion_name = st.sampled_from(EMONET_CATEGORIES).flatmap(lambda c: st.sampled_from([c, c.upper(), c.lower()]))
emotion = st.one_of(emotion_name, st.fixed_dictionaries({"name": emotion_name, "intensity": st.integers(0, 2)}))
prompt_fields = st.fixed_dictionaries(
    {},
    optional={
        "emotions": st.lists(emotion, max_size=4),
        "situation": label,
        "need": label,
        "language": st.sampled_from(["en", "de", "pt-BR", "zh-Hant"]),
    },
)
good_prompt = st.builds(lambda t, extra: {"text": t, **extra}, words, prompt_fields)
good_reply = st.builds(lambda p, m, r, extra: {"prompt": p, "model": m, "reply": r, **extra},
                       words, words, words, prompt_fields)  # fmt: skip
model_pair = st.lists(words.map(str.strip), min_size=2, max_size=2, unique=True)
good_vote = st.builds(
    lambda pair, winner, qid, extra: {"model_a": pair[0], "model_b": pair[1], "winner": winner,
                                      "question_id": qid, **extra},
    model_pair,
    st.sampled_from(list(WINNERS)),
    st.text(st.characters(codec="ascii", categories=("L", "N")), min_size=8, max_size=40),
    st.fixed_dictionaries({}, optional={
        "tstamp": st.floats(0, 4_000_000_000),
        "judge_hash": words,
        "language": st.sampled_from(["English", "en", "German"]),
        "turn": st.integers(1, 5),
        "conv_metadata": st.dictionaries(st.sampled_from(["sum_assistant_a_tokens", "header_count_a"]),
                                         st.integers(0, 10**6)),
    }),
)  # fmt: skip
csv_name = st.text(st.characters(codec="ascii", categories=("L", "N", "Zs", "Pd")), min_size=1, max_size=40).filter(
    lambda t: t.strip()
)
good_score = st.fixed_dictionaries(
    {"model": csv_name, "benchmark": csv_name, "snapshot": csv_name,
     "score": st.floats(allow_nan=False, allow_infinity=False, width=32)},
)  # fmt: skip
GOOD = {"prompts": good_prompt, "replies": good_reply, "votes": good_vote, "eq-scores": good_score}


# --- bad records: (record, or raw line bytes) and a fragment of the reason they must be refused with ---


def _broken(good: st.SearchStrategy, change, reason: str) -> st.SearchStrategy:
    """A good record with one change applied; `change(record, draw)` returns the broken record."""
    return st.builds(lambda record, data: (change(dict(record), data), reason), good, st.data())


def _with(field, values):
    return lambda record, data: {**record, field: data.draw(values)}


def _without(*fields):
    def change(record, data):
        del record[data.draw(st.sampled_from(fields))]
        return record

    return change


not_a_string = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(),
                         st.lists(st.integers(), max_size=2), st.dictionaries(st.text(clean, max_size=3), st.integers(),
                                                                              max_size=2))  # fmt: skip
blank = st.text(" \t\r\u00a0\u2003", max_size=5)
too_long = st.integers(20_001, 40_000).map(lambda n: "x" * n)
# Beyond any id a row can have, or any value a field takes (JSON has no infinity).
huge_number = st.one_of(st.floats(min_value=1e16, allow_infinity=False), st.floats(max_value=-1, allow_infinity=False),
                        st.just(10**30), st.integers(2**31, 2**63))  # fmt: skip
unknown_emotion = words.filter(lambda w: w.strip().casefold() not in {c.casefold() for c in EMONET_CATEGORIES})
bad_intensity = st.one_of(huge_number, st.integers(-(2**40), -1), st.sampled_from([1.5, True, "2", None, [1]]))
nul_text = st.builds(lambda a, b: f"{a}\x00{b}", st.text(clean, max_size=5), st.text(clean, max_size=5))

PROMPT_FIELD_BREAKS = [
    (_with("emotions", st.lists(unknown_emotion, min_size=1, max_size=2)), "unknown emotion category"),
    (_with("emotions", st.fixed_dictionaries({"name": emotion_name, "intensity": bad_intensity}).map(lambda e: [e])),
     "intensity must be 0, 1 or 2"),
    (_with("emotions", st.one_of(st.integers(), st.dictionaries(emotion_name, st.integers(0, 2), min_size=1))),
     "emotions must be a list"),
    (_with("emotions", st.lists(st.one_of(st.integers(), st.lists(st.integers())), min_size=1, max_size=2)),
     "is neither a name nor"),
    (_with("situation", st.integers(101, 5000).map(lambda n: "s" * n)), "situation must be a string of at most 100"),
    (_with("need", not_a_string), "need must be a string"),
    (_with("language", st.text(clean, min_size=17, max_size=40).filter(lambda t: len(t.strip()) > 16)),
     "language must be a string of at most 16"),
]  # fmt: skip

BAD_SPECIFIC = {
    "prompts": [
        (_without("text"), "text must be a non-empty string"),
        (_with("text", st.one_of(blank, not_a_string)), "text must be a non-empty string"),
        (_with("text", too_long), "text is longer than 20000 characters"),
        (_with("text", nul_text), "NUL character"),
        *PROMPT_FIELD_BREAKS,
    ],
    "replies": [
        (_without("prompt", "model", "reply"), "must be a non-empty string"),
        (_with("reply", st.one_of(blank, not_a_string)), "reply must be a non-empty string"),
        (_with("model", too_long), "model is longer than"),
        (_with("model", st.integers(201, 1000).map(lambda n: "m" * n)), "model slug is longer than 200"),
        (_with("prompt_id", st.one_of(huge_number, st.integers(-5, 0), st.sampled_from(["abc", 1.5, True, [1]]))),
         "no prompt with id"),
        (_with("reply", nul_text), "NUL character"),
        *PROMPT_FIELD_BREAKS,
    ],
    "votes": [
        (_without("model_a", "model_b", "winner"), "missing required field"),
        (_with("winner", words.filter(lambda w: w not in WINNERS)), "winner must be one of"),
        (_with("winner", st.one_of(st.integers(), st.lists(words, min_size=1))), "winner must be one of"),
        (lambda r, data: {**r, "model_b": r["model_a"]}, "are the same model"),
        (_with("model_a", st.one_of(st.integers(), st.lists(words, min_size=1))), "must be strings"),
        (_with("model_b", st.integers(201, 2000).map(lambda n: "b" * n)), "model names must be 1 to 200"),
        (_with("tstamp", st.one_of(huge_number.filter(lambda x: not 0 <= x < 32_503_680_000), st.just(-1))),
         "tstamp must be seconds since the epoch"),
        (_with("tstamp", st.one_of(words.filter(lambda w: not _is_number(w)), st.lists(st.integers()))),
         "tstamp must be seconds since the epoch"),
        (_with("language", st.one_of(st.integers(), st.text(clean, min_size=17, max_size=30))), "language must be"),
        (_with("question_id", st.integers(129, 1000).map(lambda n: "q" * n)), "question_id is longer than 128"),
        (_with("conversation_a", st.one_of(st.integers(), st.lists(st.integers(), min_size=1),
                                           st.dictionaries(words, words, max_size=2))),
         "conversation_a must be a list"),
        (_with("category_tag", st.lists(unknown_emotion, min_size=1, max_size=1).map(lambda e: {"emotion_v0.1": e})),
         "unknown emotion category"),
        (_with("eq_a", st.one_of(st.booleans(), st.lists(st.integers()))), "eq_a must be a number"),
        (_with("counts_for_leaderboard", st.integers()), "counts_for_leaderboard must be true or false"),
        (_with("exclusion_reason", st.integers(65, 200).map(lambda n: "r" * n)), "exclusion_reason must be"),
        (_with("model_a", nul_text), "NUL character"),
    ],
    "eq-scores": [
        (_with("score", one_line_words.filter(lambda w: not _is_number(w))), "score must be a number"),
        (_with("score", st.sampled_from(["inf", "-inf", "nan", "1e999"])), "score must be finite"),
        (_without("model", "benchmark", "snapshot", "score"), "missing required column"),
        (_with("model", st.integers(201, 400).map(lambda n: "m" * n)), "must be 1 to 200 characters"),
        (_with("trait_warmth", one_line_words.filter(lambda w: not _is_number(w))), "trait_warmth must be a number"),
        (_with("benchmark", nul_text), "NUL character"),
    ],
}  # fmt: skip


def _is_number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


def _not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


# Lines that are no record at all, for the line-per-record (JSONL) importers.
BAD_LINES = [
    (st.text(min_size=1, max_size=40).map(lambda t: t.replace("\n", " ").encode()).filter(
        lambda b: b.strip() and _not_json(b)), "not valid JSON"),
    (st.binary(min_size=1, max_size=30).map(lambda b: b'{"text": "' + b.replace(b"\n", b" ") + b'\xff\xfe"}'),
     "not valid UTF-8"),
    (st.text(st.characters(codec="ascii", categories=("L", "N")), max_size=10).map(
        lambda t: b'{"text": "a\x00' + t.encode() + b'"}'), "not valid JSON"),
    (st.one_of(st.integers(), st.lists(st.integers(), max_size=3), st.text(max_size=5), st.booleans(), st.none()).map(
        lambda v: json.dumps(v).encode()), "expected a JSON object"),
    (st.integers(70, 600).map(lambda n: b'{"text": "deep", "x": ' + b"[" * n + b"]" * n + b"}"), "nested more than"),
]  # fmt: skip


def bad_line(importer: str) -> st.SearchStrategy:
    """A strategy of (record or raw line, reason fragment) that the importer must refuse."""
    specific = [_broken(GOOD[importer], change, reason) for change, reason in BAD_SPECIFIC[importer]]
    if importer == "eq-scores":
        return st.one_of(*specific)
    return st.one_of(*specific, *(st.tuples(lines, st.just(reason)) for lines, reason in BAD_LINES))


# --- files ---


def write_file(path: Path, importer: str, records: list) -> Path:
    if importer != "eq-scores":
        with path.open("wb") as handle:
            for record in records:
                handle.write(record if isinstance(record, bytes) else json.dumps(record).encode())
                handle.write(b"\n")
        return path
    columns = ["model", "benchmark", "snapshot", "score", "trait_warmth"]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(records)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    return path


def import_with_cli_function(database_url: str, path: Path, importer: str):
    spec = IMPORTERS[importer]
    return import_file(database_url, path, None, spec.function, progress=spec.progress)


def seed(database_url: str, tmp_path: Path) -> None:
    """Something of every kind in the database, so "unchanged" means more than "still empty"."""
    records = {
        "prompts": [{"text": "I was left out of the wedding.", "emotions": ["Sadness"]}],
        "replies": [{"prompt": "I was left out of the wedding.", "model": "seed-a", "reply": "That stings."}],
        "votes": [{"model_a": "seed-a", "model_b": "seed-b", "winner": "tie", "question_id": "seed-q"}],
        "eq-scores": [{"model": "seed-a", "benchmark": "eqbench3", "snapshot": "2026", "score": "1200"}],
    }
    for importer, rows in records.items():
        import_with_cli_function(database_url, write_file(tmp_path / f"seed{IMPORTERS[importer].suffix}",
                                                          importer, rows), importer)  # fmt: skip


# --- the tests ---


@pytest.mark.parametrize("importer", list(IMPORTERS))
def test_a_bad_record_among_good_ones_exits_2_and_changes_nothing(database_url, session_factory, tmp_path, importer):
    seed(database_url, tmp_path)
    before = fingerprint(session_factory)
    path = tmp_path / f"fuzz{IMPORTERS[importer].suffix}"

    @FUZZ
    @given(
        head=st.lists(GOOD[importer], max_size=3),
        bad=bad_line(importer),
        tail=st.lists(GOOD[importer], max_size=2),
    )
    def refused(head, bad, tail):
        record, reason = bad
        write_file(path, importer, [*head, record, *tail])
        with pytest.raises(BadInput) as caught:
            import_with_cli_function(database_url, path, importer)
        message = caught.value.format_message()
        # CSV: line 1 is the header.
        line = len(head) + (2 if importer == "eq-scores" else 1)
        assert "\n" not in message and len(message) < 500, message
        assert f"line {line}:" in message and reason in message, (message, reason)
        assert message.endswith("nothing was imported")
        assert fingerprint(session_factory) == before

    refused()


@pytest.mark.parametrize("importer", list(IMPORTERS))
def test_good_records_import_and_a_second_run_adds_nothing(database_url, session_factory, tmp_path, importer):
    path = tmp_path / f"good{IMPORTERS[importer].suffix}"

    @settings(FUZZ, max_examples=GOOD_EXAMPLES)
    @given(records=st.lists(GOOD[importer], min_size=1, max_size=6))
    def imported(records):
        write_file(path, importer, records)
        import_with_cli_function(database_url, path, importer)
        assert_present(session_factory, importer, records)
        after = fingerprint(session_factory)
        if importer != "eq-scores":  # eq-scores update in place: the last row for a key wins
            import_with_cli_function(database_url, path, importer)
            assert fingerprint(session_factory) == after

    imported()


def assert_present(session_factory, importer: str, records: list[dict]) -> None:
    with session_factory() as s:
        if importer == "prompts":
            hashes = set(s.scalars(select(Prompt.content_hash)))
            assert {content_hash(r["text"]) for r in records} <= hashes
        elif importer == "replies":
            stored = set(
                s.execute(select(Prompt.content_hash, Model.slug).join(Reply.prompt).join(Reply.model)).tuples()
            )
            assert {(content_hash(r["prompt"]), r["model"].strip()) for r in records} <= stored
        elif importer == "votes":
            voted = set(s.scalars(select(Battle.public_id).join(Vote, Vote.battle_id == Battle.id)))
            assert {r["question_id"] for r in records} <= voted
        else:
            stored = {(e.benchmark, e.snapshot, e.model_name): e.score for e in s.scalars(select(ModelEqScore))}
            last = {(r["benchmark"].strip(), r["snapshot"].strip(), r["model"].strip()): r["score"] for r in records}
            for key, score in last.items():
                assert math.isclose(stored[key], score, rel_tol=1e-12), key


# Per importer: a file whose second record is bad, and that record's line (CSV: after the header).
BAD_FILES = {
    "prompts": ([json.dumps({"text": "fine"}).encode(), b'{"text": "x", "emotions": ["Glee"]}'], 2),
    "replies": ([json.dumps({"prompt": "p", "model": "m", "reply": "r"}).encode(), b'{"prompt": "p", "model": "m"'], 2),
    "votes": ([b'{"model_a": "a", "model_b": "b", "winner": "tie"}', b'{"model_a": "a", "model_b": "b", "winner": 7}'],
              2),
    "eq-scores": ([{"model": "m", "benchmark": "b", "snapshot": "s", "score": "1"},
                   {"model": "m2", "benchmark": "b", "snapshot": "s", "score": "high"}], 3),
}  # fmt: skip


def test_the_cli_exits_2_with_one_stderr_line_for_every_importer(database_url, session_factory, tmp_path):
    seed(database_url, tmp_path)
    before = fingerprint(session_factory)
    for importer, (lines, bad_line_number) in BAD_FILES.items():
        path = write_file(tmp_path / f"bad-{importer}{IMPORTERS[importer].suffix}", importer, lines)
        result = run_arena("import", importer, str(path), "--database-url", database_url)
        assert result.returncode == 2, (importer, result.stderr)
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("arena: "), result.stderr
        assert f"line {bad_line_number}:" in result.stderr and "nothing was imported" in result.stderr, result.stderr
        assert result.stdout == ""
    assert fingerprint(session_factory) == before


def test_any_emotions_cell_in_a_prompts_csv_imports_or_names_line_2(database_url, session_factory, tmp_path):
    """The CSV spelling of emotions ("Sadness:2; Shame") parsed from arbitrary cells: a clean verdict either way."""
    path = tmp_path / "prompts.csv"
    cells = st.one_of(
        st.text(clean, max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),  # one physical line
        st.lists(st.tuples(emotion_name, st.sampled_from(["", ":0", ":2", ":3", ":x", ": 1"])), max_size=3).map(
            lambda tags: "; ".join(name + suffix for name, suffix in tags)
        ),
    )

    @settings(FUZZ, max_examples=20)
    @given(cell=cells)
    def judged(cell):
        before = fingerprint(session_factory)
        out = io.StringIO()
        csv.writer(out).writerows([["text", "emotions"], [f"Message with emotions {cell!r}", cell]])
        path.write_text(out.getvalue(), encoding="utf-8", newline="")
        try:
            import_with_cli_function(database_url, path, "prompts")
        except BadInput as refused:
            message = refused.format_message()
            assert "\n" not in message and "line 2:" in message and "emotion" in message, message
            assert fingerprint(session_factory) == before
            return
        with session_factory() as s:
            prompt = s.scalars(
                select(Prompt).where(Prompt.content_hash == content_hash(f"Message with emotions {cell!r}"))
            ).one()
            assert {e.category for e in prompt.emotions} <= set(EMONET_CATEGORIES)

    judged()
