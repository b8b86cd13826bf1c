"""Row counts and a checksum of every table's contents: equal fingerprints mean nothing was written."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from arena.models import Base


def fingerprint(session_factory) -> dict[str, tuple[int, str]]:
    """{table: (rows, sha256 of the rows in primary-key order)} for every table of the schema."""
    result = {}
    with session_factory() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest = hashlib.sha256()
            for row in rows:
                digest.update(repr(tuple(row)).encode("utf-8", "surrogatepass"))
            result[table.name] = (len(rows), digest.hexdigest())
    return result
