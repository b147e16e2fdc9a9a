"""Requests of relying parties waiting for a sign-in, kept in the browser's session.

A few per browser (several tabs), each for a limited time, under a random id that the sign-in
pages carry in their `next` link. Plain dicts in and out: the caller stores them in its session.
"""
from __future__ import annotations

import secrets

PENDING_SECONDS = 15 * 60  # long enough to sign in, enrol a second factor, read a consent page
MAX_PENDING = 5  # requests in flight per browser; the oldest gives way


def add(pending: dict | None, record: dict, now: float) -> tuple[dict, str]:
    """(the new mapping, the new request's id); `record` gains its creation time."""
    pending = {key: value for key, value in (pending or {}).items() if _live(value, now)}
    while len(pending) >= MAX_PENDING:
        pending.pop(min(pending, key=lambda key: pending[key]["created"]))
    pending_id = secrets.token_urlsafe(12)
    pending[pending_id] = {**record, "created": now}
    return pending, pending_id


def get(pending: dict | None, pending_id: str, now: float) -> dict | None:
    record = (pending or {}).get(pending_id)
    return record if record is not None and _live(record, now) else None


def drop(pending: dict | None, pending_id: str) -> dict:
    return {key: value for key, value in (pending or {}).items() if key != pending_id}


def _live(record: dict, now: float) -> bool:
    return now - record.get("created", 0) <= PENDING_SECONDS
