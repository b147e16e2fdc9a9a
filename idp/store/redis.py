"""The Redis store: shared by every worker process, so throttling and sessions hold across them."""
from __future__ import annotations

import functools
import time

import redis

from idp.metrics import METRICS
from idp.store import StoreUnavailable


def _translate_errors(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        started = time.perf_counter()
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            METRICS.dependency_errors.labels("redis").inc()
            raise StoreUnavailable(str(e)) from e
        finally:
            METRICS.dependency.labels("redis").observe(time.perf_counter() - started)

    return wrapper


class RedisStore:
    def __init__(self, client: redis.Redis, prefix: str = "idp:"):
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    def _k(self, key: str) -> str:
        return self.prefix + key

    @_translate_errors
    def get(self, key):
        return self.client.get(self._k(key))

    @_translate_errors
    def get_many(self, *keys):
        return self.client.mget([self._k(k) for k in keys]) if keys else []

    @_translate_errors
    def set(self, key, value, ttl):
        self.client.set(self._k(key), value, ex=max(1, int(ttl)))

    @_translate_errors
    def add(self, key, value, ttl):
        return bool(self.client.set(self._k(key), value, ex=max(1, int(ttl)), nx=True))

    @_translate_errors
    def replace(self, key, value, ttl):
        return bool(self.client.set(self._k(key), value, ex=max(1, int(ttl)), xx=True))

    @_translate_errors
    def pop(self, key):
        return self.client.getdel(self._k(key))

    @_translate_errors
    def delete(self, *keys):
        if keys:
            self.client.delete(*(self._k(k) for k in keys))

    @_translate_errors
    def incr(self, key, ttl):
        pipe = self.client.pipeline()
        pipe.incr(self._k(key))
        pipe.expire(self._k(key), max(1, int(ttl)), nx=True)
        count, _ = pipe.execute()
        return int(count)

    @_translate_errors
    def ttl(self, key):
        left = self.client.ttl(self._k(key))
        return None if left < 0 else int(left)

    @_translate_errors
    def sadd(self, key, member, ttl):
        pipe = self.client.pipeline()
        pipe.sadd(self._k(key), member)
        pipe.expire(self._k(key), max(1, int(ttl)))
        pipe.execute()

    @_translate_errors
    def srem(self, key, member):
        self.client.srem(self._k(key), member)

    @_translate_errors
    def smembers(self, key):
        return {m.decode() if isinstance(m, bytes) else m for m in self.client.smembers(self._k(key))}

    @_translate_errors
    def ping(self):
        self.client.ping()

    @_translate_errors
    def flush(self):
        """Delete this store's keys only (tests share a Redis database)."""
        for key in self.client.scan_iter(match=self.prefix + "*", count=500):
            self.client.delete(key)
