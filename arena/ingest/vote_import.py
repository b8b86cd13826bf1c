"""Import battles (DESIGN §5) in every shape they are published in (see battle_records), streaming.

Each record is validated as it is read and staged in a temporary table in the same transaction; the battles
and votes are then written with two INSERT ... SELECT statements. By default a malformed record aborts the
import and rolls everything back, so the database is as it was before; with `skip` the malformed records are
handed to it and the rest is imported. Records already present (same question_id) are skipped, which makes a
re-import a no-op.

A record without an id gets one from its content and its occurrence: the n-th identical record in a file is
the n-th vote of that kind (`sha256:<digest>`, then `sha256:<digest>:2`, ...), never merged with the first.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, func, insert, select, text
from sqlalchemy.orm import Session

import arena.vote_counts as vote_counts
from arena.ingest.battle_records import no_site_key
from arena.ingest.catalog import content_hash, emotion_tags
from arena.ingest.parsed_battles import JsonLinesFile, Refused, parsed_here, parsed_in_workers
from arena.ingest.records import RecordError
from arena.models import Conversation, Model, Prompt, PromptEmotion, Turn

BATCH = 5_000
# Called with each record refused (its error, and the record when it could be read) when invalid rows are skipped.
Skip = Callable[[RecordError, dict | None], None]


@dataclass(frozen=True)
class ImportSummary:
    read: int
    imported: int
    # Duplicates by kind: a question_id already in the database, or one an earlier record of the file had.
    present: int
    repeated: int
    new_models: int
    invalid: int = 0
    # Of the valid records read: how many said `anony` true, false, or nothing (for the dataset card).
    anony: dict[str, int] | None = None

    @property
    def skipped(self) -> int:
        return self.present + self.repeated

    def __str__(self) -> str:
        # Each kind of record left out is named when there is one (a plain file has only the first).
        repeated = f", {self.repeated} repeating a question_id earlier in the file" if self.repeated else ""
        invalid = f", {self.invalid} invalid skipped" if self.invalid else ""
        return (
            f"{self.read} battles read: {self.imported} imported, {self.present} already present{repeated}"
            f"{invalid}, {self.new_models} new models"
        )


class _Staging:
    """A temporary table in the import's own transaction; bulk-loaded with the driver's fastest path."""

    COLUMNS = ("seq", "question_id", "derived", "model_a_id", "model_b_id", "outcome", "tstamp", "judge_key",
               "language", "prompt_id", "meta", "counted", "exclusion_reason", "turns")  # fmt: skip

    def __init__(self, session: Session) -> None:
        self.session = session
        self.connection = connection = session.connection()
        self.dialect = connection.dialect.name
        postgres = self.dialect == "postgresql"
        real = "DOUBLE PRECISION" if postgres else "REAL"
        # On PostgreSQL each staged row takes its battle id from the battle sequence as COPY writes it, so
        # battles and votes are both written straight from the staging table, with no join back by public_id.
        battle_id = ", battle_id INTEGER DEFAULT nextval(pg_get_serial_sequence('battle', 'id'))" if postgres else ""
        # PostgreSQL checks the metadata's JSON as COPY reads it, while this process is still parsing the file,
        # rather than in the INSERT ... SELECT afterwards (at a million battles, a tenth of that statement).
        meta = "JSON" if postgres else "TEXT"
        connection.execute(text("DROP TABLE IF EXISTS import_staging"))
        connection.execute(
            text(
                "CREATE TEMPORARY TABLE import_staging (seq INTEGER PRIMARY KEY, question_id VARCHAR(128) NOT NULL, "
                "derived BOOLEAN NOT NULL, model_a_id INTEGER NOT NULL, model_b_id INTEGER NOT NULL, "
                f"outcome VARCHAR(16) NOT NULL, tstamp {real} NOT NULL, judge_key VARCHAR(64), language VARCHAR(16), "
                f"prompt_id INTEGER, meta {meta} NOT NULL, counted BOOLEAN NOT NULL, exclusion_reason VARCHAR(64), "
                f"turns INTEGER NOT NULL{battle_id})"
            )
        )
        # The records' conversations (battle_conversations), by staging position: written once the battles are.
        connection.execute(text("DROP TABLE IF EXISTS import_conversation"))
        connection.execute(
            text("CREATE TEMPORARY TABLE import_conversation (seq INTEGER PRIMARY KEY, plan TEXT NOT NULL)")
        )
        # The records' reasons (an export's reasons_a / reasons_b), by staging position: written once the votes are.
        connection.execute(text("DROP TABLE IF EXISTS import_reason"))
        connection.execute(
            text(
                "CREATE TEMPORARY TABLE import_reason (seq INTEGER NOT NULL, side VARCHAR(1) NOT NULL, "
                "reason VARCHAR(32) NOT NULL)"
            )  # fmt: skip
        )
        self.reasons = 0
        self.staged = 0
        self.derived = False
        self.conversations = 0

    def load(
        self, rows: list[tuple], conversations: list[tuple[int, str]] = (), reasons: list[tuple[int, str, str]] = ()
    ) -> None:
        self.staged += len(rows)
        self.conversations += len(conversations)
        self.reasons += len(reasons)
        self._copy("import_staging", self.COLUMNS, rows)
        if conversations:
            self._copy("import_conversation", ("seq", "plan"), conversations)
        if reasons:
            self._copy("import_reason", ("seq", "side", "reason"), reasons)

    def _copy(self, table: str, columns: tuple[str, ...], rows) -> None:
        raw = self.connection.connection.driver_connection
        if self.dialect == "postgresql":
            with (
                raw.cursor() as cursor,
                cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join("?" * len(columns))
            cursor = raw.cursor()
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)
            cursor.close()

    def number_repeats(self) -> None:
        """The n-th record with the same derived id becomes `<id>:n`: identical records are separate votes."""
        self.connection.exec_driver_sql(
            "UPDATE import_staging SET question_id = import_staging.question_id || ':' || o.n FROM (SELECT seq, "
            "ROW_NUMBER() OVER (PARTITION BY question_id ORDER BY seq) AS n FROM import_staging WHERE derived) o "
            "WHERE import_staging.seq = o.seq AND o.n > 1"
        )

    def write_battles_and_votes(self, exclusive: bool = False) -> tuple[int, int, int]:
        """Insert the first record of each new question_id as a voted battle with its vote; returns how many, and
        how many were already present or repeated an earlier record's question_id."""
        if self.derived:
            self.number_repeats()
        counts = self._write_postgresql(exclusive) if self.dialect == "postgresql" else self._write_sqlite()
        if self.conversations:
            write_conversations(self.connection)
        if self.reasons:
            # Only the new votes: records dropped as present or repeated left the staging table, so join nothing.
            self.connection.exec_driver_sql(
                "INSERT INTO vote_reason (vote_id, side, reason, created_at) SELECT v.id, r.side, r.reason, "
                "v.created_at FROM import_reason r JOIN import_staging s ON s.seq = r.seq "
                "JOIN battle b ON b.public_id = s.question_id JOIN vote v ON v.battle_id = b.id"
            )
        self.connection.execute(text("DROP TABLE import_reason"))
        self.connection.execute(text("DROP TABLE import_conversation"))
        self.connection.execute(text("DROP TABLE import_staging"))
        return counts

    def _write_postgresql(self, exclusive: bool) -> tuple[int, int, int]:
        run = self.connection.exec_driver_sql
        run("SET LOCAL work_mem = '256MB'")
        # --exclusive builds the plain indexes again by sorting: in memory rather than in temporary files.
        run("SET LOCAL maintenance_work_mem = '512MB'")
        run("ANALYZE import_staging")
        # Keep only what is new: drop records already imported, then repeats of a question_id within the file.
        present = run("DELETE FROM import_staging s USING battle b WHERE b.public_id = s.question_id").rowcount
        repeated = run(
            "DELETE FROM import_staging s USING (SELECT question_id, MIN(seq) AS first FROM import_staging "
            "GROUP BY question_id HAVING COUNT(*) > 1) d WHERE s.question_id = d.question_id AND s.seq > d.first"
        ).rowcount
        with (
            _checked_once_for_the_file(self.connection) if exclusive else contextlib.nullcontext(),
            vote_counts.folding_staged(self.session, "import_staging"),
        ):
            # to_timestamp is exact to the microsecond (it rounds seconds * 10^6 once).
            inserted = run(
                "INSERT INTO battle (id, public_id, source, prompt_id, model_a_id, model_b_id, judge_key, status, "
                "created_at, language, metadata) SELECT battle_id, question_id, 'import', prompt_id, model_a_id, "
                "model_b_id, judge_key, 'voted', to_timestamp(tstamp), language, meta FROM import_staging"
            ).rowcount
            run(
                "INSERT INTO vote (battle_id, model_a_id, model_b_id, outcome, created_at, counts_for_leaderboard, "
                "exclusion_reason, turns) SELECT battle_id, model_a_id, model_b_id, outcome, to_timestamp(tstamp), "
                "counted, exclusion_reason, turns FROM import_staging"
            )
        return inserted, present, repeated

    def _write_sqlite(self) -> tuple[int, int, int]:
        run = self.connection.exec_driver_sql
        # Keep only what is new, as on PostgreSQL: drop records already imported (only a non-empty table can
        # hold them), then repeats of a question_id within the file (the first one stays).
        present = 0
        if run("SELECT EXISTS (SELECT 1 FROM battle)").scalar_one():
            present = run(
                "DELETE FROM import_staging WHERE EXISTS (SELECT 1 FROM battle b "
                "WHERE b.public_id = import_staging.question_id)"
            ).rowcount
        repeated = run(
            "DELETE FROM import_staging WHERE seq NOT IN (SELECT MIN(seq) FROM import_staging GROUP BY question_id)"
        ).rowcount
        # The naive UTC text with microseconds that SQLAlchemy reads back as a timestamp. Whole microseconds are
        # rounded once, then split: strftime itself rounds a fractional time to milliseconds (a tstamp of
        # x.9996 would land in the next second).
        micros = "CAST(round(s.tstamp * 1000000) AS INTEGER)"
        created_at = (
            f"strftime('%Y-%m-%d %H:%M:%S', {micros} / 1000000, 'unixepoch') || printf('.%06d', {micros} % 1000000)"
        )
        # Each battle's id is the table's largest id before the import plus its staging position, so the votes
        # are written straight from the staging table too, with no join back by public_id. The scalar subquery
        # runs once, before the first row goes in; the statement holds the write lock from then on.
        largest = run("SELECT COALESCE(MAX(id), 0) FROM battle").scalar_one()
        big = self.staged - present - repeated >= largest
        with _plain_indexes_rebuilt(self.connection) if big else contextlib.nullcontext():
            inserted = run(
                "INSERT INTO battle (id, public_id, source, prompt_id, model_a_id, model_b_id, judge_key, status, "
                "created_at, language, metadata) "
                "SELECT (SELECT COALESCE(MAX(id), 0) FROM battle) + 1 + s.seq, s.question_id, 'import', "
                f"s.prompt_id, s.model_a_id, s.model_b_id, s.judge_key, 'voted', {created_at}, s.language, s.meta "
                "FROM import_staging s ORDER BY s.seq"
            ).rowcount
            if inserted:
                # The last staged row took the largest id: that fixes the offset every staged row was given.
                base = run("SELECT (SELECT MAX(id) FROM battle) - (SELECT MAX(seq) FROM import_staging)").scalar_one()
                run(
                    "INSERT INTO vote (battle_id, model_a_id, model_b_id, outcome, created_at, "
                    f"counts_for_leaderboard, exclusion_reason, turns) SELECT {int(base)} + s.seq, s.model_a_id, "
                    f"s.model_b_id, s.outcome, {created_at}, s.counted, s.exclusion_reason, s.turns "
                    "FROM import_staging s ORDER BY s.seq"
                )
        return inserted, present, repeated


