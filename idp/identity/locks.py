"""Where sign-in locks are kept: one lock per (account, source), `source` "*" meaning the whole
account. Two books with one interface:

- `DatabaseLocks` (the `sign_in_locks` table): for identities. A lock is security state, so it
  must survive a Redis restart (issue 8: "restarting Redis never unlocks an account"). It works
  through the caller's session, and the caller commits.
- `StoreLocks` (the ephemeral store): for names that match no identity, so that an anonymous
  stream of made-up names cannot grow the database; and for unit tests without a database.

Both also count consecutive failures per (account, source) for the hard caps. Times are floats
read against the throttle's clock; `until` None means until an administrator lifts it.
"""
from __future__ import annotations

import datetime as dt
import math
import time
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from idp.models import SignInLock
from idp.store import Store

FOREVER = math.inf
_LONG_TTL = 10 * 365 * 86400  # a store key must expire; ten years stands for "until lifted"
WHOLE = "*"  # the source of a lock on the whole account (the second factor's)


class LockBook(Protocol):
    def until(self, account_key: str, source_key: str) -> float:
        """When the lock on (account, source) ends: 0 if none, FOREVER if until lifted."""

    def lock(self, account_key: str, source_key: str, until: float) -> None: ...

    def count_failure(self, account_key: str, source_key: str) -> int:
        """One more consecutive failure; the new count."""

    def reset(self, account_key: str, source_key: str) -> None:
        """A success: forget the consecutive failures and lift that one lock."""

    def clear(self, account_key: str) -> None:
        """Lift every lock of the account and forget its counts (an administrator's unlock)."""

    def any_locked(self, account_key: str, now: float) -> bool: ...


class StoreLocks:
    def __init__(self, store: Store, clock=time.time):
        self.store = store
        self.clock = clock

    def until(self, account_key: str, source_key: str) -> float:
        raw = self.store.get(f"lock:until:{account_key}:{source_key}")
        return 0.0 if raw is None else (FOREVER if raw == b"inf" else float(raw))

    def lock(self, account_key: str, source_key: str, until: float) -> None:
        ttl = _LONG_TTL if until == FOREVER else max(1, math.ceil(until - self.clock()))
        self.store.set(f"lock:until:{account_key}:{source_key}",
                       b"inf" if until == FOREVER else repr(until).encode(), ttl)
        self.store.sadd(f"lock:sources:{account_key}", source_key, _LONG_TTL)

    def count_failure(self, account_key: str, source_key: str) -> int:
        self.store.sadd(f"lock:sources:{account_key}", source_key, _LONG_TTL)
        return self.store.incr(f"lock:run:{account_key}:{source_key}", _LONG_TTL)

    def reset(self, account_key: str, source_key: str) -> None:
        self.store.delete(f"lock:until:{account_key}:{source_key}", f"lock:run:{account_key}:{source_key}")

    def clear(self, account_key: str) -> None:
        for source_key in self.store.smembers(f"lock:sources:{account_key}"):
            self.reset(account_key, source_key)
        self.store.delete(f"lock:sources:{account_key}")

    def any_locked(self, account_key: str, now: float) -> bool:
        return any(self.until(account_key, source) > now
                   for source in self.store.smembers(f"lock:sources:{account_key}"))


class DatabaseLocks:
    """Through the caller's session, which commits: a request records the lock with its audit
    event, in one transaction (and SQLite sees one writer per request).

    Within one transaction a row is read once: a sign-in asks for the same (account, source) lock
    at its check and again at its success, and asks for the account's second-factor lock ("*")
    beside it, so the first read fetches both; a success whose read found no row deletes nothing.
    Writes read the row afresh, locked (`_update`); a new transaction reads afresh."""

    def __init__(self, session):
        self.session = session
        self._seen: dict[tuple[str, str], SignInLock | None] = {}
        self._seen_in = None  # the transaction `_seen` was read in

    def _row(self, account_key: str, source_key: str) -> SignInLock | None:
        transaction = self.session.get_transaction()
        if transaction is None or transaction is not self._seen_in:
            self._seen, self._seen_in = {}, None
        if (account_key, source_key) not in self._seen:
            wanted = {source_key, WHOLE}
            rows = self.session.scalars(select(SignInLock).where(SignInLock.account_key == account_key,
                                                                 SignInLock.source_key.in_(wanted))).all()
            found = {row.source_key: row for row in rows}
            for source in wanted:
                self._seen[(account_key, source)] = found.get(source)
            self._seen_in = self.session.get_transaction()
        return self._seen[(account_key, source_key)]

    def until(self, account_key: str, source_key: str) -> float:
        return _until(self._row(account_key, source_key))

    def lock(self, account_key: str, source_key: str, until: float) -> None:
        self._update(account_key, source_key, lambda row: setattr(row, "until", _moment(until)))

    def count_failure(self, account_key: str, source_key: str) -> int:
        row = self._update(account_key, source_key, lambda row: setattr(row, "failures", (row.failures or 0) + 1))
        return row.failures

    def reset(self, account_key: str, source_key: str) -> None:
        if (account_key, source_key) in self._seen and self._row(account_key, source_key) is None:
            return  # read in this transaction, and there was none
        self.session.execute(delete(SignInLock).where(SignInLock.account_key == account_key,
                                                      SignInLock.source_key == source_key))
        self._seen.pop((account_key, source_key), None)

    def clear(self, account_key: str) -> None:
        self.session.execute(delete(SignInLock).where(SignInLock.account_key == account_key))
        self._seen = {key: row for key, row in self._seen.items() if key[0] != account_key}

    def any_locked(self, account_key: str, now: float) -> bool:
        rows = self.session.scalars(select(SignInLock).where(SignInLock.account_key == account_key)).all()
        return any(_until(row) > now for row in rows)

    def _update(self, account_key: str, source_key: str, change) -> SignInLock:
        """Change the row of (account, source), made if missing; row-locked against a parallel change."""
        self._seen.pop((account_key, source_key), None)
        for _ in range(3):
            row = self.session.scalar(select(SignInLock).where(SignInLock.account_key == account_key,
                                                               SignInLock.source_key == source_key)
                                      .with_for_update())
            if row is not None:
                change(row)
                row.updated_at = dt.datetime.now(dt.UTC)
                self.session.flush()
                return row
            try:
                with self.session.begin_nested():
                    row = SignInLock(account_key=account_key, source_key=source_key, failures=0, until=None)
                    change(row)
                    self.session.add(row)
                return row
            except IntegrityError:  # made by a parallel request in between: change that one
                continue
        raise RuntimeError("sign-in lock row could not be written")


# A row's `until` is None both when there is no lock yet (only a count) and for "until lifted":
# the latter is stored as this far-future moment instead, so the two stay apart.
_FOREVER_AT = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def _moment(until: float) -> dt.datetime:
    if until == FOREVER:
        return _FOREVER_AT
    return dt.datetime.fromtimestamp(until, dt.UTC)


def _until(row: SignInLock | None) -> float:
    if row is None or row.until is None:
        return 0.0
    until = row.until if row.until.tzinfo else row.until.replace(tzinfo=dt.UTC)
    return FOREVER if until >= _FOREVER_AT else until.timestamp()
