"""pyop's authorization state (codes, access and refresh tokens) kept in our store.

Keys are SHA-256 hashes of the token values, so neither a store dump nor a log of keys
yields a usable token. Values are JSON and expire with the token they describe.
"""
from __future__ import annotations

import hashlib
import json

from idp.store import Store


def token_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class StoreMapping:
    """The dict-like interface pyop's AuthorizationState expects, over one namespace of the store.

    There is deliberately no `items()`: pyop uses it only to scan every token, which our
    engine (idp.oidc.engine) replaces with indexes."""

    def __init__(self, store: Store, namespace: str, ttl_seconds: int):
        self.store = store
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds

    def key(self, token: str) -> str:
        return f"oidc:{self.namespace}:{token_hash(token)}"

    def __setitem__(self, token: str, value: dict) -> None:
        self.store.set(self.key(token), json.dumps(value).encode(), self.ttl_seconds)

    def __getitem__(self, token: str) -> dict:
        raw = self.store.get(self.key(token)) if isinstance(token, str) and len(token) <= 512 else None
        if raw is None:
            raise KeyError("unknown or expired")
        return json.loads(raw)

    def __contains__(self, token) -> bool:
        try:
            self[token]
        except KeyError:
            return False
        return True

    def __delitem__(self, token: str) -> None:
        self.store.delete(self.key(token))

    def pop(self, token: str, default=None):
        value = self.get(token, default)
        self.store.delete(self.key(token))
        return value

    def get(self, token: str, default=None):
        try:
            return self[token]
        except KeyError:
            return default
