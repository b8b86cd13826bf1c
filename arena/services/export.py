"""The analysis export (DESIGN §5): battles in the LMArena schema, the latest ratings and analysis, a Kaggle
55k-style view and a dataset card. Rows stream from the database in batches, so memory stays flat."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from arena.models import Battle, EqScore, Model, Prompt, PromptEmotion, Reply, Vote, utcnow
from arena.services.analysis import latest_analysis
from arena.services.features import FEATURE_SET_VERSION, style_counts
from arena.services.recompute import OVERALL, latest_run, run_ratings
from arena.taxonomy import GROUP_OF

FORMATS = ("parquet", "jsonl", "csv")
# FastChat's spelling of the outcome.
WINNER = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
# Prompts with these moderation flags never leave in a --public export.
PRIVATE_FLAGS = {"crisis", "personal_data"}
BATTLE_COLUMNS = (
    "question_id", "model_a", "model_b", "winner", "judge_hash", "conversation_a", "conversation_b", "turn",
    "anony", "language", "tstamp", "conv_metadata", "category_tag", "prompt_id", "sampling_prob", "eq_a", "eq_b",
    "counts_for_leaderboard", "exclusion_reason",
)  # fmt: skip
# Nested values: JSON text in CSV and Parquet (one flat, stable schema), native objects in JSONL.
NESTED = ("conversation_a", "conversation_b", "conv_metadata", "category_tag", "eq_a", "eq_b")
BATCH = 20_000


@dataclass(frozen=True)
class ExportSummary:
    battles: int
    skipped_private: int
    files: list[str]


def _conv_metadata(prompt: str | None, reply_a: str | None, reply_b: str | None) -> dict:
    """The arena-human-preference-140k style counts, from our own texts."""
    meta: dict = {}
    if prompt is not None:
        meta["sum_user_tokens"] = style_counts(prompt)["tokens"]
    for side, text in (("a", reply_a), ("b", reply_b)):
        if text is None:
            continue
        counts = style_counts(text)
        meta[f"sum_assistant_{side}_tokens"] = counts["tokens"]
        meta[f"header_count_{side}"] = counts["header_count"]
        meta[f"list_count_{side}"] = counts["list_count"]
        meta[f"bold_count_{side}"] = counts["bold_count"]
    return meta


def _category_tag(emotions: list[tuple[str, int]]) -> dict:
    return {
        "emotion_v0.1": {
            "categories": [{"name": name, "intensity": intensity} for name, intensity in emotions],
            "groups": sorted({GROUP_OF[name] for name, _ in emotions if name in GROUP_OF}),
        }
    }


def battle_rows(session: Session, *, public: bool, skipped: list[int]) -> Iterator[dict]:
    """One dict per voted battle, in the LMArena battle schema plus our columns."""
    slugs = dict(session.execute(select(Model.id, Model.slug)).all())
    reply_a, reply_b = aliased(Reply), aliased(Reply)
    stmt = (
        select(
            Battle.id, Battle.public_id, Battle.model_a_id, Battle.model_b_id, Battle.judge_key, Battle.language,
            Battle.sampling_prob, Battle.meta, Battle.prompt_id, Battle.reply_a_id, Battle.reply_b_id,
            Vote.outcome, Vote.created_at, Vote.counts_for_leaderboard, Vote.exclusion_reason,
            Prompt.text, Prompt.moderation_flags, Prompt.language, reply_a.text, reply_b.text,
        )
        .join(Vote, Vote.battle_id == Battle.id)
        .outerjoin(Prompt, Prompt.id == Battle.prompt_id)
        .outerjoin(reply_a, reply_a.id == Battle.reply_a_id)
        .outerjoin(reply_b, reply_b.id == Battle.reply_b_id)
        .order_by(Battle.id)
    )  # fmt: skip
    emotions: dict[int, list[tuple[str, int]]] = {}
    for prompt_id, category, intensity in session.execute(
        select(PromptEmotion.prompt_id, PromptEmotion.category, PromptEmotion.intensity).order_by(
            PromptEmotion.prompt_id, PromptEmotion.intensity.desc(), PromptEmotion.category
        )
    ):
        emotions.setdefault(prompt_id, []).append((category, intensity))
    eq = {(r, c): s for r, c, s in session.execute(select(EqScore.reply_id, EqScore.criterion, EqScore.score))}
    for row in session.execute(stmt).yield_per(BATCH):
        (battle_id, public_id, ma, mb, judge, language, prob, meta, prompt_id, ra_id, rb_id, outcome, voted_at,
         counts, reason, prompt_text, flags, prompt_language, text_a, text_b) = row  # fmt: skip
        if public and PRIVATE_FLAGS & set(flags or ()):
            skipped.append(battle_id)
            continue
        meta = meta or {}
        if text_a is not None and text_b is not None:
            conversation_a = [{"role": "user", "content": prompt_text}, {"role": "assistant", "content": text_a}]
            conversation_b = [{"role": "user", "content": prompt_text}, {"role": "assistant", "content": text_b}]
            conv_metadata = _conv_metadata(prompt_text, text_a, text_b)
        else:
            conversation_a, conversation_b = meta.get("conversation_a"), meta.get("conversation_b")
            conv_metadata = meta.get("conv_metadata")
        tags = emotions.get(prompt_id) if prompt_id is not None else None
        category_tag = meta.get("category_tag") or (_category_tag(tags) if tags else None)
        eq_a = meta.get("eq_a") or _reply_eq(eq, ra_id)
        eq_b = meta.get("eq_b") or _reply_eq(eq, rb_id)
        yield {
            "question_id": public_id,
            "model_a": slugs[ma],
            "model_b": slugs[mb],
            "winner": WINNER[outcome],
            "judge_hash": judge,
            "conversation_a": conversation_a,
            "conversation_b": conversation_b,
            "turn": meta.get("turn", 1),
            "anony": meta.get("anony", True),
            "language": language or prompt_language,
            "tstamp": voted_at.astimezone(UTC).timestamp(),
            "conv_metadata": conv_metadata,
            "category_tag": category_tag,
            "prompt_id": prompt_id,
            "sampling_prob": prob,
            "eq_a": eq_a,
            "eq_b": eq_b,
            "counts_for_leaderboard": bool(counts),
            "exclusion_reason": reason,
        }


def _reply_eq(eq: dict, reply_id: int | None) -> dict | None:
    if reply_id is None:
        return None
    scores = {criterion: score for (r, criterion), score in eq.items() if r == reply_id}
    return scores or None


def _flat(row: dict) -> dict:
    return {k: json.dumps(v, ensure_ascii=False) if k in NESTED and v is not None else v for k, v in row.items()}


class _Writer:
    """One battles file, written batch by batch."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._batch: list[dict] = []
        if fmt == "jsonl":
            self._handle = path.open("w", encoding="utf-8")
        elif fmt == "csv":
            self._handle = path.open("w", newline="", encoding="utf-8")
            self._csv = csv.DictWriter(self._handle, BATTLE_COLUMNS)
            self._csv.writeheader()
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            self._schema = pa.schema(
                [
                    ("question_id", pa.string()), ("model_a", pa.string()), ("model_b", pa.string()),
                    ("winner", pa.string()), ("judge_hash", pa.string()), ("conversation_a", pa.string()),
                    ("conversation_b", pa.string()), ("turn", pa.int64()), ("anony", pa.bool_()),
                    ("language", pa.string()), ("tstamp", pa.float64()), ("conv_metadata", pa.string()),
                    ("category_tag", pa.string()), ("prompt_id", pa.int64()), ("sampling_prob", pa.float64()),
                    ("eq_a", pa.string()), ("eq_b", pa.string()), ("counts_for_leaderboard", pa.bool_()),
                    ("exclusion_reason", pa.string()),
                ]
            )  # fmt: skip
            self._parquet = pq.ParquetWriter(path, self._schema, compression="zstd")

    def write(self, row: dict) -> None:
        if self.fmt == "jsonl":
            self._handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        elif self.fmt == "csv":
            self._csv.writerow(_flat(row))
        else:
            self._batch.append(_flat(row))
            if len(self._batch) >= BATCH:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._batch:
            columns = {name: [r[name] for r in self._batch] for name in self._schema.names}
            self._parquet.write_table(pa.table(columns, schema=self._schema))
            self._batch = []

    def close(self) -> None:
        if self.fmt == "parquet":
            self._flush()
            self._parquet.close()
        else:
            self._handle.close()


