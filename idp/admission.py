"""Load shedding: a bounded number of password hashings in flight per worker process.

argon2id is the IdP's one expensive operation (19 MiB and a few tens of milliseconds of CPU a
time, OWASP Password Storage Cheat Sheet). Under a burst, queueing those requests only makes
every one of them late — the clients give up while the server still computes their answers —
and a gthread worker's every thread ends up hashing, so probes and JWKS wait too. Instead, a
worker hashes at most `limit` passwords at once and refuses the next one immediately with 503
and Retry-After, before any work is done for it; with the limit below the worker's threads,
threads stay free for everything else.
"""
from __future__ import annotations

import contextlib
import threading

from idp.errors import ServiceUnavailable


class Overloaded(ServiceUnavailable):
    """Too many password checks are in flight; retry shortly."""

    def __init__(self, retry_after: int):
        super().__init__("password verifications are all busy")
        self.retry_after = retry_after


class Gate:
    """At most `limit` holders at once; 0 means no limit."""

    def __init__(self, limit: int, retry_after: int = 2):
        self.limit = limit
        self.retry_after = retry_after
        self._slots = threading.BoundedSemaphore(limit) if limit else None

    def try_enter(self) -> bool:
        """Take a slot without waiting; False when all are taken."""
        return self._slots is None or self._slots.acquire(blocking=False)

    def leave(self) -> None:
        if self._slots is not None:
            self._slots.release()

    @contextlib.contextmanager
    def admitted(self):
        """Hold a slot for the duration of the block, or raise Overloaded at once."""
        if not self.try_enter():
            raise Overloaded(self.retry_after)
        try:
            yield
        finally:
            self.leave()
