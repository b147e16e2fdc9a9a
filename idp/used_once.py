"""Used-once marks in the database: a value that may be accepted once (a TOTP time step, RFC 6238
§5.2; a client assertion's jti, RFC 7523 §3) is recorded until it could no longer be accepted.

They live in PostgreSQL rather than Redis because losing them would let a spent code be spent
again. The key is stored as a SHA-256 only. Insert-if-absent is one statement (ON CONFLICT, on
PostgreSQL and SQLite alike); a mark that has expired may be taken again.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib

from sqlalchemy import bindparam, delete
from sqlalchemy.orm import Session

from idp.models import UsedMark, utcnow


@functools.cache
def _spend_statement(dialect: str):
    """Insert-if-absent-or-expired of one mark, built once per dialect (a TOTP code is spent on
    every sign-in): parameters mark_key, mark_expires, mark_now."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        # either dialect's insert(): both build the same ON CONFLICT API
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = insert(UsedMark).values(key_hash=bindparam("mark_key"), expires_at=bindparam("mark_expires"))
    return statement.on_conflict_do_update(
        index_elements=[UsedMark.key_hash], set_={"expires_at": statement.excluded.expires_at},
        where=UsedMark.expires_at <= bindparam("mark_now")).returning(UsedMark.key_hash)


def spend(session: Session, key: str, ttl_seconds: int, now: dt.datetime | None = None) -> bool:
    """True when this call is the first to use `key` within `ttl_seconds`, in the caller's
    transaction (which must commit for the mark to hold). A concurrent transaction inserting the
    same key waits on the unique key and then finds it taken."""
    now = now or utcnow()
    statement = _spend_statement(session.get_bind().dialect.name)
    # RETURNING rather than rowcount: drivers disagree on the rowcount of an upsert.
    return session.execute(statement, {"mark_key": hashlib.sha256(key.encode()).hexdigest(),
                                       "mark_expires": now + dt.timedelta(seconds=ttl_seconds),
                                       "mark_now": now}).first() is not None


def prune(session: Session, now: dt.datetime | None = None) -> int:
    """Delete the marks that can no longer matter."""
    # a DML statement's Result is a CursorResult, which has rowcount
    return session.execute(delete(UsedMark).where(UsedMark.expires_at <= (now or utcnow()))  # type: ignore[attr-defined]
                           .execution_options(synchronize_session=False)).rowcount
