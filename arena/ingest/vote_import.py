"""Import battles in the LMArena battle schema (DESIGN §5), streaming and all-or-nothing.

Each record is validated as it is read and staged in a temporary table in the same transaction; the battles
and votes are then written with two INSERT ... SELECT statements. A malformed record aborts the import and
rolls everything back, so the database is as it was before. Records already present (same question_id) are
skipped, which makes a re-import a no-op.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import Connection, func, select, text
from sqlalchemy.orm import Session

from arena.ingest.catalog import CatalogError, content_hash, emotion_tags, get_or_create_prompt
from arena.ingest.records import RecordError
from arena.models import Battle, Model, Prompt

WINNERS = {
    "model_a": "model_a",
    "model_b": "model_b",
    "tie": "tie",
    "tie (bothbad)": "both_bad",
    "both_bad": "both_bad",
}
# Fields kept verbatim in the battle's metadata.
KEPT_FIELDS = ("conversation_a", "conversation_b", "conv_metadata", "category_tag", "eq_a", "eq_b", "turn", "anony")
JSON_FIELDS = ("conversation_a", "conversation_b", "conv_metadata", "category_tag", "eq_a", "eq_b")
EMOTION_TAG = "emotion_v0.1"
BATCH = 5_000


@dataclass(frozen=True)
class ImportSummary:
    read: int
    imported: int
    skipped: int
    new_models: int

    def __str__(self) -> str:
        return (
            f"{self.read} battles read: {self.imported} imported, {self.skipped} already present, "
            f"{self.new_models} new models"
        )


class StagedBattle(NamedTuple):
    question_id: str
    model_a: str
    model_b: str
    outcome: str
    # Seconds since the epoch (UTC); turned into a timestamp by the database.
    tstamp: float
    judge_key: str | None
    language: str | None
    prompt_text: str | None
    emotions: list
    meta: dict
    counts: bool
    exclusion_reason: str | None


def _first_user_turn(conversation) -> str | None:
    for turn in conversation or ():
        if isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
            return turn["content"]
    return None


def _check_conversation(name: str, value) -> None:
    if not isinstance(value, list) or not all(
        isinstance(t, dict) and isinstance(t.get("role"), str) and isinstance(t.get("content"), str) for t in value
    ):
        raise ValueError(f"{name} must be a list of {{role, content}} turns")


def _eq_value(name: str, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, dict)):
        raise ValueError(f"{name} must be a number or an object of numbers")
    scores = value if isinstance(value, dict) else {"overall": value}
    for key, score in scores.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"{name}.{key} must be a finite number")
    return scores


def parse_battle(record: dict, now: float | None = None) -> StagedBattle:
    """Validate one record; raises ValueError naming the problem. Kept lean: it runs once per battle."""
    model_a, model_b, winner = record.get("model_a"), record.get("model_b"), record.get("winner")
    if model_a in (None, "") or model_b in (None, "") or winner in (None, ""):
        missing = [f for f in ("model_a", "model_b", "winner") if record.get(f) in (None, "")]
        raise ValueError(f"missing required field(s): {', '.join(missing)}")
    if not isinstance(model_a, str) or not isinstance(model_b, str):
        raise ValueError("model_a and model_b must be strings")
    model_a, model_b = model_a.strip(), model_b.strip()
    if not model_a or not model_b or len(model_a) > 200 or len(model_b) > 200:
        raise ValueError("model names must be 1 to 200 characters")
    if model_a == model_b:
        raise ValueError(f"model_a and model_b are the same model ({model_a!r})")
    outcome = WINNERS.get(winner) if isinstance(winner, str) else None
    if outcome is None:
        raise ValueError(f"winner must be one of {', '.join(WINNERS)}; got {winner!r}")

    tstamp = record.get("tstamp")
    if tstamp is None:
        tstamp = time.time() if now is None else now
    else:
        try:
            tstamp = float(tstamp)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"tstamp must be seconds since the epoch; got {tstamp!r}") from exc
        if not 0 <= tstamp < 32_503_680_000:  # 1970 to 3000
            raise ValueError(f"tstamp must be seconds since the epoch between 1970 and 3000; got {tstamp!r}")

    judge = record.get("judge_hash")
    if judge is not None:
        judge = str(judge)
        # A longer key than we store is hashed down, never cut (cutting could merge voters).
        if len(judge) > 64:
            judge = hashlib.sha256(judge.encode()).hexdigest()
    language = record.get("language")
    if language is not None and (not isinstance(language, str) or len(language) > 16):
        raise ValueError("language must be a short string such as 'English' or 'en'")

    meta = {f: record[f] for f in KEPT_FIELDS if record.get(f) is not None} if len(record) > 3 else {}
    prompt_text, emotions = None, []
    if meta:
        meta, prompt_text, emotions = _parse_meta(meta)

    question_id = record.get("question_id")
    if question_id is None or question_id == "":
        # No id given: derive one from the content, so importing the same file twice is still a no-op.
        digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:32]
        question_id = f"sha256:{digest}"
    elif not isinstance(question_id, str):
        question_id = str(question_id)
    if len(question_id) > 128:
        raise ValueError("question_id is longer than 128 characters")
    # An export carries each vote's standing; a plain battle file counts every vote.
    counts = record.get("counts_for_leaderboard", True)
    if isinstance(counts, str):
        counts = counts.strip().lower() in ("true", "1", "yes")
    if not isinstance(counts, bool):
        raise ValueError("counts_for_leaderboard must be true or false")
    reason = record.get("exclusion_reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 64):
        raise ValueError("exclusion_reason must be a string of at most 64 characters")
    return StagedBattle(
        question_id, model_a, model_b, outcome, tstamp, judge, language, prompt_text, emotions, meta, counts, reason
    )


def _parse_meta(meta: dict) -> tuple[dict, str | None, list]:
    for field in JSON_FIELDS:  # CSV cells and Parquet strings carry nested values as JSON text
        if isinstance(meta.get(field), str):
            try:
                meta[field] = json.loads(meta[field])
            except json.JSONDecodeError as exc:
                raise ValueError(f"{field} is not valid JSON ({exc.msg})") from exc
    for side in ("conversation_a", "conversation_b"):
        if side in meta:
            _check_conversation(side, meta[side])
    for side in ("eq_a", "eq_b"):
        if side in meta:
            meta[side] = _eq_value(side, meta[side])
    for field in ("conv_metadata", "category_tag"):
        if field in meta and not isinstance(meta[field], dict):
            raise ValueError(f"{field} must be an object")
    emotions: list = []
    emotion_tag = (meta.get("category_tag") or {}).get(EMOTION_TAG)
    if emotion_tag is not None:
        categories = emotion_tag.get("categories", []) if isinstance(emotion_tag, dict) else emotion_tag
        try:
            emotions = [{"name": c, "intensity": i} for c, i in emotion_tags(categories)]
        except CatalogError as exc:
            raise ValueError(f"category_tag.{EMOTION_TAG}: {exc}") from exc
    return meta, _first_user_turn(meta.get("conversation_a")), emotions


class _Staging:
    """A temporary table in the import's own transaction; bulk-loaded with the driver's fastest path."""

    COLUMNS = ("seq", "question_id", "model_a_id", "model_b_id", "outcome", "tstamp", "judge_key", "language",
               "prompt_id", "meta", "counted", "exclusion_reason")  # fmt: skip

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        postgres = self.dialect == "postgresql"
        real = "DOUBLE PRECISION" if postgres else "REAL"
        # On PostgreSQL each staged row takes its battle id from the battle sequence as COPY writes it, so
        # battles and votes are both written straight from the staging table, with no join back by public_id.
        battle_id = ", battle_id INTEGER DEFAULT nextval(pg_get_serial_sequence('battle', 'id'))" if postgres else ""
        connection.execute(text("DROP TABLE IF EXISTS import_staging"))
        connection.execute(
            text(
                "CREATE TEMPORARY TABLE import_staging (seq INTEGER PRIMARY KEY, question_id VARCHAR(128) NOT NULL, "
                "model_a_id INTEGER NOT NULL, model_b_id INTEGER NOT NULL, outcome VARCHAR(16) NOT NULL, "
                f"tstamp {real} NOT NULL, judge_key VARCHAR(64), language VARCHAR(16), prompt_id INTEGER, "
                f"meta TEXT NOT NULL, counted BOOLEAN NOT NULL, exclusion_reason VARCHAR(64){battle_id})"
            )
        )

    def load(self, rows: list[tuple]) -> None:
        raw = self.connection.connection.driver_connection
        if self.dialect == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY import_staging ({', '.join(self.COLUMNS)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join("?" * len(self.COLUMNS))
            cursor = raw.cursor()
            cursor.executemany(f"INSERT INTO import_staging VALUES ({placeholders})", rows)
            cursor.close()

    def write_battles_and_votes(self, exclusive: bool = False) -> int:
        """Insert the first record of each new question_id as a voted battle with its vote; returns how many."""
        inserted = self._write_postgresql(exclusive) if self.dialect == "postgresql" else self._write_sqlite()
        self.connection.execute(text("DROP TABLE import_staging"))
        return inserted

    def _write_postgresql(self, exclusive: bool) -> int:
        run = self.connection.exec_driver_sql
        run("SET LOCAL work_mem = '256MB'")
        run("ANALYZE import_staging")
        # Keep only what is new: drop records already imported, then repeats of a question_id within the file.
        run("DELETE FROM import_staging s USING battle b WHERE b.public_id = s.question_id")
        run(
            "DELETE FROM import_staging s USING (SELECT question_id, MIN(seq) AS first FROM import_staging "
            "GROUP BY question_id HAVING COUNT(*) > 1) d WHERE s.question_id = d.question_id AND s.seq > d.first"
        )
        with _checked_once_for_the_file(self.connection) if exclusive else contextlib.nullcontext():
            inserted = run(
                "INSERT INTO battle (id, public_id, source, prompt_id, model_a_id, model_b_id, judge_key, status, "
                "created_at, language, metadata) SELECT battle_id, question_id, 'import', prompt_id, model_a_id, "
                "model_b_id, judge_key, 'voted', to_timestamp(tstamp), language, meta::json FROM import_staging"
            ).rowcount
            run(
                "INSERT INTO vote (battle_id, model_a_id, model_b_id, outcome, created_at, counts_for_leaderboard, "
                "exclusion_reason) SELECT battle_id, model_a_id, model_b_id, outcome, to_timestamp(tstamp), counted, "
                "exclusion_reason FROM import_staging"
            )
        return inserted

    def _write_sqlite(self) -> int:
        first_of_each = "s.seq IN (SELECT MIN(seq) FROM import_staging GROUP BY question_id)"
        # The naive UTC text with microseconds that SQLAlchemy reads back as a timestamp.
        created_at = (
            "strftime('%Y-%m-%d %H:%M:%S', s.tstamp, 'unixepoch') || "
            "printf('.%06d', CAST(round((s.tstamp - CAST(s.tstamp AS INTEGER)) * 1000000) AS INTEGER) % 1000000)"
        )
        before = self.connection.execute(select(func.count()).select_from(Battle)).scalar_one()
        self.connection.execute(
            text(
                "INSERT INTO battle (public_id, source, prompt_id, model_a_id, model_b_id, judge_key, status, "
                "created_at, language, metadata) "
                f"SELECT s.question_id, 'import', s.prompt_id, s.model_a_id, s.model_b_id, s.judge_key, 'voted', "
                f"{created_at}, s.language, s.meta FROM import_staging s "
                f"WHERE {first_of_each} AND NOT EXISTS (SELECT 1 FROM battle b WHERE b.public_id = s.question_id) "
                "ORDER BY s.seq"
            )
        )
        inserted = self.connection.execute(select(func.count()).select_from(Battle)).scalar_one() - before
        self.connection.execute(
            text(
                "INSERT INTO vote (battle_id, model_a_id, model_b_id, outcome, created_at, counts_for_leaderboard, "
                "exclusion_reason) SELECT b.id, b.model_a_id, b.model_b_id, s.outcome, b.created_at, s.counted, "
                "s.exclusion_reason FROM import_staging s "
                "JOIN battle b ON b.public_id = s.question_id "
                f"WHERE {first_of_each} AND b.source = 'import' "
                "AND NOT EXISTS (SELECT 1 FROM vote v WHERE v.battle_id = b.id) ORDER BY s.seq"
            )
        )
        return inserted


@contextlib.contextmanager
def _checked_once_for_the_file(connection: Connection):
    """PostgreSQL checks a foreign key with a trigger per inserted row, and updates every index row by row; for
    a big file that is most of the cost. Here the battle and vote foreign keys and their plain (non-unique)
    indexes are dropped for the inserts and made again afterwards: one join checks every row, one sort builds
    each index. It is DDL inside the import's transaction, so a failure restores everything; but the tables are
    locked (ACCESS EXCLUSIVE) until the import commits, so the site waits: hence opt-in (--exclusive). The
    unique indexes stay, since they enforce one battle per question_id and one vote per battle."""
    run = connection.exec_driver_sql
    keys = run(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'f' AND conrelid IN ('battle'::regclass, 'vote'::regclass) ORDER BY conrelid, conname"
    ).all()
    indexes = run(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid IN ('battle'::regclass, 'vote'::regclass) AND NOT i.indisunique AND NOT i.indisprimary "
        "ORDER BY 1"
    ).all()
    for table, name, _ in keys:
        run(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        run(f"DROP INDEX {name}")
    yield
    for _, definition in indexes:
        run(definition)
    for table, name, definition in keys:
        run(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


class _Lookup:
    """Slug -> model id and prompt hash -> prompt id, created on first sight. The caches are bounded so
    memory does not grow with the file."""

    LIMIT = 100_000

    def __init__(self, session: Session) -> None:
        self.session = session
        self.models: dict[str, int] = dict(session.execute(select(Model.slug, Model.id)).tuples().all())
        self.prompts: dict[str, int] = {}
        self.new_models = 0

    def model_id(self, slug: str) -> int:
        found = self.models.get(slug)
        if found is None:
            model = Model(slug=slug, display_name=slug)
            self.session.add(model)
            self.session.flush()
            found = self.models[slug] = model.id
            self.new_models += 1
        return found

    def prompt_id(self, staged: StagedBattle) -> int | None:
        if not staged.prompt_text or not staged.prompt_text.strip():
            return None
        digest = content_hash(staged.prompt_text)
        found = self.prompts.get(digest)
        if found is None:
            found = self.session.scalar(select(Prompt.id).where(Prompt.content_hash == digest))
            if found is None:
                # Prompts that arrive with imported votes have no replies here and are never drawn for battles.
                prompt, _ = get_or_create_prompt(
                    self.session, staged.prompt_text, source="imported", emotions=staged.emotions, active=False,
                    language=staged.language or "en",
                )  # fmt: skip
                found = prompt.id
            if len(self.prompts) >= self.LIMIT:
                self.prompts.clear()
            self.prompts[digest] = found
        return found


# PostgreSQL advisory lock held by a running vote import for its transaction ("arena" + "votes" in ASCII).
IMPORT_LOCK_KEY = 0x6172656E61766F74


class ImportBusy(Exception):
    """Another vote import holds the database's import lock."""


