"""Integer rows of a query read on the driver's own cursor, in batches, straight into one numpy array.

For reads of one row per vote (hundreds of thousands): SQLAlchemy's result rows cost more per row than the query
itself, so the statement is compiled once (literal values inline, so no driver-specific parameter style) and run
on the DBAPI cursor of the session's connection, inside the session's transaction. Every column must be an
integer that is never NULL."""

from __future__ import annotations

from itertools import chain

import numpy as np
from sqlalchemy import Select
from sqlalchemy.orm import Session

# Rows per fetch: large enough that the per-call cost vanishes, small enough that one batch of Python tuples
# stays a few megabytes.
BATCH = 50_000


def int_rows(session: Session, stmt: Select) -> np.ndarray:
    """(rows, columns) int64 array of the statement's rows."""
    connection = session.connection()
    sql = str(stmt.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    width = len(stmt.selected_columns)
    cursor = connection.connection.cursor()
    try:
        cursor.execute(sql)
        parts = []
        while rows := cursor.fetchmany(BATCH):
            parts.append(np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=width * len(rows)))
    finally:
        cursor.close()
    return np.concatenate(parts).reshape(-1, width) if parts else np.empty((0, width), dtype=np.int64)
