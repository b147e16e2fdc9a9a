"""Fixtures of the identity unit tests: a controllable clock, and each store implementation."""
from __future__ import annotations

import os
import uuid

import pytest

from idp.store.memory import MemoryStore

REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "")


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def any_store(request, clock):
    """The in-process store on the fake clock, and real Redis when IDP_TEST_REDIS_URL is set."""
    if request.param == "memory":
        yield MemoryStore(clock=clock)
        return
    if not REDIS_URL:
        pytest.skip("IDP_TEST_REDIS_URL is not set")
    from idp.store.redis import RedisStore

    redis_store = RedisStore.from_url(REDIS_URL)
    redis_store.prefix = f"idp-test-{uuid.uuid4().hex}:"
    yield redis_store
    redis_store.flush()