def import_votes(
    session: Session,
    records: Iterable[tuple[int, dict, int]],
    progress: Callable[[int], None] = lambda _bytes: None,
    *,
    exclusive: bool = False,
) -> ImportSummary:
    """Import all records in the session's transaction (the caller commits). Raises RecordError on the first
    bad record; the caller then rolls back and nothing is written."""
    connection = session.connection()
    # Two imports at once would both stage and insert the same question ids, and the second would fail deep in
    # its work (or wait on the first's --exclusive locks): say so at once instead.
    lock = f"SELECT pg_try_advisory_xact_lock({IMPORT_LOCK_KEY})"
    if connection.dialect.name == "postgresql" and not connection.exec_driver_sql(lock).scalar():
        raise ImportBusy("another `arena import votes` is running on this database; run this one when it ends")
    if connection.dialect.name == "sqlite":
        # The default 2 MB page cache thrashes on a million random index inserts; 128 MB keeps them in memory.
        connection.exec_driver_sql("PRAGMA cache_size=-131072")
    staging = _Staging(connection)
    lookup = _Lookup(session)
    batch: list[tuple] = []
    read = 0
    now = time.time()
    models = lookup.models
    for line, record, done in records:
        try:
            staged = parse_battle(record, now)
            row = (
                read,
                staged.question_id,
                models.get(staged.model_a) or lookup.model_id(staged.model_a),
                models.get(staged.model_b) or lookup.model_id(staged.model_b),
                staged.outcome,
                staged.tstamp,
                staged.judge_key,
                staged.language,
                lookup.prompt_id(staged) if staged.prompt_text else None,
                json.dumps(staged.meta, ensure_ascii=False) if staged.meta else "{}",
                staged.counts,
                staged.exclusion_reason,
            )
        except (ValueError, CatalogError) as exc:
            raise RecordError(line, str(exc)) from exc
        except RecursionError as exc:  # JSON text in a CSV or Parquet cell, nested beyond what Python parses
            raise RecordError(line, "a nested value is nested too deeply") from exc
        batch.append(row)
        read += 1
        if len(batch) >= BATCH:
            staging.load(batch)
            batch = []
            progress(done)
    if batch:
        staging.load(batch)
    session.flush()
    imported = staging.write_battles_and_votes(exclusive)
    return ImportSummary(read=read, imported=imported, skipped=read - imported, new_models=lookup.new_models)
