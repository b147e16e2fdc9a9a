"""What the identity layer announces, and who listens: a tiny signal registry.

A lower layer must not import a higher one to make it act (`identity` → `revocation` → `oidc` was a
layer cycle, issue 13). So the identity layer announces what happened — an identity's credentials
changed, it was locked — and the protocol layers subscribe once, in `create_app`. Receivers run
synchronously, in the announcer's database transaction: a receiver that fails raises through the
announcer before anything commits, so the change and everything it causes commit together or not
at all (NIST SP 800-63B §6.1.2.3: revoke on compromise).

Nothing here imports Flask, SQLAlchemy or any IdP module.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

Receiver = Callable[..., Any]


class Signal:
    """A named announcement. `connect` is idempotent: every app built in one process subscribes
    the same functions, and each must run once per announcement."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Receiver] = []

    def connect(self, receiver: Receiver) -> Receiver:
        if receiver not in self._receivers:
            self._receivers.append(receiver)
        return receiver

    def send(self, db: Any, identity: Any, **detail: Any) -> None:
        """Tell every receiver, in subscription order, with the caller's database session."""
        for receiver in list(self._receivers):
            receiver(db, identity, **detail)

    def __repr__(self) -> str:
        return f"<Signal {self.name}: {len(self._receivers)} receivers>"


# An identity's credentials changed, or it asked to end everything: password changed or reset, the
# identity reclaimed by the person in the civil registry, "sign out of all devices".
credentials_changed = Signal("credentials_changed")
# An administrator locked the identity.
identity_locked = Signal("identity_locked")
