"""The in-process store: for a single process (the demo, tests). Not shared between workers."""
from __future__ import annotations

import threading
import time

SWEEP_SECONDS = 60


class MemoryStore:
    """Expired keys are dropped when read, and by a sweep at most once a minute on a write: most
    keys (codes, captchas, counters) are never read again, and without the sweep a long-running
    process would keep every one of them."""

    def __init__(self, clock=time.monotonic, sweep_seconds: float = SWEEP_SECONDS):
        self._clock = clock
        self._data: dict[str, tuple[object, float]] = {}
        self._lock = threading.Lock()
        self._sweep_seconds = sweep_seconds
        self._next_sweep = clock() + sweep_seconds

    def _expires(self, ttl) -> float:
        """The expiry time of a key written now; sweeps first when one is due (lock held)."""
        now = self._clock()
        if now >= self._next_sweep:
            self._data = {key: item for key, item in self._data.items() if item[1] > now}
            self._next_sweep = now + self._sweep_seconds
        return now + ttl

    def __len__(self) -> int:
        """Keys held, expired or not (what the process's memory holds)."""
        return len(self._data)

    def _live(self, key: str):
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires <= self._clock():
            del self._data[key]
            return None
        return value

    def get(self, key):
        with self._lock:
            value = self._live(key)
            return value if isinstance(value, bytes) else None

    def get_many(self, *keys):
        with self._lock:
            return [value if isinstance(value := self._live(key), bytes) else None for key in keys]

    def set(self, key, value, ttl):
        with self._lock:
            self._data[key] = (bytes(value), self._expires(ttl))

    def add(self, key, value, ttl):
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (bytes(value), self._expires(ttl))
            return True

    def replace(self, key, value, ttl):
        with self._lock:
            if self._live(key) is None:
                return False
            self._data[key] = (bytes(value), self._expires(ttl))
            return True

    def pop(self, key):
        with self._lock:
            value = self._live(key)
            self._data.pop(key, None)
            return value if isinstance(value, bytes) else None

    def delete(self, *keys):
        with self._lock:
            for key in keys:
                self._data.pop(key, None)

    def incr(self, key, ttl):
        with self._lock:
            count = self._live(key)
            if count is None:
                self._data[key] = (b"1", self._expires(ttl))
                return 1
            count = int(count) + 1
            self._data[key] = (str(count).encode(), self._data[key][1])
            return count

    def ttl(self, key):
        with self._lock:
            if self._live(key) is None:
                return None
            return max(0, int(self._data[key][1] - self._clock()))

    def sadd(self, key, member, ttl):
        with self._lock:
            members = self._live(key)
            members = set(members) if isinstance(members, set) else set()
            members.add(member)
            self._data[key] = (members, self._expires(ttl))

    def srem(self, key, member):
        with self._lock:
            members = self._live(key)
            if isinstance(members, set):
                members.discard(member)

    def smembers(self, key):
        with self._lock:
            members = self._live(key)
            return set(members) if isinstance(members, set) else set()

    def ping(self):
        return None

    def flush(self):
        with self._lock:
            self._data.clear()
