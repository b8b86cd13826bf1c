"""Where imported data came from: each file's name, sha256, rows and the importer's `--source` (a citation or a
licence), kept in `imported_file` for the export's dataset card."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from arena.models import ImportedFile

MAX_SOURCE = 2_000


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def check_source(source: str | None) -> str | None:
    """`--source` as stored: one line of at most MAX_SOURCE characters; ValueError otherwise."""
    if source is None:
        return None
    source = source.strip()
    if not source or "\n" in source or len(source) > MAX_SOURCE:
        raise ValueError(f"--source takes one line of 1 to {MAX_SOURCE} characters (a citation, a licence, a URL)")
    return source


def record_file(
    session: Session, kind: str, path: Path, sha256: str, rows: int, imported: int, source: str | None, **meta
) -> ImportedFile | None:
    """One row for a file that added something, in the import's transaction. A re-import that added nothing is
    not another source of the data: it is not recorded again (its `--source`, if new, is kept on the first)."""
    if imported == 0:
        known = session.scalar(select(ImportedFile).where(ImportedFile.sha256 == sha256, ImportedFile.kind == kind))
        if known is not None and source and not known.source:
            known.source = source
        return None
    row = ImportedFile(kind=kind, file_name=path.name[:255], sha256=sha256, rows=rows, imported=imported,
                       source=source, meta=meta)  # fmt: skip
    session.add(row)
    return row


def imported_files(session: Session) -> list[ImportedFile]:
    return list(session.scalars(select(ImportedFile).order_by(ImportedFile.id)))
