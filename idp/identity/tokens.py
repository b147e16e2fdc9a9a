"""Single-use links sent by mail (email verification, email change, password recovery).

The link carries a 256-bit random token; the database keeps only its SHA-256 with the purpose,
the payload and an expiry, so a leak of the table yields no usable link. Redeeming is a
conditional UPDATE: of two concurrent uses, one wins. Links live in PostgreSQL, not Redis, so a
Redis restart neither kills a citizen's link nor lets a used one work again.

Functions take the caller's SQLAlchemy session and do not commit.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from idp.models import EmailLink, utcnow


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _usable(token: str) -> bool:
    return isinstance(token, str) and 0 < len(token) <= 100


def issue(session: Session, purpose: str, payload: dict, ttl_seconds: int) -> str:
    token = secrets.token_urlsafe(32)
    session.add(EmailLink(token_hash=_hash(token), purpose=purpose, payload=payload,
                          expires_at=utcnow() + dt.timedelta(seconds=ttl_seconds)))
    session.flush()
    return token


def _live(purpose: str, token: str, now: dt.datetime):
    return (EmailLink.token_hash == _hash(token), EmailLink.purpose == purpose,
            EmailLink.used_at.is_(None), EmailLink.expires_at > now)


def peek(session: Session, purpose: str, token: str) -> dict | None:
    """The payload without using the token (to show a confirmation page)."""
    if not _usable(token):
        return None
    return session.scalar(select(EmailLink.payload).where(*_live(purpose, token, utcnow())))


def redeem(session: Session, purpose: str, token: str) -> dict | None:
    """The payload, once; None for an unknown, used or expired token."""
    if not _usable(token):
        return None
    now = utcnow()
    return session.scalar(update(EmailLink).where(*_live(purpose, token, now)).values(used_at=now)
                          .returning(EmailLink.payload).execution_options(synchronize_session=False))


def prune(session: Session, now: dt.datetime | None = None) -> int:
    """Delete links that expired a day ago (used ones too: the mark is no longer needed)."""
    cutoff = (now or utcnow()) - dt.timedelta(days=1)
    # a DML statement's Result is a CursorResult, which has rowcount
    return session.execute(delete(EmailLink).where(EmailLink.expires_at < cutoff)  # type: ignore[attr-defined]
                           .execution_options(synchronize_session=False)).rowcount