def write_conversations(connection: Connection, page: int = 1_000) -> int:
    """Each new battle's staged conversation as a Conversation row and its Turn rows (model turns name the side's
    model); records dropped as already present or repeated have no battle to join and are skipped."""
    conversations, turns = Conversation.__table__, Turn.__table__
    select_page = text(
        "SELECT c.seq, b.id, b.model_a_id, b.model_b_id, c.plan FROM import_conversation c "
        "JOIN import_staging s ON s.seq = c.seq JOIN battle b ON b.public_id = s.question_id "
        "WHERE c.seq > :last ORDER BY c.seq LIMIT :page"
    )
    last, written = -1, 0
    while rows := connection.execute(select_page, {"last": last, "page": page}).all():
        last = rows[-1][0]
        plans = [(battle_id, a, b, json.loads(plan)) for _, battle_id, a, b, plan in rows]
        ids = connection.execute(
            insert(conversations).returning(conversations.c.id, sort_by_parameter_order=True),
            [
                {"battle_id": battle_id, "mode": plan["mode"], "evaluation_session": plan["session"],
                 "evaluation_order": plan["order"],
                 "metadata": {"full_conversation": plan["full"]} if plan["full"] else {}}
                for battle_id, _, _, plan in plans
            ],
        ).scalars().all()  # fmt: skip
        rows_of_turns = [
            {"conversation_id": conversation_id, "idx": idx, "side": side, "role": role, "content": content,
             "author": author, "model_id": (a if side == "a" else b) if author == "model" else None}
            for conversation_id, (_, a, b, plan) in zip(ids, plans, strict=True)
            for idx, side, role, content, author in plan["turns"]
        ]  # fmt: skip
        if rows_of_turns:
            connection.execute(insert(turns), rows_of_turns)
        written += len(plans)
    return written


