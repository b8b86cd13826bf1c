"""Write battle files in the LMArena schema from synthetic battles, for import tests and benchmarks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ratings.simulate import SyntheticBattles

WINNER = {0: "model_a", 1: "model_b", 2: "tie", 3: "tie (bothbad)"}


def battle_records(battles: SyntheticBattles, names: list[str], prefix: str = "q"):
    for k, (a, b, o, v) in enumerate(
        zip(battles.model_a, battles.model_b, battles.outcome, battles.voter, strict=True)
    ):
        yield {
            "question_id": f"{prefix}{k}",
            "model_a": names[a],
            "model_b": names[b],
            "winner": WINNER[int(o)],
            "judge_hash": f"voter-{v}",
            "tstamp": 1_700_000_000 + k,
        }


def write_jsonl(path: Path, records) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")
    return path


def write_csv(path: Path, records) -> Path:
    records = list(records)
    columns = sorted({k for r in records for k in r})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        for r in records:
            writer.writerow({k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in r.items()})
    return path


def write_parquet(path: Path, records) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    records = list(records)
    columns = sorted({k for r in records for k in r})
    table = pa.table(
        {c: [json.dumps(r[c]) if isinstance(r.get(c), (dict, list)) else r.get(c) for r in records] for c in columns}
    )
    pq.write_table(table, path)
    return path
