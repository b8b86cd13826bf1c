"""Visitor keys deleted under privacy. A browser that kept a copy of its old session cookie (another tab, a
restored backup, a script) must not go on voting, or be shown battles, under a key whose data was deleted: the
key is retired, and whoever still carries it is given a new identity instead."""

from __future__ import annotations

import hashlib

from sqlalchemy import exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from arena.models import RetiredVisitorKey, utcnow


class RetiredKey(Exception):
    """The visitor's key was deleted under privacy; the browser needs a new identity."""


def digest(visitor_key: str) -> str:
    """A one-way digest: the table never holds a key, only what recognises one."""
    return hashlib.sha256(visitor_key.encode()).hexdigest()


def is_retired_clause(key_digest) -> ColumnElement[bool]:
    """EXISTS(retired key with this digest), for folding the check into a statement that runs anyway."""
    return exists().where(RetiredVisitorKey.key_digest == key_digest)


def is_retired(session: Session, visitor_key: str) -> bool:
    return session.scalar(select(is_retired_clause(digest(visitor_key)))) or False


def retire(session: Session, visitor_key: str) -> None:
    """Retire the key in the caller's transaction; retiring it again changes nothing."""
    values = {"key_digest": digest(visitor_key), "retired_at": utcnow()}
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(RetiredVisitorKey).values(values).on_conflict_do_nothing(index_elements=["key_digest"]))
