"""The store interface, on both implementations (Redis when IDP_TEST_REDIS_URL is set)."""
import pytest


def test_set_get_delete(store):
    store.set("k", b"v", 60)
    assert store.get("k") == b"v"
    store.delete("k")
    assert store.get("k") is None


def test_add_is_first_wins(store):
    assert store.add("once", b"1", 60) is True
    assert store.add("once", b"2", 60) is False
    assert store.get("once") == b"1"


def test_pop_is_single_use(store):
    store.set("token", b"payload", 60)
    assert store.pop("token") == b"payload"
    assert store.pop("token") is None


def test_incr_counts_and_expires(store):
    assert [store.incr("n", 60) for _ in range(3)] == [1, 2, 3]
    assert 0 < store.ttl("n") <= 60
    assert store.ttl("missing") is None


def test_sets(store):
    store.sadd("s", "a", 60)
    store.sadd("s", "b", 60)
    store.srem("s", "a")
    assert store.smembers("s") == {"b"}
    assert store.smembers("none") == set()


def test_memory_store_expiry():
    from idp.store.memory import MemoryStore

    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    store.set("k", b"v", 10)
    store.sadd("s", "m", 10)
    now[0] += 11
    assert store.get("k") is None and store.smembers("s") == set()
    assert store.incr("k", 10) == 1


def test_memory_store_sweeps_keys_nothing_reads():
    """Codes, captchas and counters are often never read again: the sweep drops them (issue 10)."""
    from idp.store.memory import MemoryStore

    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0], sweep_seconds=60)
    for n in range(100):
        store.set(f"code:{n}", b"x", 10)
    store.set("session", b"s", 3600)
    store.sadd("index", "a", 3600)
    assert len(store) == 102
    now[0] += 61
    store.set("another", b"y", 10)  # a write after the sweep interval sweeps
    assert len(store) == 3
    assert store.get("session") == b"s" and store.smembers("index") == {"a"} and store.get("another") == b"y"


def test_memory_store_no_sweep_before_its_time():
    from idp.store.memory import MemoryStore

    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0], sweep_seconds=60)
    store.set("k", b"v", 1)
    now[0] += 30
    store.set("other", b"v", 1)
    assert len(store) == 2  # expired but not yet swept; reads still see it gone
    assert store.get("k") is None


def test_memory_store_sets_are_not_shared_with_callers():
    from idp.store.memory import MemoryStore

    store = MemoryStore()
    for member in ("a", "b"):
        store.sadd("s", member, 60)
    members = store.smembers("s")
    members.add("intruder")
    store.sadd("s", "c", 60)
    assert store.smembers("s") == {"a", "b", "c"} and members == {"a", "b", "intruder"}


def test_redis_unreachable_raises_store_unavailable():
    from idp.store import StoreUnavailable
    from idp.store.redis import RedisStore

    with pytest.raises(StoreUnavailable):
        RedisStore.from_url("redis://127.0.0.1:1/0").get("k")


def test_replace_only_while_present(store):
    assert store.replace("gone", b"x", 60) is False and store.get("gone") is None
    store.set("here", b"1", 60)
    assert store.replace("here", b"2", 60) is True and store.get("here") == b"2"


def test_get_many_reads_several_keys_at_once_in_order(store):
    store.set("a", b"1", 60)
    store.incr("c", 60)
    assert store.get_many("a", "b", "c") == [b"1", None, b"1"]
