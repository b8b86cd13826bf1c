"""The analysis export (DESIGN §5): battles in the LMArena schema, the latest ratings and analysis, the models
with their provenance, a Kaggle 55k-style view and a dataset card. Rows stream from the database in batches, so
memory stays flat."""

from __future__ import annotations

import csv
import gc
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy import Float, Text, cast, func, select
from sqlalchemy.orm import Session, aliased

from arena.hashing import canonical_config, public_pseudonym
from arena.jobs import provenance
from arena.jobs.export_conversations import ConversationReader
from arena.jobs.export_reasons import ReasonReader
from arena.jobs.features import FEATURE_SET_VERSION, style_counts
from arena.jobs.snapshots import OVERALL, latest_analysis, latest_run, run_ratings
from arena.models import Battle, EqScore, ImportedFile, JudgeVerdict, Model, Prompt, PromptEmotion, Reply, Vote, utcnow
from arena.taxonomy import GROUP_OF

FORMATS = ("parquet", "jsonl", "csv")
# FastChat's spelling of the outcome.
WINNER = {"model_a": "model_a", "model_b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}
# Prompts with these moderation flags never leave in a --public export.
PRIVATE_FLAGS = {"crisis", "personal_data"}
BATTLE_COLUMNS = (
    "question_id", "model_a", "model_b", "winner", "judge_hash", "conversation_a", "conversation_b", "turn",
    "anony", "language", "tstamp", "conv_metadata", "category_tag", "prompt_id", "sampling_prob", "eq_a", "eq_b",
    "counts_for_leaderboard", "exclusion_reason", "evaluation_session_id", "evaluation_order", "full_conversation",
    "eq_conversation_a", "eq_conversation_b", "judge_verdicts", "reasons_a", "reasons_b",
    "arm_a", "arm_b", "arm_a_prob", "arm_b_prob",
)  # fmt: skip
# Nested values: JSON text in CSV and Parquet (one flat, stable schema), native objects in JSONL.
NESTED = ("conversation_a", "conversation_b", "conv_metadata", "category_tag", "eq_a", "eq_b", "full_conversation",
          "eq_conversation_a", "eq_conversation_b", "judge_verdicts", "reasons_a", "reasons_b")  # fmt: skip
NESTED_AT = tuple(BATTLE_COLUMNS.index(name) for name in NESTED)
BATCH = 20_000


@dataclass(frozen=True)
class ExportSummary:
    battles: int
    skipped_private: int
    files: list[str]


def _conv_metadata(user_tokens: int, counts_a: dict, counts_b: dict) -> dict:
    """The arena-human-preference-140k style counts, from our own texts."""
    meta: dict = {"sum_user_tokens": user_tokens}
    for side, counts in (("a", counts_a), ("b", counts_b)):
        meta[f"sum_assistant_{side}_tokens"] = counts["tokens"]
        meta[f"header_count_{side}"] = counts["header_count"]
        meta[f"list_count_{side}"] = counts["list_count"]
        meta[f"bold_count_{side}"] = counts["bold_count"]
    return meta


def _conversation_metadata(a: list[dict], b: list[dict]) -> dict:
    """conv_metadata over every turn: each side's answers counted together, the person's messages of side A."""

    def counts(messages: list[dict], role: str) -> dict:
        return style_counts("\n\n".join(m["content"] for m in messages if m["role"] == role))

    return _conv_metadata(counts(a, "user")["tokens"], counts(a, "assistant"), counts(b, "assistant"))


def _category_tag(emotions: list[tuple[str, int]]) -> dict:
    return {
        "emotion_v0.1": {
            "categories": [{"name": name, "intensity": intensity} for name, intensity in emotions],
            "groups": sorted({GROUP_OF[name] for name, _ in emotions if name in GROUP_OF}),
        }
    }


def _epoch_seconds(session: Session):
    """The vote's time as seconds since the epoch, computed by the database (a million datetime objects built
    only to be turned back into numbers cost seconds). Exact to the microsecond on both backends."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.extract("epoch", Vote.created_at), Float)
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole seconds from strftime, the fraction from the text.
    # strftime is given the whole seconds only: it rounds a fraction to milliseconds, so .9995 would carry.
    stored = cast(Vote.created_at, Text)
    whole = cast(func.strftime("%s", func.substr(stored, 1, 19)), Float)
    return whole + func.coalesce(cast(func.substr(stored, 20, 7), Float), 0.0)


def _raw_rows(session: Session, stmt) -> Iterator[tuple]:
    """Stream the rows through the driver's own cursor: every column is already plain (numbers and text), so
    SQLAlchemy's per-row result processing would only cost time. PostgreSQL uses a server-side cursor so the
    rows never all sit in memory."""
    connection = session.connection()
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    raw = connection.connection.driver_connection
    cursor = raw.cursor(name="arena_export") if connection.dialect.name == "postgresql" else raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(BATCH):
            yield from rows
    finally:
        cursor.close()


def _json(value) -> str:
    return orjson.dumps(value).decode()


# A pairwise verdict read into the battle's sides, FastChat's spelling: shown as the voter saw the replies, swapped.
_SHOWN = {"A": "model_a", "B": "model_b", "tie": "tie"}
_SWAPPED = {"A": "model_b", "B": "model_a", "tie": "tie"}


def _judge_verdicts(session: Session) -> dict[tuple[int, int], dict[str, str]]:
    """Every pairwise verdict by (reply shown first, reply shown second): {judge: verdict}."""
    found: dict[tuple[int, int], dict[str, str]] = {}
    for judge, first, second, verdict in session.execute(
        select(JudgeVerdict.judge, JudgeVerdict.reply_first_id, JudgeVerdict.reply_second_id, JudgeVerdict.verdict)
    ):
        found.setdefault((first, second), {})[judge] = verdict
    return found


def _battle_verdicts(verdicts: dict, reply_a: int | None, reply_b: int | None) -> dict | None:
    """{judge: {"shown": winner, "swapped": winner}} for a battle's replies (`arena judge pairwise`), or None."""
    if not verdicts or reply_a is None or reply_b is None:
        return None
    out: dict[str, dict[str, str]] = {}
    for judge, verdict in verdicts.get((reply_a, reply_b), {}).items():
        out.setdefault(judge, {})["shown"] = _SHOWN[verdict]
    for judge, verdict in verdicts.get((reply_b, reply_a), {}).items():
        out.setdefault(judge, {})["swapped"] = _SWAPPED[verdict]
    return out or None


def battle_rows(session: Session, *, public: bool, skipped: list[int], secret_key: str | None = None) -> Iterator[dict]:
    """One dict per voted battle, in the LMArena battle schema plus our columns (BATTLE_COLUMNS order). Kept
    lean: it runs once per battle, a million times for a large arena. A public export's `judge_hash` is the
    voter's pseudonym under `secret_key` (required then), never the stored key that deletion accepts."""
    voter = (lambda key: key and public_pseudonym(secret_key, key)) if public else (lambda key: key)
    slugs = dict(session.execute(select(Model.id, Model.slug)).all())
    reply_a, reply_b = aliased(Reply), aliased(Reply)
    stmt = (
        select(
            Battle.id, Battle.public_id, Battle.model_a_id, Battle.model_b_id, Battle.judge_key, Battle.language,
            Battle.sampling_prob, cast(Battle.meta, Text), Battle.prompt_id, Battle.reply_a_id, Battle.reply_b_id,
            Vote.outcome, _epoch_seconds(session), Vote.counts_for_leaderboard, Vote.exclusion_reason, Vote.turns,
            Prompt.text, cast(Prompt.moderation_flags, Text), Prompt.language, reply_a.text, reply_b.text,
            Battle.arm_a, Battle.arm_b, Battle.arm_a_prob, Battle.arm_b_prob,
        )
        .join(Vote, Vote.battle_id == Battle.id)
        .outerjoin(Prompt, Prompt.id == Battle.prompt_id)
        .outerjoin(reply_a, reply_a.id == Battle.reply_a_id)
        .outerjoin(reply_b, reply_b.id == Battle.reply_b_id)
        # Battles of a reply against its edit are no model battle (one model on both sides): the edits study's.
        .where(Battle.source != "edit")
        .order_by(Battle.id)
    )  # fmt: skip
    emotions: dict[int, list[tuple[str, int]]] = {}
    for prompt_id, category, intensity in session.execute(
        select(PromptEmotion.prompt_id, PromptEmotion.category, PromptEmotion.intensity).order_by(
            PromptEmotion.prompt_id, PromptEmotion.intensity.desc(), PromptEmotion.category
        )
    ):
        emotions.setdefault(prompt_id, []).append((category, intensity))
    eq: dict[int, dict[str, float]] = {}
    for reply_id, criterion, score in session.execute(select(EqScore.reply_id, EqScore.criterion, EqScore.score)):
        eq.setdefault(reply_id, {})[criterion] = score
    verdicts = _judge_verdicts(session)
    # Battles with a conversation row (multi-turn, transcript, or an evaluation session), read in chunks as the
    # battles stream past (in id order).
    conversations = ConversationReader(session, PRIVATE_FLAGS)
    # Each vote's optional reasons per side (the reveal's chips), read the same way.
    reasons = ReasonReader(session)
    # Replies and prompts recur across battles: count each one's style once.
    counted: dict[int, dict] = {}
    prompt_tokens: dict[int, int] = {}
    for row in _raw_rows(session, stmt):
        (battle_id, public_id, ma, mb, judge, language, prob, meta_text, prompt_id, ra_id, rb_id, outcome, tstamp,
         counts, reason, vote_turns, prompt_text, flags_text, prompt_language, text_a, text_b, arm_a, arm_b,
         arm_a_prob, arm_b_prob) = row  # fmt: skip
        conversation = conversations.get(battle_id)
        if public and (
            (flags_text and PRIVATE_FLAGS & set(orjson.loads(flags_text)))
            or (conversation is not None and conversation.private)
        ):
            # A flagged message at any turn keeps the whole battle private, as one at the first turn does.
            skipped.append(battle_id)
            continue
        meta = orjson.loads(meta_text) if meta_text and meta_text != "{}" else {}
        turn = meta.get("turn", 1)
        if conversation is not None and conversation.mode != "single" and conversation.conversation_a is not None:
            conversation_a, conversation_b = conversation.conversation_a, conversation.conversation_b
            turn = vote_turns
            conv_metadata = meta.get("conv_metadata") or _conversation_metadata(conversation_a, conversation_b)
        elif text_a is not None and text_b is not None:
            conversation_a = [{"role": "user", "content": prompt_text}, {"role": "assistant", "content": text_a}]
            conversation_b = [{"role": "user", "content": prompt_text}, {"role": "assistant", "content": text_b}]
            for reply_id, text in ((ra_id, text_a), (rb_id, text_b)):
                if reply_id not in counted:
                    counted[reply_id] = style_counts(text)
            if prompt_id not in prompt_tokens:
                prompt_tokens[prompt_id] = style_counts(prompt_text)["tokens"]
            conv_metadata = _conv_metadata(prompt_tokens[prompt_id], counted[ra_id], counted[rb_id])
        else:
            conversation_a, conversation_b = meta.get("conversation_a"), meta.get("conversation_b")
            conv_metadata = meta.get("conv_metadata")
        tags = emotions.get(prompt_id) if prompt_id is not None else None
        reasons_a, reasons_b = reasons.get(battle_id)
        yield {
            "question_id": public_id,
            "model_a": slugs[ma],
            "model_b": slugs[mb],
            "winner": WINNER[outcome],
            "judge_hash": voter(judge),
            "conversation_a": conversation_a,
            "conversation_b": conversation_b,
            "turn": turn,
            "anony": meta.get("anony", True),
            "language": language or prompt_language,
            "tstamp": tstamp,
            "conv_metadata": conv_metadata,
            "category_tag": meta.get("category_tag") or (_category_tag(tags) if tags else None),
            "prompt_id": prompt_id,
            "sampling_prob": prob,
            "eq_a": meta.get("eq_a") or eq.get(ra_id),
            "eq_b": meta.get("eq_b") or eq.get(rb_id),
            "counts_for_leaderboard": bool(counts),
            "exclusion_reason": reason,
            "evaluation_session_id": conversation.session if conversation else None,
            "evaluation_order": conversation.order if conversation else None,
            "full_conversation": conversation.full_conversation if conversation else None,
            "eq_conversation_a": meta.get("eq_conversation_a") or (conversation and conversation.eq_conversation_a),
            "eq_conversation_b": meta.get("eq_conversation_b") or (conversation and conversation.eq_conversation_b),
            "judge_verdicts": meta.get("judge_verdicts") or _battle_verdicts(verdicts, ra_id, rb_id),
            "reasons_a": reasons_a,
            "reasons_b": reasons_b,
            # Presentation arms: conversation_a/_b hold the replies as written; arena.voting.arms.shown_texts
            # rebuilds what the voter saw from them and these.
            "arm_a": arm_a,
            "arm_b": arm_b,
            "arm_a_prob": arm_a_prob,
            "arm_b_prob": arm_b_prob,
        }


def _flat(row: dict) -> tuple:
    """A row as CSV and Parquet hold it: nested values as JSON text."""
    return tuple(_json(v) if k in NESTED and v is not None else v for k, v in row.items())


class _Writer:
    """One battles file, written batch by batch."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._batch: list[tuple] = []
        if fmt == "jsonl":
            self._handle = path.open("w", encoding="utf-8")
        elif fmt == "csv":
            self._handle = path.open("w", newline="", encoding="utf-8")
            self._csv = csv.writer(self._handle)
            self._csv.writerow(BATTLE_COLUMNS)
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
                    ("exclusion_reason", pa.string()), ("evaluation_session_id", pa.string()),
                    ("evaluation_order", pa.int64()), ("full_conversation", pa.string()),
                    ("eq_conversation_a", pa.string()), ("eq_conversation_b", pa.string()),
                    ("judge_verdicts", pa.string()),
                    ("reasons_a", pa.string()), ("reasons_b", pa.string()),
                    ("arm_a", pa.string()), ("arm_b", pa.string()), ("arm_a_prob", pa.float64()),
                    ("arm_b_prob", pa.float64()),
                ]
            )  # fmt: skip
            self._parquet = pq.ParquetWriter(path, self._schema, compression="zstd")

    def write(self, row: dict) -> None:
        if self.fmt == "jsonl":
            self._handle.write(_json(row) + "\n")
        elif self.fmt == "csv":
            self._csv.writerow(_flat(row))
        else:
            # Encoded now, not at the flush: a batch of multi-turn conversations held as dicts costs ten times more.
            values = list(row.values())
            for k in NESTED_AT:
                if values[k] is not None:
                    values[k] = _json(values[k])
            self._batch.append(values)
            if len(self._batch) >= BATCH:
                self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._batch:
            columns = dict(zip(BATTLE_COLUMNS, map(list, zip(*self._batch, strict=True)), strict=True))
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


def _kaggle_row(row: dict) -> tuple:
    """A row in KAGGLE_COLUMNS order: texts as JSON lists of turns, the outcome one-hot."""
    winner, a, b = row["winner"], row["conversation_a"], row["conversation_b"]
    return (
        row["question_id"],
        row["model_a"],
        row["model_b"],
        _json(_turn_texts(a, "user")) if a else "[]",
        _json(_turn_texts(a, "assistant")) if a else "[]",
        _json(_turn_texts(b, "assistant")) if b else "[]",
        int(winner == "model_a"),
        int(winner == "model_b"),
        int(winner in ("tie", "tie (bothbad)")),
    )


KAGGLE_COLUMNS = ("id", "model_a", "model_b", "prompt", "response_a", "response_b", "winner_model_a",
                  "winner_model_b", "winner_tie")  # fmt: skip
RATING_COLUMNS = ("run_id", "category", "model", "rating", "ci_low", "ci_high", "rank_ub", "battles", "wins", "ties",
                  "win_rate", "both_bad_share", "both_bad_low", "both_bad_high", "borrowed", "component", "ci_method",
                  "bootstrap_rounds", "seed", "alpha", "both_bad", "code_version", "computed_at")  # fmt: skip


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
                    "both_bad_share": rating.both_bad_share, "both_bad_low": rating.both_bad_low,
                    "both_bad_high": rating.both_bad_high, "borrowed": rating.borrowed, "component": rating.component,
                    "ci_method": run.params.get("ci"), "bootstrap_rounds": run.params.get("rounds"), "seed": run.seed,
                    "alpha": run.params.get("alpha"), "both_bad": run.params.get("both_bad"),
                    "code_version": run.code_version, "computed_at": run.finished_at.isoformat(),
                })  # fmt: skip
                n += 1
        return n


MODEL_COLUMNS = ("model", "display_name", "provider", "litellm_model", "config_hash", "config", "variant_of", "active",
                 "retired_at", "created_at", "first_seen", "last_seen", "recent_battles", "sampling_share",
                 "sampling_window_days")  # fmt: skip


def _write_models(session: Session, path: Path) -> int:
    """One row per model: its provenance (configuration hash and the canonical configuration it hashes, the row
    it replaced, retirement) and, measured now, its first and last battle and sampling share."""
    seen = provenance.measure(session)
    models = list(session.scalars(select(Model).order_by(Model.slug)))
    slugs = {m.id: m.slug for m in models}
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, MODEL_COLUMNS)
        writer.writeheader()
        for m in models:
            entry = seen["models"].get(str(m.id)) or {}
            config = canonical_config(m.litellm_model, m.meta)
            share = entry.get("sampling_share")
            writer.writerow({
                "model": m.slug, "display_name": m.display_name, "provider": m.provider,
                "litellm_model": m.litellm_model, "config_hash": m.config_hash,
                "config": None if config is None else json.dumps(config, sort_keys=True, ensure_ascii=False),
                "variant_of": slugs.get(m.variant_of_id), "active": m.active,
                "retired_at": m.retired_at.isoformat() if m.retired_at else None,
                "created_at": m.created_at.isoformat() if m.created_at else None,
                "first_seen": entry.get("first_seen"), "last_seen": entry.get("last_seen"),
                "recent_battles": entry.get("recent_battles", 0),
                "sampling_share": 0.0 if share is None and seen["recent_battles"] else share,
                "sampling_window_days": seen["window_days"],
            })  # fmt: skip
    partial.replace(path)
    return len(models)


class ExportError(ValueError):
    """The export cannot be written where asked; the message names the path."""


def _refuse_symlinks(out_dir: Path, names: list[str]) -> None:
    # A link planted where an export file goes would have the export overwrite whatever it points at.
    for name in names:
        for path in (out_dir / name, out_dir / f"{name}.partial"):
            if path.is_symlink():
                raise ExportError(f"{path} is a symbolic link; the export never writes through one (remove it)")


def _write_text(path: Path, text: str) -> None:
    """Write beside `path`, then move into place: the move replaces a link itself, never what it points at."""
    partial = path.with_name(path.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    partial.replace(path)


def export(
    session: Session, out_dir: Path, fmt: str, *, public: bool = False, secret_key: str | None = None
) -> ExportSummary:
    """Write the export into `out_dir`. Each file is written under a temporary name and moved into place when
    complete, so a failed or interrupted export never leaves a half-written file behind."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    if public and not secret_key:
        raise ExportError("a public export needs the site's ARENA_SECRET_KEY: its voter pseudonyms are keyed by it")
    out_dir.mkdir(parents=True, exist_ok=True)
    battles_path = out_dir / f"battles.{fmt}"
    kaggle_path = out_dir / "kaggle55k.csv"
    _refuse_symlinks(
        out_dir, [battles_path.name, kaggle_path.name, "ratings.csv", "models.csv", "analysis.json", "README.md"]
    )
    partial = {p: p.with_name(p.name + ".partial") for p in (battles_path, kaggle_path)}
    writer = _Writer(partial[battles_path], fmt)
    skipped: list[int] = []
    # A million short-lived rows and no reference cycles: the cyclic collector would only rescan the batch
    # being built, again and again (about a fifth of the run time). It is back on when the export ends.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    count = not_anonymous = 0
    models: set[str] = set()
    with partial[kaggle_path].open("w", newline="", encoding="utf-8") as kaggle_handle:
        kaggle = csv.writer(kaggle_handle)
        kaggle.writerow(KAGGLE_COLUMNS)
        try:
            for row in battle_rows(session, public=public, skipped=skipped, secret_key=secret_key):
                writer.write(row)
                kaggle.writerow(_kaggle_row(row))
                models.add(row["model_a"])
                models.add(row["model_b"])
                count += 1
                not_anonymous += row["anony"] is False
        finally:
            writer.close()
            if gc_was_enabled:
                gc.enable()
    for final, temporary in partial.items():
        temporary.replace(final)
    ratings_rows = _write_ratings(session, out_dir / "ratings.csv")
    model_rows = _write_models(session, out_dir / "models.csv")
    analysis = latest_analysis(session, OVERALL)
    _write_text(out_dir / "analysis.json", json.dumps(analysis.result if analysis else {}, indent=1) + "\n")
    imports = session.scalars(select(ImportedFile).order_by(ImportedFile.id)).all()
    _write_text(
        out_dir / "README.md",
        _dataset_card(fmt, count, len(models), len(skipped), public, ratings_rows, analysis is not None, model_rows,
                      not_anonymous=not_anonymous, imports=imports),
    )  # fmt: skip
    files = [battles_path.name, "ratings.csv", "models.csv", "analysis.json", "kaggle55k.csv", "README.md"]
    return ExportSummary(battles=count, skipped_private=len(skipped), files=files)


DATASET_CARD = Path(__file__).resolve().parent.parent / "data" / "dataset_card.md.j2"


def _dataset_card(
    fmt: str, battles: int, models: int, skipped: int, public: bool, ratings: int, analysis: bool, model_rows: int = 0,
    *, not_anonymous: int = 0, imports=(),
) -> str:  # fmt: skip
    from jinja2 import Template

    template = Template(DATASET_CARD.read_text(encoding="utf-8"), keep_trailing_newline=True)
    return template.render(
        fmt=fmt, battles=battles, models=models, skipped=skipped, public=public, ratings=ratings, analysis=analysis,
        model_rows=model_rows, window_days=provenance.WINDOW_DAYS, not_anonymous=not_anonymous,
        imports=[import_entry(f) for f in imports],
        generated=utcnow().strftime("%Y-%m-%d %H:%M UTC"), feature_set=FEATURE_SET_VERSION,
        nested="native JSON values" if fmt == "jsonl" else "JSON text (decode with json.loads)",
    )  # fmt: skip


def import_entry(row) -> dict:
    """An imported file as the card lists it; text cells keep no pipe or newline that would break the table."""
    anony = (row.meta or {}).get("anony") or {}

    def cell(text: str | None) -> str:
        return " ".join((text or "").replace("|", "\\|").split())

    return {
        "kind": row.kind, "file_name": cell(row.file_name), "sha256": row.sha256, "rows": row.rows,
        "imported": row.imported, "source": cell(row.source) or "not given",
        "date": row.created_at.strftime("%Y-%m-%d"),
        "anony_true": anony.get("true"), "anony_false": anony.get("false"), "anony_absent": anony.get("absent"),
    }  # fmt: skip
