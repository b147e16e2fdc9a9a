"""Server-side sessions, durable in the database: the cookie holds a random id, the table only its
SHA-256, the identity's uuid and the session's data.

Why the database and not the store: a session is security state. Losing it signs citizens out;
an older copy coming back would undo a revocation. So it lives where revocations live, and a
password change ends the other sessions in the same transaction (see idp.identity.sign_out).

Timeouts (NIST SP 800-63B §7.2, OWASP ASVS V3.3): idle and absolute. When nothing in a session
changes, "last seen" is written at most once a minute, so a request costs one primary-key read;
the idle timeout is therefore kept to within a minute.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import secrets
import time
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from idp.models import SignInSession

log = logging.getLogger(__name__)

TABLE = cast(Table, SignInSession.__table__)  # a FromClause to the type checker; a Table at run time
TOUCH_SECONDS = 60  # how stale "last seen" may get before an unchanged session is written again
PRUNE_PER_NEW_SESSION = 2  # expired rows each new session clears, so the table cannot grow unbounded


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_key(sid: str) -> str:
    """What the table keeps of a cookie value: its SHA-256 (the id is 256 random bits, so no salt
    or slow hash is needed to make the hash useless to whoever reads the table)."""
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclasses.dataclass
class SessionRecord:
    data: dict
    created: float
    seen: float


class SessionStore:
    """Sessions in the `sign_in_sessions` table. Loading and saving are single statements on
    `engine`, committed at once; revoking runs in the caller's transaction, so it commits with
    whatever caused it."""

    def __init__(self, engine: Engine, idle_seconds: int, absolute_seconds: int, clock=time.time,
                 touch_seconds: int = TOUCH_SECONDS):
        # Each of our statements stands alone (one read, or one conditional write), so no
        # BEGIN/COMMIT round trips around it.
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self.clock = clock
        self.touch_seconds = touch_seconds

    @classmethod
    def from_settings(cls, engine: Engine, settings) -> SessionStore:
        return cls(engine, settings.session_idle_minutes * 60, settings.session_absolute_hours * 3600)

    def _expires(self, created: float, seen: float) -> float:
        return min(seen + self.idle_seconds, created + self.absolute_seconds)

    def load(self, sid: str) -> SessionRecord | None:
        """The session, or None when it is unknown, revoked or past either timeout."""
        with self.engine.connect() as connection:
            row = connection.execute(_LOAD, {"sid_key": session_key(sid)}).first()
        if row is None or row.revoked_at is not None or self.clock() >= row.expires:
            return None
        return SessionRecord(dict(row.data or {}), row.created, row.seen)

    def create(self, sid: str, data: dict, created: float | None = None) -> bool:
        """Store a new session (its id was just made). False when `created` is already too old."""
        now = self.clock()
        created = now if created is None else created
        expires = self._expires(created, now)
        if expires <= now:
            return False
        with self.engine.connect() as connection:
            connection.execute(insert(TABLE).values(
                key=session_key(sid), identity_uuid=_identity_of(data), created=created, seen=now,
                expires=expires, data=data))
        self._prune_some(now)
        return True

    def rekey(self, old_sid: str, sid: str, data: dict, created: float) -> bool:
        """A live session under a new id (sign-in, against fixation): its row takes the new key and
        data in one statement, so the old id ends as the new one starts and no row is added. False,
        writing nothing, when the old session is no longer live (then `create` a new one)."""
        now = self.clock()
        expires = self._expires(created, now)
        if expires <= now:
            return False
        return self._update(old_sid, now, key=session_key(sid), data=data, identity_uuid=_identity_of(data),
                            created=created, seen=now, expires=expires)

    def save(self, sid: str, data: dict, created: float) -> bool:
        """Write changed data, only while the session is live: a request that was in flight when
        the session was revoked cannot write it back. False when not written."""
        now = self.clock()
        return self._update(sid, now, data=data, identity_uuid=_identity_of(data),
                            seen=now, expires=self._expires(created, now))

    def touch(self, sid: str, created: float, seen: float) -> bool:
        """Mark an unchanged session as used: written only when "last seen" is a minute old.
        False when the session is no longer live."""
        now = self.clock()
        if now - seen < self.touch_seconds:
            return True
        return self._update(sid, now, seen=now, expires=self._expires(created, now))

    def _update(self, sid: str, now: float, **values) -> bool:
        with self.engine.connect() as connection:
            result = connection.execute(_live_update(frozenset(values)), {
                "sid_key": session_key(sid), "now": now, **{"new_" + name: value for name, value in values.items()}})
        return result.rowcount == 1

    def delete(self, sid: str) -> None:
        """Sign-out, or the old id after a new one was issued (against fixation)."""
        with self.engine.connect() as connection:
            connection.execute(delete(TABLE).where(TABLE.c.key == session_key(sid)))

    def revoke_all(self, db: Session, identity_uuid: str, keep: str | None = None) -> int:
        """End every live session of an identity but `keep`, in the caller's transaction (not
        committed here). Returns how many were ended."""
        now = self.clock()
        condition = [TABLE.c.identity_uuid == identity_uuid, TABLE.c.revoked_at.is_(None),
                     TABLE.c.expires > now]
        if keep:
            condition.append(TABLE.c.key != session_key(keep))
        result = db.execute(update(TABLE).where(*condition).values(revoked_at=now, expires=now))
        # a DML statement's Result is a CursorResult, which has rowcount
        return result.rowcount  # type: ignore[attr-defined]

    def count(self, identity_uuid: str) -> int:
        """Live sessions of an identity."""
        with self.engine.connect() as connection:
            # COUNT(*) always returns a row
            return connection.scalar(select(func.count()).select_from(TABLE).where(  # type: ignore[return-value]
                TABLE.c.identity_uuid == identity_uuid, TABLE.c.revoked_at.is_(None),
                TABLE.c.expires > self.clock()))

    def prune(self, limit: int | None = None) -> int:
        """Delete expired and revoked sessions (`idp db prune`); returns how many."""
        return self._prune(self.clock(), limit)

    def end_all(self) -> int:
        """End every session (after restoring a backup: sessions revoked since it was taken would
        otherwise be live again). Everyone signs in again."""
        with self.engine.connect() as connection:
            return connection.execute(delete(TABLE)).rowcount

    def _prune(self, now: float, limit: int | None) -> int:
        doomed = select(TABLE.c.key).where(TABLE.c.expires <= now).order_by(TABLE.c.expires)
        if limit is not None:
            doomed = doomed.limit(limit)
        with self.engine.connect() as connection:
            return connection.execute(delete(TABLE).where(TABLE.c.key.in_(doomed))).rowcount

    def _prune_some(self, now: float) -> None:
        # Best effort: two requests clearing the same rows must not cost anyone their sign-in.
        try:
            self._prune(now, PRUNE_PER_NEW_SESSION)
        except DBAPIError as e:
            log.info("session pruning skipped: %s", e.__class__.__name__)


# Every request of a browser loads its session, and many write it: the statements are built once
# per process (SQLAlchemy then finds their compiled form without building a cache key each time).
_LOAD = select(TABLE.c.data, TABLE.c.created, TABLE.c.seen, TABLE.c.expires, TABLE.c.revoked_at) \
    .where(TABLE.c.key == bindparam("sid_key"))


@functools.cache
def _live_update(columns: frozenset[str]):
    """UPDATE of `columns` (parameters "new_<column>") of the live session whose key is "sid_key"."""
    return update(TABLE).where(TABLE.c.key == bindparam("sid_key"), TABLE.c.revoked_at.is_(None),
                               TABLE.c.expires > bindparam("now")) \
        .values({name: bindparam("new_" + name) for name in sorted(columns)})


def _identity_of(data: dict) -> str | None:
    identity_uuid = data.get("identity_uuid")
    return identity_uuid if isinstance(identity_uuid, str) else None