@contextlib.contextmanager
def _plain_indexes_rebuilt(connection: Connection):
    """SQLite: an import at least as big as the table builds the battle and vote tables' plain (non-unique)
    indexes once, by sorting, instead of updating them row by row (1M battles: about 4.5 s of updates against
    2.8 s of building). An SQLite import holds the write lock anyway and readers keep seeing the committed
    schema, so unlike PostgreSQL's --exclusive this costs the site nothing; a failure rolls the DDL back."""
    run = connection.exec_driver_sql
    indexes = run(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('battle', 'vote') "
        "AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%' ORDER BY name"
    ).all()
    for name, _ in indexes:
        run(f'DROP INDEX "{name}"')
    yield
    for _, definition in indexes:
        run(definition)


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
    # The text cache keeps messages up to TEXT_CHARS long, TEXTS of them: at most about 10 MB.
    TEXTS, TEXT_CHARS = 10_000, 1_000

    def __init__(self, session: Session) -> None:
        self.session = session
        self.models: dict[str, int] = dict(session.execute(select(Model.slug, Model.id)).tuples().all())
        self.prompts: dict[str, int] = {}
        # A database with few messages hands them all over at once; while none was forgotten (the bound), a digest
        # missing from the cache is a new message, with no SELECT to find out (a file may bring thousands).
        self.complete = session.scalar(select(func.count()).select_from(Prompt)) < self.LIMIT
        if self.complete:
            self.prompts = dict(session.execute(select(Prompt.content_hash, Prompt.id)).tuples().all())
        # Exact text -> id in front of the digests: a file repeats the same messages, and hashing each record's
        # normalised text was a tenth of the time spent per record.
        self.texts: dict[str, int] = {}
        # Messages met for the first time, not yet written: digest -> (text, language, tags).
        self.new: dict[str, tuple[str, str, list]] = {}
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

    def prompt_id(self, prompt_text: str, language: str | None, emotions: list) -> int | str | None:
        """The message's id; for a message new to the database, its digest, which create_new() turns into the
        id it gets (new messages are written a batch at a time, not one by one)."""
        found = self.texts.get(prompt_text)
        if found is not None:
            return found
        if not prompt_text or not prompt_text.strip():
            return None
        digest = content_hash(prompt_text)
        found = self.prompts.get(digest)
        if found is None:
            if digest in self.new:
                return digest
            if not self.complete:
                found = self.session.scalar(select(Prompt.id).where(Prompt.content_hash == digest))
            if found is None:
                # Checked now, so a bad tag names this record (parse_battle has checked them already).
                self.new[digest] = (prompt_text.strip(), language or "en", emotion_tags(emotions))
                return digest
            self._remember(digest, found)
        if len(prompt_text) <= self.TEXT_CHARS:
            if len(self.texts) >= self.TEXTS:
                self.texts.clear()
            self.texts[prompt_text] = found
        return found

    def _remember(self, digest: str, prompt_id: int) -> None:
        if len(self.prompts) >= self.LIMIT:
            self.prompts.clear()
            self.complete = False
        self.prompts[digest] = prompt_id

    def create_new(self) -> dict[str, int]:
        """Write the messages prompt_id() met for the first time, as catalog.get_or_create_prompt makes them, in
        two statements for the lot: one INSERT per message cost a round trip each (2,000 messages took 8.5 s,
        and 29 s under load). Ids follow first sight, as when they were written one by one. Prompts that arrive
        with imported votes have no replies here and are never drawn for battles. Returns digest -> id."""
        if not self.new:
            return {}
        rows = [{"text": text_, "source": "imported", "content_hash": digest, "active": False, "language": language}
                for digest, (text_, language, _) in self.new.items()]  # fmt: skip
        ids = self.session.execute(
            insert(Prompt).returning(Prompt.id, sort_by_parameter_order=True), rows
        ).scalars().all()  # fmt: skip
        created = dict(zip(self.new, ids, strict=True))
        tags = [{"prompt_id": created[digest], "category": c, "intensity": i}
                for digest, (_, _, emotions) in self.new.items() for c, i in emotions]  # fmt: skip
        if tags:
            self.session.execute(insert(PromptEmotion), tags)
        for digest, prompt_id in created.items():
            self._remember(digest, prompt_id)
        self.new = {}
        return created


