"""Server-side sessions: the data lives in the store, the cookie holds only a random id.

An index per identity lists its live sessions so that "sign out of all devices" and a
password reset can revoke every one of them.
"""
from __future__ import annotations

import json
import secrets
import time

from idp.store import Store


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


class SessionStore:
    def __init__(self, store: Store, idle_seconds: int, absolute_seconds: int, clock=time.time):
        self.store = store
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds
        self.clock = clock

    @classmethod
    def from_settings(cls, store: Store, settings) -> "SessionStore":
        return cls(store, settings.session_idle_minutes * 60, settings.session_absolute_hours * 3600)

    def load(self, sid: str) -> dict | None:
        """The session's data, or None when it is unknown, revoked or past either timeout."""
        raw = self.store.get(f"session:{sid}")
        if raw is None:
            return None
        record = json.loads(raw)
        now = self.clock()
        if now - record["created"] > self.absolute_seconds or now - record["seen"] > self.idle_seconds:
            self.delete(sid, record["data"].get("identity_id"))
            return None
        return record

    def save(self, sid: str, data: dict, created: float, new: bool = True) -> bool:
        """Write the session; an existing one only while it still exists, so a request that was
        in flight when the session was revoked cannot bring it back. False when not written."""
        now = self.clock()
        ttl = min(self.idle_seconds, self.absolute_seconds - (now - created))
        if ttl <= 0:
            return False
        record = json.dumps({"created": created, "seen": now, "data": data}).encode()
        if new:
            self.store.set(f"session:{sid}", record, int(ttl) + 1)
        elif not self.store.replace(f"session:{sid}", record, int(ttl) + 1):
            return False
        identity_id = data.get("identity_id")
        if identity_id is not None:
            self.store.sadd(f"identity-sessions:{identity_id}", sid, self.absolute_seconds)
        return True

    def delete(self, sid: str, identity_id: int | None = None) -> None:
        self.store.delete(f"session:{sid}")
        if identity_id is not None:
            self.store.srem(f"identity-sessions:{identity_id}", sid)

    def revoke_all(self, identity_id: int, keep: str | None = None) -> int:
        """End every session of an identity (but `keep`); returns how many were ended."""
        sids = self.store.smembers(f"identity-sessions:{identity_id}") - {keep}
        for sid in sids:
            self.delete(sid, identity_id)
        return len(sids)

    def count(self, identity_id: int) -> int:
        return sum(1 for sid in self.store.smembers(f"identity-sessions:{identity_id}")
                   if self.store.get(f"session:{sid}") is not None)
