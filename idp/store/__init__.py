"""Ephemeral state (sessions, captcha answers, throttling counters, one-time tokens) behind
one small interface, with a Redis implementation and an in-process one.

Every value is bytes and every key expires. Operations that must be atomic across
processes (single use, counting) are primitives of the interface, not read-modify-write.
"""
from __future__ import annotations

import builtins
from typing import Protocol

from idp.errors import ServiceUnavailable


class StoreUnavailable(ServiceUnavailable):
    """The store could not be reached."""

    def __init__(self, detail: str = ""):
        super().__init__(f"store unavailable: {detail}" if detail else "store unavailable")


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...

    def get_many(self, *keys: str) -> list[bytes | None]:
        """Each key's value (None when absent), in order, in one round trip."""

    def set(self, key: str, value: bytes, ttl: int) -> None: ...

    def add(self, key: str, value: bytes, ttl: int) -> bool:
        """Set only if absent; True when this call set it (first use wins)."""

    def replace(self, key: str, value: bytes, ttl: int) -> bool:
        """Set only if present; False when the key is gone (revoked records must stay gone)."""

    def pop(self, key: str) -> bytes | None:
        """Get and delete in one step, so a single-use value is used at most once."""

    def delete(self, *keys: str) -> None: ...

    def incr(self, key: str, ttl: int) -> int:
        """Add one and return the new count; the key expires `ttl` seconds after it was made."""

    def ttl(self, key: str) -> int | None:
        """Seconds left, or None when absent."""

    def sadd(self, key: str, member: str, ttl: int) -> None: ...

    def srem(self, key: str, member: str) -> None: ...

    def smembers(self, key: str) -> builtins.set[str]: ...  # `set` here is the method above

    def ping(self) -> None: ...


def make_store(redis_url: str) -> Store:
    if redis_url:
        from idp.store.redis import RedisStore

        return RedisStore.from_url(redis_url)
    from idp.store.memory import MemoryStore

    return MemoryStore()