def _with_new_prompts(batch: list[tuple], lookup: _Lookup) -> list[tuple]:
    """The batch with each new message's digest (prompt_id(), the staging row's tenth value) replaced by the id
    create_new() gave it."""
    created = lookup.create_new()
    if not created:
        return batch
    return [row if type(row[9]) is not str else (*row[:9], created[row[9]], *row[10:]) for row in batch]


# PostgreSQL advisory lock held by a running vote import for its transaction ("arena" + "votes" in ASCII).
IMPORT_LOCK_KEY = 0x6172656E61766F74


class ImportBusy(Exception):
    """Another vote import holds the database's import lock."""


def import_votes(
    session: Session,
    records: Iterable[tuple[int, dict, int]] | JsonLinesFile,
    progress: Callable[[int], None] = lambda _bytes: None,
    *,
    exclusive: bool = False,
    hash_judge: Callable[[str], str] = no_site_key,
    skip: Skip | None = None,
    file_scope: str | None = None,
) -> ImportSummary:
    """Import all records in the session's transaction (the caller commits). Without `skip`, raises RecordError
    on the first bad record and the caller rolls back, so nothing is written; with it, each bad record goes to
    `skip` and the others are imported. `hash_judge` turns a file's raw `judge` into the stored voter key;
    `file_scope` (the file's sha256) enters the ids of records with neither id nor time (battle_records).
    `records` is a reader's (line, record, bytes read) or a JsonLinesFile, parsed by worker processes."""
    connection = session.connection()
    # Two imports at once would both stage and insert the same question ids, and the second would fail deep in
    # its work (or wait on the first's --exclusive locks): say so at once instead.
    lock = f"SELECT pg_try_advisory_xact_lock({IMPORT_LOCK_KEY})"
    if connection.dialect.name == "postgresql" and not connection.exec_driver_sql(lock).scalar():
        raise ImportBusy("another `arena import votes` is running on this database; run this one when it ends")
    if connection.dialect.name == "sqlite":
        # The default 2 MB page cache thrashes on a million random index inserts; 128 MB keeps them in memory.
        connection.exec_driver_sql("PRAGMA cache_size=-131072")
    staging = _Staging(session)
    lookup = _Lookup(session)
    batch: list[tuple] = []
    conversations: list[tuple[int, str]] = []
    reasons: list[tuple[int, str, str]] = []
    read = invalid = 0
    anony = {"true": 0, "false": 0, "absent": 0}
    now = time.time()
    models = lookup.models
    if isinstance(records, JsonLinesFile):
        parsed = parsed_in_workers(records, now, hash_judge, file_scope, stop_at_error=skip is None)
    else:
        parsed = parsed_here(records, now, hash_judge, file_scope)
    for item, done in parsed:
        if type(item) is Refused:
            if skip is None:
                raise item.error
            skip(item.error, item.record)
            invalid += 1
            continue
        (line, question_id, derived, slug_a, slug_b, outcome, tstamp, judge, language, prompt_text, emotions, meta,
         counts, exclusion_reason, turns, conversation, vote_reasons, flag) = item  # fmt: skip
        try:
            # The prompt before the models: a record refused here leaves no new model behind. parse_battle has
            # checked the tags and names already; this is the last word of the catalog that stores them.
            prompt_id = lookup.prompt_id(prompt_text, language, emotions) if prompt_text else None
            model_a = models.get(slug_a) or lookup.model_id(slug_a)
            model_b = models.get(slug_b) or lookup.model_id(slug_b)
        except ValueError as exc:  # CatalogError among them
            error = RecordError(line, str(exc))
            if skip is None:
                raise error from exc
            # The record itself stayed with the process that parsed it.
            skip(error, None)
            invalid += 1
            continue
        batch.append((read, question_id, derived, model_a, model_b, outcome, tstamp, judge, language, prompt_id, meta,
                      counts, exclusion_reason, turns))  # fmt: skip
        staging.derived |= derived
        anony["absent" if flag is None else "true" if flag else "false"] += 1
        if conversation is not None:
            conversations.append((read, conversation))
        reasons.extend((read, side, reason) for side, reason in vote_reasons)
        read += 1
        if len(batch) >= BATCH:
            staging.load(_with_new_prompts(batch, lookup), conversations, reasons)
            batch, conversations, reasons = [], [], []
            progress(done)
    if batch:
        staging.load(_with_new_prompts(batch, lookup), conversations, reasons)
    session.flush()
    imported, present, repeated = staging.write_battles_and_votes(exclusive)
    # The imported votes join the maintained counts in the import's own transaction (with any site votes since
    # the last fold): the import pays for counting what it brought, not the next recompute. PostgreSQL counted
    # them from the staged rows as it wrote them (vote_counts.folding_staged).
    if connection.dialect.name != "postgresql":
        vote_counts.fold(session)
    return ImportSummary(read + invalid, imported, present, repeated, lookup.new_models, invalid, anony)