def _turn_texts(conversation, role: str) -> list[str]:
    return [t["content"] for t in conversation or () if isinstance(t, dict) and t.get("role") == role]


def _kaggle_row(row: dict) -> dict:
    winner = row["winner"]
    return {
        "id": row["question_id"],
        "model_a": row["model_a"],
        "model_b": row["model_b"],
        "prompt": json.dumps(_turn_texts(row["conversation_a"], "user"), ensure_ascii=False),
        "response_a": json.dumps(_turn_texts(row["conversation_a"], "assistant"), ensure_ascii=False),
        "response_b": json.dumps(_turn_texts(row["conversation_b"], "assistant"), ensure_ascii=False),
        "winner_model_a": int(winner == "model_a"),
        "winner_model_b": int(winner == "model_b"),
        "winner_tie": int(winner in ("tie", "tie (bothbad)")),
    }


KAGGLE_COLUMNS = ("id", "model_a", "model_b", "prompt", "response_a", "response_b", "winner_model_a",
                  "winner_model_b", "winner_tie")  # fmt: skip
RATING_COLUMNS = ("run_id", "category", "model", "rating", "ci_low", "ci_high", "rank_ub", "battles", "wins", "ties",
                  "win_rate", "ci_method", "bootstrap_rounds", "seed", "alpha", "both_bad", "code_version",
                  "computed_at")  # fmt: skip


