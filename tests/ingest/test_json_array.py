"""The JSON-array reader cuts every element out whole, wherever the file's chunks happen to end: inside a
string, an escape, between elements, or right after a comma (tried with every small chunk size)."""

from __future__ import annotations

import json

import orjson
import pytest

import arena.ingest.json_array as json_array

RECORDS = [
    {"question_id": f"q{k}", "text": 'a "quoted" }] {[ \\ text' * (k % 3), "nested": [1, {"b": "]"}], "n": None}
    for k in range(40)
]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 16, 64, 1 << 20])
@pytest.mark.parametrize("indent", [None, 2])
def test_every_element_whole_at_any_chunk_size(tmp_path, monkeypatch, chunk, indent):
    monkeypatch.setattr(json_array, "CHUNK", chunk)
    path = tmp_path / "battles.json"
    path.write_text(json.dumps(RECORDS, indent=indent))
    elements = list(json_array.array_elements(path))
    assert [orjson.loads(raw) for _, raw, _ in elements] == RECORDS
    if indent:  # each element opens on its own line; the line numbers say where
        lines = path.read_text().splitlines()
        assert all(lines[line - 1].strip() == "{" for line, _, _ in elements)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("{}", "not a JSON array"), ("[", "ends early"), ("[1,", "ends early"), ("[,1]", "where an element"),
     ("[1,]", "where an element"), ('[{"a": "}', "ends inside an element"), ("[1 2}", "")],
)  # fmt: skip
def test_a_broken_array_says_where(tmp_path, text, reason):
    path = tmp_path / "bad.json"
    path.write_text(text)
    try:
        for _, raw, _ in json_array.array_elements(path):
            orjson.loads(raw)
    except (json_array.ArrayError, orjson.JSONDecodeError) as exc:
        assert reason in str(exc)
    else:
        pytest.fail("a broken array was read")
