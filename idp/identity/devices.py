"""Known devices: a browser that completed a sign-in for an identity is remembered, so that an
attacker's failures from elsewhere never slow it down or lock it out (OWASP Authentication Cheat
Sheet, "device cookies"; NIST SP 800-63B §5.2.2 lets a verifier favour a recognised device).

The cookie holds a 256-bit random token, opaque and HttpOnly; the database keeps only its SHA-256
next to the identity. A device is a throttling hint, never a credential: it skips no factor.
"""
from __future__ import annotations

import functools
import hashlib
import re
import secrets
from typing import TypeGuard

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from idp.models import KnownDevice, utcnow

COOKIE = "idp_device"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def is_token(text: str | None) -> TypeGuard[str]:
    if not text:
        return False
    return _TOKEN.fullmatch(text) is not None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_known(session: Session, identity_id: int | None, token: str | None) -> bool:
    """Whether this browser's token completed a sign-in for this identity."""
    if identity_id is None or not is_token(token):
        return False
    return session.scalar(select(KnownDevice.id).where(KnownDevice.identity_id == identity_id,
                                                       KnownDevice.token_hash == _digest(token))) is not None


def remember(session: Session, identity_id: int, token: str) -> None:
    """Mark the token as known for the identity (or refresh when it last signed in). Commits.

    One statement, insert-or-update on the (identity, token) key: the same browser signing in
    twice at once updates the one row, and nothing else written in the transaction is lost."""
    now = utcnow()
    session.execute(_remember_statement(session.get_bind().dialect.name),
                    {"device_identity": identity_id, "device_hash": _digest(token), "device_now": now})
    session.commit()


@functools.cache
def _remember_statement(dialect: str):
    """The insert-or-update of `remember`, built once per dialect: parameters device_identity,
    device_hash, device_now."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        # either dialect's insert(): both build the same ON CONFLICT API
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    statement = insert(KnownDevice).values(identity_id=bindparam("device_identity"),
                                           token_hash=bindparam("device_hash"),
                                           created_at=bindparam("device_now"), last_seen_at=bindparam("device_now"))
    return statement.on_conflict_do_update(index_elements=[KnownDevice.identity_id, KnownDevice.token_hash],
                                           set_={"last_seen_at": statement.excluded.last_seen_at})


def forget_all(session: Session, identity_id: int) -> None:
    """After a reclaim or an administrator's reset: no browser is known any more. Does not commit."""
    session.execute(delete(KnownDevice).where(KnownDevice.identity_id == identity_id))