def _write_ratings(session: Session, path: Path) -> int:
    run = latest_run(session, OVERALL)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, RATING_COLUMNS)
        writer.writeheader()
        if run is None:
            return 0
        n = 0
        for category in run.params.get("categories", [OVERALL]):
            for rating, model in run_ratings(session, run.id, category):
                writer.writerow({
                    "run_id": run.id, "category": category, "model": model.slug, "rating": rating.rating,
                    "ci_low": rating.ci_low, "ci_high": rating.ci_high, "rank_ub": rating.rank_ub,
                    "battles": rating.battles, "wins": rating.wins, "ties": rating.ties, "win_rate": rating.win_rate,
                    "ci_method": run.params.get("ci"), "bootstrap_rounds": run.params.get("rounds"), "seed": run.seed,
                    "alpha": run.params.get("alpha"), "both_bad": run.params.get("both_bad"),
                    "code_version": run.code_version, "computed_at": run.finished_at.isoformat(),
                })  # fmt: skip
                n += 1
        return n


def export(session: Session, out_dir: Path, fmt: str, *, public: bool = False) -> ExportSummary:
    """Write the export into `out_dir`. Each file is written under a temporary name and moved into place when
    complete, so a failed or interrupted export never leaves a half-written file behind."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    battles_path = out_dir / f"battles.{fmt}"
    kaggle_path = out_dir / "kaggle55k.csv"
    partial = {p: p.with_name(p.name + ".partial") for p in (battles_path, kaggle_path)}
    writer = _Writer(partial[battles_path], fmt)
    skipped: list[int] = []
    count = 0
    models: set[str] = set()
    with partial[kaggle_path].open("w", newline="", encoding="utf-8") as kaggle_handle:
        kaggle = csv.DictWriter(kaggle_handle, KAGGLE_COLUMNS)
        kaggle.writeheader()
        try:
            for row in battle_rows(session, public=public, skipped=skipped):
                writer.write(row)
                kaggle.writerow(_kaggle_row(row))
                models.update((row["model_a"], row["model_b"]))
                count += 1
        finally:
            writer.close()
    for final, temporary in partial.items():
        temporary.replace(final)
    ratings_rows = _write_ratings(session, out_dir / "ratings.csv")
    analysis = latest_analysis(session, OVERALL)
    (out_dir / "analysis.json").write_text(json.dumps(analysis.result if analysis else {}, indent=1) + "\n")
    (out_dir / "README.md").write_text(
        _dataset_card(fmt, count, len(models), len(skipped), public, ratings_rows, analysis is not None)
    )
    files = [battles_path.name, "ratings.csv", "analysis.json", "kaggle55k.csv", "README.md"]
    return ExportSummary(battles=count, skipped_private=len(skipped), files=files)


DATASET_CARD = Path(__file__).resolve().parent.parent / "data" / "dataset_card.md.j2"


def _dataset_card(fmt: str, battles: int, models: int, skipped: int, public: bool, ratings: int, analysis: bool) -> str:
    from jinja2 import Template

    template = Template(DATASET_CARD.read_text(encoding="utf-8"), keep_trailing_newline=True)
    return template.render(
        fmt=fmt, battles=battles, models=models, skipped=skipped, public=public, ratings=ratings, analysis=analysis,
        generated=utcnow().strftime("%Y-%m-%d %H:%M UTC"), feature_set=FEATURE_SET_VERSION,
        nested="native JSON values" if fmt == "jsonl" else "JSON text (decode with json.loads)",
    )  # fmt: skip
