"""Write battle files in the LMArena schema from synthetic battles, for import tests and benchmarks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

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


TRUE_EQ_EFFECT = 0.35  # log-odds per point of reply-level EQ difference


def synthetic_eq_battles(n: int, seed: int) -> list[dict]:
    """Battles whose outcome depends on model strength and on the EQ difference of the two replies; reply
    length varies but has no effect. Style counts ride in conv_metadata, as in LMArena data."""
    rng = np.random.default_rng(seed)
    names = [f"m{k}" for k in range(8)]
    strength = rng.normal(0, 0.5, len(names))
    records = []
    for k in range(n):
        a, b = rng.choice(len(names), 2, replace=False)
        eq_a, eq_b = rng.uniform(2, 9, 2).round(1)
        tokens_a, tokens_b = rng.integers(20, 400, 2)
        p = 1 / (1 + np.exp(-(strength[a] - strength[b] + TRUE_EQ_EFFECT * (eq_a - eq_b))))
        winner = "model_a" if rng.random() < p else "model_b"
        records.append({
            "question_id": f"eq-{k}", "model_a": names[a], "model_b": names[b], "winner": winner,
            "judge_hash": f"voter-{rng.integers(0, 400)}", "tstamp": 1_700_000_000 + k,
            "eq_a": {"overall": float(eq_a)}, "eq_b": {"overall": float(eq_b)},
            "conv_metadata": {
                "sum_assistant_a_tokens": int(tokens_a), "sum_assistant_b_tokens": int(tokens_b),
                "header_count_a": {"h1": 0}, "header_count_b": {"h1": int(rng.integers(0, 2))},
                "list_count_a": {"ordered": int(rng.integers(0, 3)), "unordered": 0},
                "list_count_b": {"ordered": 0, "unordered": int(rng.integers(0, 3))},
                "bold_count_a": {"**": int(rng.integers(0, 3)), "__": 0}, "bold_count_b": {"**": 0, "__": 0},
            },
        })  # fmt: skip
    return records
