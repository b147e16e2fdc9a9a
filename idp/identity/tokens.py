"""Single-use tokens sent by mail (email verification, password recovery).

The link carries a 256-bit random token; the store keeps only its SHA-256 under the purpose,
so a leak of the store yields no usable link. Redeeming pops it: a link works once.
"""
from __future__ import annotations

import hashlib
import json
import secrets

from idp.store import Store


def _key(purpose: str, token: str) -> str:
    return f"token:{purpose}:{hashlib.sha256(token.encode()).hexdigest()}"


def issue(store: Store, purpose: str, payload: dict, ttl_seconds: int) -> str:
    token = secrets.token_urlsafe(32)
    store.set(_key(purpose, token), json.dumps(payload).encode(), ttl_seconds)
    return token


def peek(store: Store, purpose: str, token: str) -> dict | None:
    """The payload without using the token (to show a confirmation page)."""
    if not token or len(token) > 100:
        return None
    raw = store.get(_key(purpose, token))
    return json.loads(raw) if raw else None


def redeem(store: Store, purpose: str, token: str) -> dict | None:
    """The payload, once; None for an unknown, used or expired token."""
    if not token or len(token) > 100:
        return None
    raw = store.pop(_key(purpose, token))
    return json.loads(raw) if raw else None
